#!/usr/bin/env bash
# Install the shared libraries Qt (PySide6) needs at run time, on Debian/Ubuntu, and the tools
# the packaging tests use (PyInstaller needs binutils' objcopy/objdump; the desktop integration
# is checked with desktop-file-validate, update-mime-database, xdg-mime and gio), and the C compiler
# that builds the k-mer counting loop at install time (setup.py; the tests check it was built).
#
# * Does nothing (and says so) when every package is already installed.
# * Uses sudo when not root and sudo is available.
# * Never fails on a machine without apt-get/dpkg (another distribution, macOS,
#   a container with the libraries baked in): it prints what is needed instead.
set -euo pipefail

PACKAGES=(
    libgl1 libegl1 libfontconfig1 libxkbcommon0 libxkbcommon-x11-0 libdbus-1-3
    libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
    libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-xfixes0
    libglib2.0-0 xvfb xauth
    binutils desktop-file-utils shared-mime-info xdg-utils libglib2.0-bin
    gcc libc6-dev
)

if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: no dpkg/apt-get here; skipping. Qt needs the equivalents of: ${PACKAGES[*]}"
    exit 0
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg -s "$pkg" >/dev/null 2>&1; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "system-deps: all ${#PACKAGES[@]} Qt runtime packages are installed"
    exit 0
fi

echo "system-deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "system-deps: not root and no sudo; install these packages yourself: ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
