#!/usr/bin/env bash
# Installs everything cardservice needs on a fresh Debian 12 machine (run as root):
# the PC/SC stack from Debian, then a virtual environment at .venv with pinned Python packages.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

# fonts-wqy-microhei: a CJK font for rendering Chinese tickets (virtual printer, raster printing);
# libusb-1.0-0: USB printers through pyusb; curl: the README's commands and scripts/tour; chromium: the tests
# render /docs in a real browser with the network unplugged (tests/api/test_docs.py; about 120 MB to
# download, 400 MB on disk, 10 s).
apt_packages=(pcscd libpcsclite-dev vsmartcard-vpcd opensc pcsc-tools gcc python3-venv python3-dev postgresql
    fonts-wqy-microhei libusb-1.0-0 curl chromium)
missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: these need root: run 'make' as root, or: sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # pcsc-tools recommends a GTK stack we do not need; chromium's recommends (fonts, upower, ...) neither.
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

python=${PYTHON:-python3}
stamp=.venv/.installed
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$python" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ requirements.lock -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing Python packages (pinned in requirements.lock)"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -r requirements.lock
    .venv/bin/python -m pip install -q --no-deps -e .
    touch "$stamp"
fi
