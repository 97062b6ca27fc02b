#!/usr/bin/env python3
"""Disk images holding the jkvm test-guest pattern, and checks of what the guest left in them.

    mkpattern.py SIZE FILE
        Writes FILE (SIZE bytes; suffixes K, M, G = KiB, MiB, GiB; a multiple of 512) where the
        byte at offset o is  (((o >> 9) * 151) ^ (o * 7) ^ 0x5a) & 0xff.

    mkpattern.py --check FILE [--xor SECTOR COUNT]... [--zero SECTOR COUNT]...
        Exits 0 iff FILE holds the pattern everywhere except: pattern ^ 0xff in each --xor range,
        zeros in each --zero range (ranges in 512-byte sectors). Prints the first mismatch.
"""
import sys

SECTOR = 512


def pattern(off, n):
    """The pattern for bytes [off, off + n), off and n multiples of 512."""
    out = bytearray(n)
    for s in range(n // SECTOR):
        base = off + s * SECTOR
        hi = ((base >> 9) * 151) ^ 0x5A
        # (o * 7) for the 512 offsets of this sector, XOR the per-sector term.
        row = bytes((((base + i) * 7) ^ hi) & 0xFF for i in range(SECTOR))
        out[s * SECTOR:(s + 1) * SECTOR] = row
    return bytes(out)


def parse_size(text):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if text[-1].upper() in mult:
        return int(text[:-1], 0) * mult[text[-1].upper()]
    return int(text, 0)


def make(size, path):
    if size % SECTOR:
        sys.exit("mkpattern: size must be a multiple of 512")
    chunk = 1 << 20
    with open(path, "wb") as f:
        for off in range(0, size, chunk):
            f.write(pattern(off, min(chunk, size - off)))


def check(path, xors, zeros):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) % SECTOR:
        print(f"mkpattern: {path}: size {len(data)} is not a multiple of 512")
        return 1
    want = bytearray(pattern(0, len(data)))
    for s, n in xors:
        a, b = s * SECTOR, (s + n) * SECTOR
        want[a:b] = bytes(x ^ 0xFF for x in want[a:b])
    for s, n in zeros:
        want[s * SECTOR:(s + n) * SECTOR] = bytes(n * SECTOR)
    if data == bytes(want):
        print(f"mkpattern: {path}: ok ({len(data) // SECTOR} sectors, xor={xors} zero={zeros})")
        return 0
    bad = next(i for i in range(len(data)) if data[i] != want[i])
    nbad = sum(1 for s in range(len(data) // SECTOR)
               if data[s * SECTOR:(s + 1) * SECTOR] != want[s * SECTOR:(s + 1) * SECTOR])
    print(f"mkpattern: {path}: MISMATCH at byte 0x{bad:x} (sector {bad // SECTOR}): "
          f"0x{data[bad]:02x}, want 0x{want[bad]:02x}; {nbad} sectors differ")
    return 1


def main(argv):
    if len(argv) >= 2 and argv[0] == "--check":
        path, rest, xors, zeros = argv[1], argv[2:], [], []
        while rest:
            if len(rest) < 3 or rest[0] not in ("--xor", "--zero"):
                sys.exit(__doc__)
            (xors if rest[0] == "--xor" else zeros).append((int(rest[1], 0), int(rest[2], 0)))
            rest = rest[3:]
        return check(path, xors, zeros)
    if len(argv) != 2:
        sys.exit(__doc__)
    make(parse_size(argv[0]), argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
