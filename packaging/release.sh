#!/usr/bin/env bash
# Build the release downloads from the frozen bundle: a tarball and a Debian package.
#
#   packaging/release.sh [BUNDLE_DIR [OUT_DIR]]     (defaults: dist/genocat, dist; `make release`)
#
# Writes, with VERSION from pyproject.toml:
#   OUT_DIR/genocat-VERSION-linux-x86_64.tar.gz   the genocat/ folder with its install.sh (per user, no root)
#   OUT_DIR/genocat_VERSION_amd64.deb             for apt: the bundle in /opt/genocat, /usr/bin/genocat and
#                                                 /usr/bin/genocat-desktop links, the launcher, icons and
#                                                 FASTA MIME types under /usr/share; packaging/deb/ holds
#                                                 the control template and the maintainer scripts
# The .deb's Depends are the runtime packages packaging/check-clean-root.sh proved sufficient on a
# minimal Debian 12 (RUNTIME_PACKAGES there; README lists the same), plus the C library version the
# bundle's binaries need. packaging/check-deb.sh installs, self-tests and removes the .deb in such a root.
#
# Environment: PARTS ("tar deb" by default; one of them builds only that), DEB_COMPRESSION (xz, as
# dpkg-deb uses by default; gzip or none for a fast local check), MAINTAINER (the control field).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BUNDLE="$(cd "${1:-$ROOT/dist/genocat}" 2>/dev/null && pwd || true)"
OUT="${2:-$ROOT/dist}"
PARTS="${PARTS:-tar deb}"
DEB_COMPRESSION="${DEB_COMPRESSION:-xz}"
MAINTAINER="${MAINTAINER:-GenoCat Desktop developers <genocat@localhost>}"

die() { echo "release: $*" >&2; exit 1; }
WORK=""
trap '[ -z "$WORK" ] || rm -rf "$WORK"; rm -f "$OUT"/*.part' EXIT

[ -n "$BUNDLE" ] && [ -x "$BUNDLE/genocat" ] && [ -x "$BUNDLE/genocat-desktop" ] \
    || die "no bundle at ${1:-dist/genocat} (build it with 'make bundle')"
[ -x "$BUNDLE/install.sh" ] && [ -f "$BUNDLE/share/genocat.desktop" ] \
    || die "$BUNDLE lacks install.sh or share/ (build it with 'make bundle', which adds them)"
VERSION="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$ROOT/pyproject.toml" | head -1)"
[ -n "$VERSION" ] || die "no version = \"...\" in $ROOT/pyproject.toml"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

build_tarball() {
    local tarball="$OUT/genocat-$VERSION-linux-x86_64.tar.gz"
    echo "release: $tarball"
    # Owner root and sorted names: the archive does not depend on who built it or the file system order.
    # gzip -9: 0.5 % (1.2 MB) smaller than -6 on this bundle, its shared libraries compress alike at both levels.
    tar -C "$(dirname "$BUNDLE")" --transform "s|^$(basename "$BUNDLE")|genocat|" --sort=name \
        --owner=0 --group=0 --numeric-owner -cf - "$(basename "$BUNDLE")" | gzip -9 > "$tarball.part"
    mv "$tarball.part" "$tarball"
}

# The package list of packaging/check-clean-root.sh, so the two cannot drift apart.
runtime_packages() {
    sed -n 's/^RUNTIME_PACKAGES=(\(.*\))$/\1/p' "$HERE/check-clean-root.sh"
}

# The newest GLIBC_2.x symbol version any of the bundle's binaries asks for.
glibc_needed() {
    find "$BUNDLE" -type f \( -name '*.so' -o -name '*.so.*' -o -perm -u+x \) -print0 \
        | xargs -0 grep -aoh 'GLIBC_2\.[0-9]\+' 2>/dev/null | sort -u -V | tail -1 | sed 's/^GLIBC_//'
}

build_deb() {
    local deb="$OUT/genocat_${VERSION}_amd64.deb" stage pkgs glibc depends png size
    WORK="$(mktemp -d "$OUT/.deb-build.XXXXXX")"
    stage="$WORK/genocat"
    echo "release: $deb"
    mkdir -p "$stage/DEBIAN" "$stage/opt" "$stage/usr/bin" "$stage/usr/share/applications" \
        "$stage/usr/share/mime/packages" "$stage/usr/share/icons/hicolor/scalable/apps" "$stage/usr/share/doc/genocat"
    cp -a "$BUNDLE" "$stage/opt/genocat"
    # The per-user installer and its copies of the desktop files have no place in a system package.
    rm -rf "$stage/opt/genocat/install.sh" "$stage/opt/genocat/uninstall.sh" "$stage/opt/genocat/share"
    chmod -R u+rwX,go+rX,go-w "$stage/opt/genocat"
    ln -s /opt/genocat/genocat "$stage/usr/bin/genocat"
    ln -s /opt/genocat/genocat-desktop "$stage/usr/bin/genocat-desktop"

    # The launcher runs genocat-desktop from the PATH (/usr/bin), so it needs no rewriting.
    sed -e '/^# install.sh replaces/d' "$BUNDLE/share/genocat.desktop" > "$stage/usr/share/applications/genocat.desktop"
    install -m 0644 "$BUNDLE/share/genocat-fasta.xml" "$stage/usr/share/mime/packages/genocat-fasta.xml"
    install -m 0644 "$BUNDLE/share/genocat.svg" "$stage/usr/share/icons/hicolor/scalable/apps/genocat.svg"
    for png in "$BUNDLE"/share/genocat-*.png; do
        size="$(basename "$png" .png)"
        size="${size#genocat-}"
        install -D -m 0644 "$png" "$stage/usr/share/icons/hicolor/${size}x${size}/apps/genocat.png"
    done
    {
        echo "GenoCat Desktop $VERSION"
        echo
        echo "The application and the Python, Qt, Lance and ONNX Runtime components it bundles are in"
        echo "/opt/genocat; each bundled Python package's licence is in its *.dist-info folder there."
    } > "$stage/usr/share/doc/genocat/copyright"
    chmod 0644 "$stage/usr/share/applications/genocat.desktop" "$stage/usr/share/doc/genocat/copyright"

    pkgs="$(runtime_packages)"
    [ -n "$pkgs" ] || die "no RUNTIME_PACKAGES=(...) line in $HERE/check-clean-root.sh"
    glibc="$(glibc_needed)"
    depends="libc6 (>= ${glibc:-2.17})"
    for pkg in $pkgs; do depends="$depends, $pkg"; done
    size="$(du -sk --apparent-size "$stage/opt" "$stage/usr" | awk '{s += $1} END {print s}')"
    sed -e "s|@VERSION@|$VERSION|" -e "s|@MAINTAINER@|$MAINTAINER|" -e "s|@INSTALLED_SIZE@|$size|" \
        -e "s|@DEPENDS@|$depends|" "$HERE/deb/control.in" > "$stage/DEBIAN/control"
    install -m 0755 "$HERE/deb/postinst" "$HERE/deb/postrm" "$stage/DEBIAN/"
    (cd "$stage" && find opt usr -type f -print0 | sort -z | xargs -0 md5sum > DEBIAN/md5sums)
    chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"

    dpkg-deb --root-owner-group -Z"$DEB_COMPRESSION" --build "$stage" "$deb.part" >/dev/null
    mv "$deb.part" "$deb"
}

command -v dpkg-deb >/dev/null 2>&1 || case " $PARTS " in *" deb "*) die "dpkg-deb not found (Debian: apt-get install dpkg)";; esac
case " $PARTS " in *" tar "*) build_tarball;; esac
case " $PARTS " in *" deb "*) build_deb;; esac
case " $PARTS " in *" tar "*) echo "release: $(du -h "$OUT/genocat-$VERSION-linux-x86_64.tar.gz" | cut -f1) tarball";; esac
case " $PARTS " in *" deb "*) echo "release: $(du -h "$OUT/genocat_${VERSION}_amd64.deb" | cut -f1) .deb";; esac
