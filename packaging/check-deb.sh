#!/usr/bin/env bash
# Install, self-test and remove the GenoCat .deb in a minimal Debian 12 root, as a workstation would.
#
#   sudo packaging/check-deb.sh [DEB]       (default: the newest dist/genocat_*_amd64.deb; `make check-deb`)
#
# In a debootstrap --variant=minbase bookworm root (no Python, no X, no fonts; ROOTFS, default
# /var/tmp/genocat-deb-root, built on first use and reused; GENOCAT_FRESH_ROOT=1 rebuilds it):
#   1. `apt-get install ./genocat_*.deb`: the package's Depends must pull in everything it needs;
#   2. `genocat --selftest` (offscreen window, temporary catalog, import, search, export, ONNX), the
#      commands on the PATH, the launcher, icon and FASTA MIME types registered;
#   3. a user's catalog is written (`genocat import`), then `apt-get remove --purge genocat` and
#      `apt-get autoremove --purge` (the dependencies it pulled in);
#   4. nothing of GenoCat is left: no /opt/genocat, no /usr/bin links, no launcher, icon or MIME type,
#      and no file outside the user's home differs from before the install; the user's catalog is kept.
# Exit 0 if every check passed, 1 if one failed. Like packaging/check-clean-root.sh it needs root,
# debootstrap and a Debian mirror (MIRROR, default http://deb.debian.org/debian); without them it
# prints "SKIP: <why>" and exits 0, or 1 when GENOCAT_REQUIRE_CHECK=1 (a release machine's setting).
# GENOCAT_REMOVE_ROOT=1 deletes the root at the end (the test suite's run leaves nothing behind).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=packaging/debian-root.sh
. "$HERE/debian-root.sh"
ROOTFS="${ROOTFS:-/var/tmp/genocat-deb-root}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
DEB="${1:-$(ls -t "$HERE"/../dist/genocat_*_amd64.deb 2>/dev/null | head -1 || true)}"

say() { echo "check-deb: $*"; }
skip() {
    if [ "${GENOCAT_REQUIRE_CHECK:-0}" = 1 ]; then echo "check-deb: FAIL: cannot run: $*" >&2; exit 1; fi
    say "SKIP: $*"; exit 0
}
failures=0
check() {  # check "what" command...: one line per check, PASS or FAIL
    local what="$1"; shift
    if "$@" >/dev/null 2>&1; then say "ok: $what"; else say "FAILED: $what" >&2; failures=$((failures + 1)); fi
}
in_root() { chroot "$ROOTFS" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive QT_QPA_PLATFORM=offscreen "$@"; }
absent() { [ ! -e "$ROOTFS$1" ] && [ ! -L "$ROOTFS$1" ]; }
present() { [ -e "$ROOTFS$1" ]; }

[ -n "$DEB" ] && [ -f "$DEB" ] || { echo "check-deb: no .deb at ${1:-dist/genocat_*_amd64.deb}; run make release" >&2; exit 1; }
DEB="$(cd "$(dirname "$DEB")" && pwd)/$(basename "$DEB")"
[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap and chroot); run it with sudo"
command -v debootstrap >/dev/null 2>&1 || skip "debootstrap is not installed (Debian: apt-get install debootstrap)"

# Never delete a root with /proc or the host's /dev still mounted in it (a run that was killed).
unmount_root() {
    local fs
    for fs in proc dev; do
        if mountpoint -q "$ROOTFS/$fs" 2>/dev/null; then umount "$ROOTFS/$fs" || umount -l "$ROOTFS/$fs"; fi
    done
}
if [ "${GENOCAT_FRESH_ROOT:-0}" = 1 ]; then unmount_root; rm -rf "$ROOTFS"; fi
if [ ! -x "$ROOTFS/usr/bin/apt-get" ]; then
    unmount_root
    say "debootstrap --variant=minbase bookworm $ROOTFS $MIRROR"
    rm -rf "$ROOTFS"
    if ! debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" > "$ROOTFS.log" 2>&1; then
        tail -5 "$ROOTFS.log"; rm -rf "$ROOTFS"
        skip "debootstrap failed (no access to $MIRROR?); log in $ROOTFS.log"
    fi
fi

mounted=()
cleanup() {
    local m
    for m in "${mounted[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
    if [ "${GENOCAT_REMOVE_ROOT:-0}" = 1 ] && ! mountpoint -q "$ROOTFS/proc" && ! mountpoint -q "$ROOTFS/dev"; then
        rm -rf "$ROOTFS" "$ROOTFS".log "$ROOTFS".*.log
    fi
}
trap cleanup EXIT
mount_proc_and_dev "$ROOTFS"

# A root reused after an interrupted run may still hold the package: start from a clean state.
if in_root dpkg -s genocat >/dev/null 2>&1; then
    in_root apt-get remove --purge -y -qq genocat > /dev/null 2>&1 || true
fi
in_root apt-get autoremove --purge -y -qq > /dev/null 2>&1 || true
if ! in_root apt-get update -qq > "$ROOTFS.apt.log" 2>&1; then
    tail -5 "$ROOTFS.apt.log"; skip "apt-get update in the root failed (no access to the mirror?)"
fi

# Every path outside the user's home and the package manager's own state and caches.
snapshot() {
    (cd "$ROOTFS" && find . -xdev \( -path ./proc -o -path ./dev -o -path ./sys -o -path ./run -o -path ./tmp \
        -o -path ./root -o -path ./var/lib/apt -o -path ./var/lib/dpkg -o -path ./var/cache -o -path ./var/log \
        -o -path ./etc/ld.so.cache \) -prune -o -print | sort)
}
before="$(mktemp)"; after="$(mktemp)"
trap 'cleanup; rm -f "$before" "$after"' EXIT
snapshot > "$before"
rm -rf "$ROOTFS/root/lab-catalog" "$ROOTFS/root/lab.faa"

cp "$DEB" "$ROOTFS/tmp/"
say "apt-get install ./$(basename "$DEB") in Debian $(cat "$ROOTFS/etc/debian_version") (minbase)"
if ! in_root sh -c "cd /tmp && apt-get install -y -q ./$(basename "$DEB")" > "$ROOTFS.install.log" 2>&1; then
    tail -20 "$ROOTFS.install.log"
    say "FAIL: apt-get install of the .deb failed (log in $ROOTFS.install.log)" >&2
    exit 1
fi
rm -f "$ROOTFS/tmp/$(basename "$DEB")"
say "installed with: $(grep -o '^Setting up [^ ]*' "$ROOTFS.install.log" | cut -d' ' -f3 | tr '\n' ' ')"

set +e
in_root genocat --selftest
code=$?
set -e
check "genocat --selftest (exit $code)" test "$code" -eq 0
check "/usr/bin/genocat and genocat-desktop on the PATH" in_root sh -c 'command -v genocat && command -v genocat-desktop'
check "genocat --help runs from the PATH" in_root genocat --help
check "launcher /usr/share/applications/genocat.desktop" present /usr/share/applications/genocat.desktop
check "icon in hicolor (scalable and 48x48)" present /usr/share/icons/hicolor/48x48/apps/genocat.png
if in_root sh -c 'command -v update-mime-database' >/dev/null; then
    check "FASTA MIME type registered (mime/globs2 has *.faa)" grep -q 'text/x-fasta:\*\.faa' "$ROOTFS/usr/share/mime/globs2"
fi
if in_root sh -c 'command -v update-desktop-database' >/dev/null; then
    check "launcher in the desktop database (mimeinfo.cache)" grep -q 'text/x-fasta=.*genocat.desktop' \
        "$ROOTFS/usr/share/applications/mimeinfo.cache"
fi
cp "$HERE/../tests/data/families_small.faa" "$ROOTFS/root/lab.faa"
check "a user's catalog is written (genocat import)" in_root genocat --catalog /root/lab-catalog import /root/lab.faa

say "apt-get remove --purge genocat; apt-get autoremove --purge"
in_root apt-get remove --purge -y -q genocat > "$ROOTFS.remove.log" 2>&1 || { tail -20 "$ROOTFS.remove.log"; exit 1; }
in_root apt-get autoremove --purge -y -q >> "$ROOTFS.remove.log" 2>&1
check "package gone (dpkg -s genocat fails)" sh -c "! chroot '$ROOTFS' dpkg -s genocat"
check "no /opt/genocat" absent /opt/genocat
check "no /usr/bin/genocat, /usr/bin/genocat-desktop" sh -c "[ ! -L '$ROOTFS/usr/bin/genocat' ] && [ ! -L '$ROOTFS/usr/bin/genocat-desktop' ]"
check "no launcher, MIME package or icons" sh -c "! ls '$ROOTFS'/usr/share/applications/genocat.desktop \
    '$ROOTFS'/usr/share/mime/packages/genocat-fasta.xml '$ROOTFS'/usr/share/icons/hicolor/*/apps/genocat.* 2>/dev/null"
if [ -f "$ROOTFS/usr/share/mime/globs2" ]; then
    check "FASTA MIME type unregistered" sh -c "! grep -q text/x-fasta '$ROOTFS/usr/share/mime/globs2'"
fi
check "the user's catalog is kept (/root/lab-catalog)" present /root/lab-catalog/sequences.lance
snapshot > "$after"
left="$(comm -13 "$before" "$after")"; gone="$(comm -23 "$before" "$after")"
check "no file added outside the user's home" test -z "$left"
check "no file of the base system removed" test -z "$gone"
[ -z "$left" ] || { say "left behind:"; echo "$left" | head -20; }
[ -z "$gone" ] || { say "removed:"; echo "$gone" | head -20; }
rm -rf "$ROOTFS/root/lab-catalog" "$ROOTFS/root/lab.faa"

if [ "$failures" -eq 0 ]; then
    say "PASS: $(basename "$DEB") installs with its dependencies, self-tests and removes cleanly on minimal Debian 12"
    exit 0
fi
say "FAIL: $failures check(s) failed" >&2
exit 1
