"""Write a smaller copy of Qt's ICU data library (PySide6/Qt/lib/libicudata.so.NN) for the bundle.

    python packaging/trim_icu.py SRC_LIBICUDATA OUT_LIBICUDATA      (genocat.spec runs it at build time)

libicudata is one 31 MB table, ICU's "common data" (``icudtNN_dat``), loaded whole whenever Qt starts.
Qt calls ICU for four things only (the ICU symbols libQt6Core imports): upper/lower case
(``u_strToUpper/Lower``: built-in tables, no data items), collation (``ucol_*``: the ``coll/`` items),
time-zone ids and names (``ucal_*``: zoneinfo64, metaZones, ``zone/``, ``region/``, ``lang/`` and the
locale items) and text codecs other than UTF-8/16/32 and Latin-1 (``ucnv_*``: the ``*.cnv`` tables).
This keeps all of those except the codec tables and drops the items that only ICU APIs Qt never calls
read: break iterators and their dictionaries (``brkitr/``, ``ubrk``), transliteration (``translit/``),
rule-based number spelling (``rbnf/``), unit and currency names (``unit/``, ``curr/``). Codecs: the app
reads and writes text as UTF-8 in Python and never names a Qt codec; the algorithmic ones (UTF-*,
US-ASCII, ISO-8859-1) need no table and still work, a table codec (Shift_JIS...) reports itself invalid.

The data keeps ICU's own format (header, sorted table of contents, 16-byte-aligned items); the new
library exports the same symbol under the same SONAME (gcc assembles it with ``.incbin``).
Saves ~16 MB unpacked, ~6 MB in the tar.gz.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import tempfile

#: Item name prefixes (after "icudtNNl/") dropped, and why: see the module docstring.
DROP_TREES = ("brkitr/", "translit/", "rbnf/", "unit/", "curr/")


def _elf_symbol(data: bytes, prefix: bytes) -> tuple[bytes, int, int]:
    """Name, file offset and size of the first dynamic symbol whose name starts with ``prefix``."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise SystemExit("trim_icu: not a 64-bit little-endian ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    for sh in sections:
        if sh[1] != 11:  # SHT_DYNSYM
            continue
        strtab = sections[sh[6]]
        for off in range(sh[4], sh[4] + sh[5], 24):
            name_off, _info, _other, shndx, value, size = struct.unpack_from("<IBBHQQ", data, off)
            start = strtab[4] + name_off
            name = data[start:data.index(b"\0", start)]
            if name.startswith(prefix) and name.endswith(b"_dat") and size:
                sec = sections[shndx]
                return name, value - sec[3] + sec[4], size
    raise SystemExit(f"trim_icu: no {prefix.decode()}*_dat symbol")


def trim(common: bytes) -> tuple[bytes, int, int]:
    """The ICU common data without the dropped items; also the numbers of items kept and dropped."""
    header_size, magic1, magic2 = struct.unpack_from("<HBB", common, 0)
    if (magic1, magic2) != (0xDA, 0x27) or common[12:16] != b"CmnD":
        raise SystemExit("trim_icu: not ICU common data (CmnD)")
    toc = common[header_size:]
    count, = struct.unpack_from("<I", toc, 0)
    entries = [struct.unpack_from("<II", toc, 4 + 8 * i) for i in range(count)]
    names = [toc[n:toc.index(b"\0", n)] for n, _ in entries]
    starts = [d for _, d in entries]
    ends = [*starts[1:], len(toc)]
    kept = []
    for name, start, end in zip(names, starts, ends, strict=True):
        path = name.split(b"/", 1)[1].decode()
        dropped = path.startswith(DROP_TREES) or ("/" not in path and path.endswith(".cnv"))
        if not dropped:
            kept.append((name, toc[start:end]))
    # Layout as ICU writes it: count, (name offset, data offset) pairs, the names, then the items, each
    # aligned to 16 bytes; offsets count from the table of contents. The names stay in sorted order
    # (ICU looks them up by binary search).
    names_at = 4 + 8 * len(kept)
    name_blob = b"".join(name + b"\0" for name, _ in kept)
    pos = (names_at + len(name_blob) + 15) // 16 * 16
    out_entries, body, name_pos = [], bytearray(), names_at
    for name, item in kept:
        out_entries.append((name_pos, pos + len(body)))
        name_pos += len(name) + 1
        body += item
        body += b"\0" * (-len(body) % 16)
    new_toc = struct.pack("<I", len(kept)) + b"".join(struct.pack("<II", *e) for e in out_entries) + name_blob
    new_toc += b"\0" * (pos - len(new_toc))
    return common[:header_size] + new_toc + bytes(body), len(kept), count - len(kept)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    src, out = argv[1], argv[2]
    with open(src, "rb") as f:
        data = f.read()
    symbol, offset, size = _elf_symbol(data, b"icudt")
    soname = os.path.basename(src)
    trimmed, kept, dropped = trim(data[offset:offset + size])
    with tempfile.TemporaryDirectory() as tmp:
        dat, asm = os.path.join(tmp, "icu.dat"), os.path.join(tmp, "icu.S")
        with open(dat, "wb") as f:
            f.write(trimmed)
        sym = symbol.decode()
        with open(asm, "w") as f:
            f.write(f'\t.section .rodata\n\t.globl {sym}\n\t.type {sym}, @object\n\t.balign 16\n{sym}:\n'
                    f'\t.incbin "{dat}"\n\t.size {sym}, .-{sym}\n\t.section .note.GNU-stack,"",@progbits\n')
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        subprocess.run(["gcc", "-shared", "-nostdlib", "-Wl,-s", f"-Wl,-soname,{soname}", "-Wl,-z,noexecstack",
                        "-o", out, asm], check=True)
    print(f"trim_icu: {soname} {size / 2**20:.1f} MB -> {os.path.getsize(out) / 2**20:.1f} MB "
          f"({kept} items kept, {dropped} dropped)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
