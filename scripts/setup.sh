#!/usr/bin/env bash
# The Debian packages the demo needs, installed if any is missing. Run it as root (minimal
# containers have no sudo), or as a user with sudo; with nothing missing it needs neither.
#   bash scripts/setup.sh           what `python app.py` needs
#   bash scripts/setup.sh --tests   and what the tests need too
set -euo pipefail

# A C/C++ toolchain: llama-cpp-python compiles llama.cpp from its source distribution.
# libgomp1: llama.cpp's and onnxruntime's OpenMP threads. libgl1 and libglib2.0-0: OpenCV,
# which the OCR (rapidocr) imports to read screenshots for text-only models.
packages=(build-essential libgomp1 libgl1 libglib2.0-0)
# Debian's own python3 makes virtual environments only with python3-venv; another Python
# (python.org's image, pyenv) brings its own venv module.
python=$(command -v python3 || true)
if [ -z "$python" ] || [ "$python" = /usr/bin/python3 ]; then
  packages+=(python3 python3-venv)
fi
case "${1:-}" in
  # Chromium for the browser tests (Playwright drives Debian's build), espeak-ng and sox to
  # make test speech, CJK fonts for the Chinese page, PostgreSQL for the QA store's tests.
  --tests) packages+=(chromium espeak-ng sox fonts-noto-cjk postgresql) ;;
  "") ;;
  *) echo "usage: bash scripts/setup.sh [--tests]" >&2; exit 2 ;;
esac

if ! command -v dpkg-query >/dev/null; then
  echo "Not a Debian system: install the equivalents of ${packages[*]}, then go on." >&2
  exit 0
fi
missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=(env)
elif command -v sudo >/dev/null; then
  as_root=(sudo env)
else
  echo "Missing Debian packages: ${missing[*]}. As root, run: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing Debian packages: ${missing[*]}"
"${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
