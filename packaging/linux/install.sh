#!/usr/bin/env bash
# Install the GenoCat bundle for the current user (no root): ~/.local by default.
#
#   packaging/linux/install.sh [BUNDLE_DIR]      from a source checkout, after `make bundle`
#   ./install.sh                                 from inside an unpacked bundle (dist/genocat/)
#
# What it does (PREFIX defaults to ~/.local; set PREFIX=... to install elsewhere):
#   * copies the one-folder bundle to      PREFIX/lib/genocat/
#   * links the commands                   PREFIX/bin/genocat, PREFIX/bin/genocat-desktop
#   * installs the launcher                PREFIX/share/applications/genocat.desktop
#   * the icons (SVG and PNG sizes)        PREFIX/share/icons/hicolor/*/apps/genocat.*
#   * the FASTA MIME types                 PREFIX/share/mime/packages/genocat-fasta.xml
#   * refreshes the desktop, MIME and icon caches when their tools exist
#     (update-desktop-database, update-mime-database, gtk-update-icon-cache), and makes GenoCat
#     the default application for FASTA files with xdg-mime (skip with GENOCAT_NO_DEFAULT=1).
# Then double-clicking a .fasta/.fa/.faa/.fna/.fasta.gz file in the file manager opens GenoCat,
# which imports it. packaging/linux/uninstall.sh (or PREFIX/lib/genocat/uninstall.sh) undoes it all.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PREFIX="${PREFIX:-$HOME/.local}"

# The bundle: the argument, the folder this script is in (inside a bundle), or the checkout's dist/.
if [ $# -ge 1 ]; then
    BUNDLE="$(cd "$1" && pwd)"
elif [ -x "$HERE/genocat-desktop" ]; then
    BUNDLE="$HERE"
else
    BUNDLE="$(cd "$HERE/../.." && pwd)/dist/genocat"
fi
if [ ! -x "$BUNDLE/genocat-desktop" ] || [ ! -x "$BUNDLE/genocat" ]; then
    echo "install: no GenoCat bundle at $BUNDLE (build it with 'make bundle', or pass its folder)" >&2
    exit 1
fi

# The desktop, MIME and icon files: next to this script (packaging/linux/ or the bundle's share/).
find_file() {
    local name="$1" dir
    for dir in "$HERE" "$HERE/share" "$BUNDLE/share" "$HERE/../../genocat_desktop/resources/icons"; do
        if [ -e "$dir/$name" ]; then echo "$dir/$name"; return 0; fi
    done
    echo "install: cannot find $name next to $HERE" >&2
    return 1
}
DESKTOP_SRC="$(find_file genocat.desktop)"
MIME_SRC="$(find_file genocat-fasta.xml)"
ICON_SVG="$(find_file genocat.svg)"
ICON_DIR="$(dirname "$ICON_SVG")"

LIBDIR="$PREFIX/lib/genocat"
BINDIR="$PREFIX/bin"
SHARE="$PREFIX/share"
case "$LIBDIR" in
    *'"'*|*'`'*|*'$'*|*'\'*) echo "install: PREFIX must not contain \" \` \$ or \\ (desktop files cannot quote them)" >&2
                             exit 1 ;;
esac

echo "install: GenoCat bundle $BUNDLE -> $LIBDIR"
mkdir -p "$PREFIX/lib" "$BINDIR" "$SHARE/applications" "$SHARE/mime/packages"
if [ "$BUNDLE" != "$LIBDIR" ]; then
    # Copy next to the old install, then swap, so a failed copy leaves the old one working.
    rm -rf "$LIBDIR.new"
    cp -a "$BUNDLE" "$LIBDIR.new"
    rm -rf "$LIBDIR"
    mv "$LIBDIR.new" "$LIBDIR"
fi
install -m 0755 "$HERE/uninstall.sh" "$LIBDIR/uninstall.sh" 2>/dev/null || true
ln -sfn "$LIBDIR/genocat" "$BINDIR/genocat"
ln -sfn "$LIBDIR/genocat-desktop" "$BINDIR/genocat-desktop"

# The launcher, with the absolute (quoted) path: ~/.local/bin is often not on a desktop session's PATH.
sed -e "s|^Exec=.*|Exec=\"$LIBDIR/genocat-desktop\" %F|" \
    -e "s|^TryExec=.*|TryExec=$LIBDIR/genocat-desktop|" \
    -e '/^# install.sh replaces/d' \
    "$DESKTOP_SRC" > "$SHARE/applications/genocat.desktop"
chmod 0644 "$SHARE/applications/genocat.desktop"
install -m 0644 "$MIME_SRC" "$SHARE/mime/packages/genocat-fasta.xml"

mkdir -p "$SHARE/icons/hicolor/scalable/apps"
install -m 0644 "$ICON_SVG" "$SHARE/icons/hicolor/scalable/apps/genocat.svg"
for png in "$ICON_DIR"/genocat-*.png; do
    size="$(basename "$png" .png)"
    size="${size#genocat-}"
    mkdir -p "$SHARE/icons/hicolor/${size}x${size}/apps"
    install -m 0644 "$png" "$SHARE/icons/hicolor/${size}x${size}/apps/genocat.png"
done

ran() { echo "install: $*"; }
if command -v update-mime-database >/dev/null 2>&1; then
    update-mime-database "$SHARE/mime" && ran "updated the MIME database ($SHARE/mime)"
else
    echo "install: update-mime-database not found (Debian: shared-mime-info); FASTA files will not be recognised"
fi
if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q "$SHARE/applications" && ran "updated the desktop database"
fi
if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$SHARE/icons/hicolor/index.theme" ]; then
    gtk-update-icon-cache -q -f -t "$SHARE/icons/hicolor" || true
fi
if [ "${GENOCAT_NO_DEFAULT:-0}" != 1 ]; then
    if command -v xdg-mime >/dev/null 2>&1; then
        xdg-mime default genocat.desktop text/x-fasta application/x-compressed-fasta \
            && ran "GenoCat is now the default application for FASTA files"
    else
        echo "install: xdg-mime not found (Debian: xdg-utils); choose GenoCat with the file manager's 'Open with'"
    fi
fi
echo "install: done. Start GenoCat from the applications menu, with 'genocat-desktop', or open a FASTA file."
case ":$PATH:" in
    *":$BINDIR:"*) ;;
    *) echo "install: note: $BINDIR is not on your PATH; add it to use 'genocat' in a terminal" ;;
esac
