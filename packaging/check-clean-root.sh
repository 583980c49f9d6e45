#!/usr/bin/env bash
# Check that the frozen bundle runs on a clean Debian 12 workstation with only the documented packages.
#
#   sudo packaging/check-clean-root.sh [BUNDLE_DIR]        (default: dist/genocat, after `make bundle`)
#
# It builds a minimal Debian 12 (bookworm) root with debootstrap (--variant=minbase: no Python, no X,
# no fonts), installs only RUNTIME_PACKAGES below (what README tells users to install), copies the
# bundle to /opt/genocat inside it and runs `genocat --selftest` there (offscreen window, temporary
# catalog, import, search, export, ONNX). Exit 0 if the self-test passed, 1 if it did not.
#
# It needs root (debootstrap, chroot, mounting /proc), debootstrap itself (Debian: apt-get install
# debootstrap) and access to a Debian mirror (MIRROR, default http://deb.debian.org/debian). Without
# any of these it prints "SKIP: <why>" and exits 0: it is a check for a release machine, not a CI gate.
# The root is kept in ROOTFS (default /var/tmp/genocat-bookworm-root) and reused by the next run;
# delete it to start from scratch (GENOCAT_FRESH_ROOT=1 does that first).
set -euo pipefail

# The system packages a clean workstation needs for the frozen app (keep README.md in step).
RUNTIME_PACKAGES=(libgl1 libegl1 libxcb1 fontconfig-config fonts-dejavu-core)

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=packaging/debian-root.sh
. "$HERE/debian-root.sh"
BUNDLE="$(cd "${1:-$HERE/../dist/genocat}" 2>/dev/null && pwd || true)"
ROOTFS="${ROOTFS:-/var/tmp/genocat-bookworm-root}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

skip() { echo "check-clean-root: SKIP: $*"; exit 0; }

[ -n "$BUNDLE" ] && [ -x "$BUNDLE/genocat" ] || { echo "check-clean-root: no bundle at ${1:-dist/genocat}; run make bundle" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap and chroot); run it with sudo"
command -v debootstrap >/dev/null 2>&1 || skip "debootstrap is not installed (Debian: apt-get install debootstrap)"
command -v chroot >/dev/null 2>&1 || skip "chroot is not available"

if [ "${GENOCAT_FRESH_ROOT:-0}" = 1 ]; then rm -rf "$ROOTFS"; fi
if [ ! -x "$ROOTFS/usr/bin/apt-get" ]; then
    echo "check-clean-root: debootstrap --variant=minbase bookworm $ROOTFS $MIRROR (a few minutes)"
    rm -rf "$ROOTFS"
    if ! debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" > "$ROOTFS.log" 2>&1; then
        tail -5 "$ROOTFS.log"
        rm -rf "$ROOTFS"
        skip "debootstrap failed (no access to $MIRROR?); log in $ROOTFS.log"
    fi
fi

mounted=()
cleanup() {
    local m
    for m in "${mounted[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
}
trap cleanup EXIT
mount_proc_and_dev "$ROOTFS"

echo "check-clean-root: apt-get install ${RUNTIME_PACKAGES[*]}"
if ! chroot "$ROOTFS" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends ${RUNTIME_PACKAGES[*]}" \
        > "$ROOTFS.apt.log" 2>&1; then
    tail -5 "$ROOTFS.apt.log"
    skip "apt-get in the root failed (no access to the mirror?); log in $ROOTFS.apt.log"
fi

if chroot "$ROOTFS" sh -c 'command -v python3 || command -v python' >/dev/null 2>&1; then
    echo "check-clean-root: note: the root has a Python; the bundle does not use it"
fi
echo "check-clean-root: copying $BUNDLE to $ROOTFS/opt/genocat"
rm -rf "$ROOTFS/opt/genocat"
mkdir -p "$ROOTFS/opt"
cp -a "$BUNDLE" "$ROOTFS/opt/genocat"

echo "check-clean-root: Debian $(cat "$ROOTFS/etc/debian_version"), glibc $(chroot "$ROOTFS" ldd --version | head -1 | awk '{print $NF}'); running the self-test"
set +e
chroot "$ROOTFS" env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen \
    /opt/genocat/genocat --selftest
code=$?
set -e
if [ "$code" -eq 0 ]; then
    echo "check-clean-root: PASS: the bundle runs on minimal Debian 12 with: ${RUNTIME_PACKAGES[*]}"
else
    echo "check-clean-root: FAIL: genocat --selftest exited $code in the clean root" >&2
fi
exit "$code"
