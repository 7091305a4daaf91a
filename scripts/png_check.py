#!/usr/bin/env python3
"""png_check.py FILE: exit 0 when FILE is a PNG whose pixels are not all one
colour (a rendered page, not a blank one); prints what it found. Standard
library only (zlib), so CI needs no imaging package."""
import struct
import sys
import zlib


def main(path: str) -> int:
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        print(f"{path}: not a PNG")
        return 1
    pos, idat, width, height = 8, b"", 0, 0
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    # Each scanline starts with a filter byte; distinct byte values across the
    # image are a cheap, filter-independent sign of content.
    distinct = len(set(raw[1 : 1 + 4096 * 64]))
    print(f"{path}: {width}x{height}, {distinct} distinct byte values")
    return 0 if width > 0 and height > 0 and distinct > 8 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
