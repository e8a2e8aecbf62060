#!/usr/bin/env bash
# Installs the system packages the pipeline and its tests need when they are missing:
# ffmpeg, espeak-ng; with --test also chromium (the browser test of the Dagster UI drives
# Debian's chromium through Playwright). Debian/Ubuntu (apt-get); says what to do elsewhere.
set -euo pipefail
need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
if [[ ${1:-} == --test ]]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-liberation)
fi
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Missing system packages: ${need[*]}. Install them with your package manager." >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "Installing system packages: ${need[*]}"
# another install holding the package manager's lock is waited for (up to 10 minutes),
# not a reason to fail
lock=(-o DPkg::Lock::Timeout=600)
$sudo apt-get "${lock[@]}" update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get "${lock[@]}" install -y -qq --no-install-recommends \
  "${need[@]}" >/dev/null
