#!/usr/bin/env bash
# Remove what install.sh installed for the current user (PREFIX defaults to ~/.local, as there).
# Catalogs and settings are kept: ~/.local/share/GenoCat (catalogs) and ~/.config/GenoCat (settings)
# belong to the user; delete them by hand to remove every trace.
set -euo pipefail

PREFIX="${PREFIX:-$HOME/.local}"
LIBDIR="$PREFIX/lib/genocat"
SHARE="$PREFIX/share"

for link in "$PREFIX/bin/genocat" "$PREFIX/bin/genocat-desktop"; do
    # Only our links: a genocat installed another way (pip, make venv) is left alone.
    if [ -L "$link" ] && [ "$(readlink "$link")" = "$LIBDIR/$(basename "$link")" ]; then
        rm -f "$link"
    fi
done
rm -f "$SHARE/applications/genocat.desktop" "$SHARE/mime/packages/genocat-fasta.xml"
rm -f "$SHARE/icons/hicolor/scalable/apps/genocat.svg" "$SHARE"/icons/hicolor/*x*/apps/genocat.png

# The default-application entries xdg-mime wrote (lines "type=genocat.desktop;" in mimeapps.list).
MIMEAPPS="${XDG_CONFIG_HOME:-$HOME/.config}/mimeapps.list"
if [ -f "$MIMEAPPS" ]; then
    sed -i -e '/^text\/x-fasta=genocat\.desktop;*$/d' -e '/^application\/x-compressed-fasta=genocat\.desktop;*$/d' \
        "$MIMEAPPS"
fi

if command -v update-mime-database >/dev/null 2>&1 && [ -d "$SHARE/mime" ]; then
    update-mime-database "$SHARE/mime"
fi
if command -v update-desktop-database >/dev/null 2>&1 && [ -d "$SHARE/applications" ]; then
    update-desktop-database -q "$SHARE/applications"
fi
if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$SHARE/icons/hicolor/index.theme" ]; then
    gtk-update-icon-cache -q -f -t "$SHARE/icons/hicolor" || true
fi
# Last, the bundle itself (this script may run from inside it: bash keeps reading its open file).
rm -rf "$LIBDIR" "$LIBDIR.new"
echo "uninstall: removed GenoCat from $PREFIX (catalogs in ~/.local/share/GenoCat and settings kept)"
