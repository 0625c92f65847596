#!/usr/bin/env bash
# Sets up everything the project needs on a Debian machine: system libraries (packages.txt),
# a virtual environment in .venv and the Python packages. Safe to run again: it only installs
# what is missing.
#   bash scripts/setup.sh          app requirements
#   bash scripts/setup.sh --dev    app + test requirements (pytest, gradio_client, playwright, chromium)
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

# System libraries: open3d needs libusb/libgl/libgomp on a bare Debian; ffmpeg encodes h264 video;
# the browser tests drive Debian's chromium.
system_packages=$(grep -v '^\s*#' packages.txt | tr '\n' ' ')
[ "$dev" = 1 ] && system_packages="$system_packages chromium fonts-dejavu-core"
missing=""
for pkg in $system_packages; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "setup: missing system packages:$missing. Install them with your package manager (as root)." >&2
    exit 1
  fi
  echo "setup: installing system packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# Python environment.
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# The tested torch pair; on this machine kind pip takes both from the local wheel cache.
.venv/bin/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
.venv/bin/python -m pip install -q -r requirements.txt
if [ "$dev" = 1 ]; then
  .venv/bin/python -m pip install -q -r requirements-dev.txt
fi
echo "setup: ready (.venv)"
