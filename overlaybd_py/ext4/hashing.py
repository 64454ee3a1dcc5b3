"""The hashes ext4 stores on disk: half-MD4 directory hash and extended attribute hashes.

The directory hash orders htree leaves (dir_index); e2fsck recomputes it, so it
must match the kernel's bit for bit, including the signed/unsigned treatment of
name bytes chosen by the superblock flags (spec §6.1: signed).
"""

from __future__ import annotations

import struct

_MASK = 0xFFFFFFFF
_K2 = 0o13240474631
_K3 = 0o15666365641
_DEFAULT_SEED = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476)
_HTREE_EOF_32 = 0x7FFFFFFF

# (input word index, shift) per step of the three rounds of the half-MD4 transform.
_ROUND1 = ((0, 3), (1, 7), (2, 11), (3, 19), (4, 3), (5, 7), (6, 11), (7, 19))
_ROUND2 = ((1, 3), (3, 5), (5, 9), (7, 13), (0, 3), (2, 5), (4, 9), (6, 13))
_ROUND3 = ((3, 3), (7, 9), (2, 11), (6, 15), (1, 3), (5, 9), (0, 11), (4, 15))


def _rol(x: int, s: int) -> int:
    return ((x << s) | (x >> (32 - s))) & _MASK


def _half_md4(buf: list[int], words: list[int]) -> None:
    a, b, c, d = buf
    for step, (i, s) in enumerate(_ROUND1):
        x = words[i]
        if step % 4 == 0:
            a = _rol((a + (d ^ (b & (c ^ d))) + x) & _MASK, s)
        elif step % 4 == 1:
            d = _rol((d + (c ^ (a & (b ^ c))) + x) & _MASK, s)
        elif step % 4 == 2:
            c = _rol((c + (b ^ (d & (a ^ b))) + x) & _MASK, s)
        else:
            b = _rol((b + (a ^ (c & (d ^ a))) + x) & _MASK, s)
    for step, (i, s) in enumerate(_ROUND2):
        x = words[i] + _K2
        if step % 4 == 0:
            a = _rol((a + ((b & c) + ((b ^ c) & d)) + x) & _MASK, s)
        elif step % 4 == 1:
            d = _rol((d + ((a & b) + ((a ^ b) & c)) + x) & _MASK, s)
        elif step % 4 == 2:
            c = _rol((c + ((d & a) + ((d ^ a) & b)) + x) & _MASK, s)
        else:
            b = _rol((b + ((c & d) + ((c ^ d) & a)) + x) & _MASK, s)
    for step, (i, s) in enumerate(_ROUND3):
        x = words[i] + _K3
        if step % 4 == 0:
            a = _rol((a + (b ^ c ^ d) + x) & _MASK, s)
        elif step % 4 == 1:
            d = _rol((d + (a ^ b ^ c) + x) & _MASK, s)
        elif step % 4 == 2:
            c = _rol((c + (d ^ a ^ b) + x) & _MASK, s)
        else:
            b = _rol((b + (c ^ d ^ a) + x) & _MASK, s)
    buf[0] = (buf[0] + a) & _MASK
    buf[1] = (buf[1] + b) & _MASK
    buf[2] = (buf[2] + c) & _MASK
    buf[3] = (buf[3] + d) & _MASK


def _hash_words(chunk: bytes, total_len: int, signed: bool, count: int) -> list[int]:
    """Pack name bytes into ``count`` words the way the kernel's str2hashbuf does."""
    pad = (total_len | (total_len << 8)) & _MASK
    pad = (pad | (pad << 16)) & _MASK
    words: list[int] = []
    val = pad
    for i, byte in enumerate(chunk[: count * 4]):
        if signed and byte >= 0x80:
            byte -= 0x100
        val = (byte + (val << 8)) & _MASK
        if i % 4 == 3:
            words.append(val)
            val = pad
    if len(words) < count:
        words.append(val)
    while len(words) < count:
        words.append(pad)
    return words


def seed_words(hash_seed: bytes) -> tuple[int, int, int, int]:
    """The four initial hash words: the superblock seed unless it is all zero."""
    words = struct.unpack("<4I", hash_seed)
    return words if any(words) else _DEFAULT_SEED


def dx_hash(name: bytes, seed: tuple[int, int, int, int], signed: bool = True) -> tuple[int, int]:
    """(major, minor) half-MD4 hash of a directory entry name, as htree stores it."""
    buf = list(seed)
    remaining = len(name)
    pos = 0
    while True:
        _half_md4(buf, _hash_words(name[pos : pos + 32], remaining, signed, 8))
        remaining -= 32
        pos += 32
        if remaining <= 0:
            break
    major = buf[1] & ~1 & _MASK
    if major == (_HTREE_EOF_32 << 1):
        major = (_HTREE_EOF_32 - 1) << 1
    return major, buf[2]


def xattr_entry_hash(name: bytes, value: bytes) -> int:
    """Hash of one attribute entry (name without prefix, then the value in LE words)."""
    h = 0
    for byte in name:
        h = ((h << 5) ^ (h >> 27) ^ byte) & _MASK
    if value:
        padded = value + bytes(-len(value) % 4)
        for word in struct.unpack(f"<{len(padded) // 4}I", padded):
            h = ((h << 16) ^ (h >> 16) ^ word) & _MASK
    return h


def xattr_block_hash(entry_hashes: list[int]) -> int:
    """Header hash of an attribute block: the entry hashes folded in order."""
    h = 0
    for eh in entry_hashes:
        if not eh:
            return 0
        h = ((h << 16) ^ (h >> 16) ^ eh) & _MASK
    return h
