#!/usr/bin/env bash
# The standard whole-pipeline measurement of issue 17 on a GPU machine, in one call, once
# scripts/gpu_bench_setup.sh has installed the wheels and weights (/tmp/site, /tmp/mh):
#
#   bash scripts/gpu_bench_run.sh CLIP OUTDIR [N]
#
# writes OUTDIR/warm1.jsonl (one warm worker, 3 videos: the first cold), OUTDIR/warmN.jsonl
# (N videos, default 20, through 3 warm workers) and OUTDIR/pp.jsonl (one process per
# video, 3 at once), each ending with its summary line. About 9 minutes on one H200, each
# run capped so the three fit in one 10-minute call.
# Carried paths live only for the call that names them: copy the clip first.
set -uo pipefail
clip=${1:?clip}
out=${2:?output folder}
n=${3:-20}
export PYTHONPATH=/tmp/site:$PWD YOLO_OFFLINE=1 YOLO_CONFIG_DIR=/tmp/yolo PYTHONUNBUFFERED=1
mkdir -p "$out" /tmp/clip && cp "$clip" /tmp/clip/clip.mp4
bench=(python3 benchmarks/gpu_pipeline.py)
common=(/tmp/clip/clip.mp4 --device cuda --model-home /tmp/mh)
timeout 170 "${bench[@]}" run "${common[@]}" --n 3 --workers 1 --out "$out/warm1.jsonl" \
  >"$out/warm1.log" 2>&1
timeout 280 "${bench[@]}" run "${common[@]}" --n "$n" --workers 3 --out "$out/warm$n.jsonl" \
  >"$out/warm$n.log" 2>&1
timeout 140 "${bench[@]}" per-process "${common[@]}" --n 3 --workers 3 --out "$out/pp.jsonl" \
  >"$out/pp.log" 2>&1
grep -h '"summary"' "$out"/*.jsonl
