#!/usr/bin/env bash
# The standard whole-pipeline measurement of issue 17 on a GPU machine, once
# scripts/gpu_bench_setup.sh has installed the wheels and weights (/tmp/site, /tmp/mh).
# Two calls of under 10 minutes each:
#
#   bash scripts/gpu_bench_run.sh CLIP OUTDIR latency     # one warm worker, 3 videos (the
#       first cold): per stage and per analyzer times; then one process per video, as many
#       at once as the pipeline's plan runs warm workers
#   bash scripts/gpu_bench_run.sh CLIP OUTDIR throughput  # N videos (default 32) through
#       the pipeline's plan for this host (leases per GPU and warm workers from
#       resources.lease / resources.machine), then through half as many
#   bash scripts/gpu_bench_run.sh CLIP OUTDIR steady 56   # N videos through the plan only,
#       enough for each warm worker to run several (the steady state, up to ~9 minutes)
#   bash scripts/gpu_bench_run.sh CLIP OUTDIR warm        # the one-warm-worker part of latency
#   bash scripts/gpu_bench_run.sh CLIP OUTDIR profile     # one warm process: stage1 and
#       stage4 taken apart (benchmarks/gpu_stage_profile.py: threads, CUDA streams, the
#       GIL switch interval, openai-whisper's phases), about 5 minutes
#
# Each run appends JSON lines to OUTDIR/<name>.jsonl, ending with its summary line.
# Carried paths live only for the call that names them: the clip is copied first.
set -uo pipefail
clip=${1:?clip}
out=${2:?output folder}
what=${3:-latency}
n=${4:-32}
export PYTHONPATH=/tmp/site:$PWD YOLO_OFFLINE=1 YOLO_CONFIG_DIR=/tmp/yolo PYTHONUNBUFFERED=1
mkdir -p "$out" /tmp/clip && cp "$clip" /tmp/clip/clip.mp4
bench=(python3 benchmarks/gpu_pipeline.py)
common=(/tmp/clip/clip.mp4 --device cuda --model-home /tmp/mh)
plan=$(python3 -c 'from resources.lease import leases_per_device as l
from resources.machine import machine_plan as m
k = l(["cuda:0"]); print(k, m(gpu_slots=k).runs)')
read -r leases workers <<<"$plan"
echo "plan for this host: $leases stage leases on the GPU, $workers warm workers"
case "$what" in
  latency|warm)
    timeout 170 "${bench[@]}" run "${common[@]}" --n 3 --workers 1 --leases 1 \
      --out "$out/warm1.jsonl" >"$out/warm1.log" 2>&1
    [ "$what" = warm ] && { grep -h '"summary"' "$out"/*.jsonl; exit 0; }
    timeout 400 "${bench[@]}" per-process "${common[@]}" --n "$workers" --workers "$workers" \
      --leases "$leases" --out "$out/pp.jsonl" >"$out/pp.log" 2>&1
    ;;
  throughput)
    timeout 330 "${bench[@]}" run "${common[@]}" --n "$n" --workers "$workers" \
      --leases "$leases" --out "$out/plan.jsonl" >"$out/plan.log" 2>&1
    half=$(( leases > 1 ? leases / 2 : 1 ))
    timeout 230 "${bench[@]}" run "${common[@]}" --n $(( n / 2 )) --workers $(( 2 * half )) \
      --leases "$half" --out "$out/half.jsonl" >"$out/half.log" 2>&1
    ;;
  steady)
    timeout 560 "${bench[@]}" run "${common[@]}" --n "$n" --workers "$workers" \
      --leases "$leases" --out "$out/steady.jsonl" >"$out/steady.log" 2>&1
    ;;
  profile)
    timeout 400 python3 benchmarks/gpu_stage_profile.py /tmp/clip/clip.mp4 --model-home /tmp/mh \
      --repeat 3 --out "$out/profile.json" >"$out/profile.log" 2>&1
    grep -E "^(as_pipeline|cudnn|stream|switch|torch|transcript)" "$out/profile.log"
    ;;
  *) echo "usage: $0 CLIP OUTDIR latency|warm|throughput|steady|profile [N]" >&2; exit 2 ;;
esac
grep -h '"summary"' "$out"/*.jsonl 2>/dev/null || true
