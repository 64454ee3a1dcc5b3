"""The one-file tar wrapper around a layer blob (spec §4).

Written exactly as upstream's ``-t`` option lays it out: a pax header named
``overlaybd.pax`` whose single record carries the payload size, a ustar header
named ``overlaybd.commit`` with size 0, the payload at byte 1536, padding to 512
and the two-block end marker. Readers follow upstream's rule: a valid ustar
header at 0 means the payload starts at 1536 with a pax header and at 512
without one (§4.2).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import FormatError
from .io import ByteSource, SliceSource, source_name

BLOCK = 512
PREFIX_SIZE = 3 * BLOCK
END_MARKER = bytes(2 * BLOCK)
PAX_NAME = b"overlaybd.pax"
MEMBER_NAME = b"overlaybd.commit"
OWNER = b"root"
FILE_MODE = 0o100644


def _octal(value: int, width: int, tail: bytes) -> bytes:
    """An octal numeric field as upstream writes it: right-aligned digits, then ``tail``."""
    return f"{value:{width - len(tail)}o}".encode() + tail


def _header(fields: dict[int, bytes]) -> bytes:
    block = bytearray(BLOCK)
    for offset, value in fields.items():
        block[offset : offset + len(value)] = value
    block[148:156] = b" " * 8
    block[148:156] = _octal(sum(block), 8, b" \0")
    return bytes(block)


def pax_record(payload_size: int) -> bytes:
    """``"<len> size=<n>\\n"`` where ``<len>`` counts the whole record, its own digits included."""
    body = f" size={payload_size}\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length += 1
    return f"{length}{body}".encode()


def prefix(payload_size: int) -> bytes:
    """The 1536 bytes that precede the payload."""
    record = pax_record(payload_size)
    pax = _header(
        {
            0: PAX_NAME,
            124: _octal(len(record), 12, b" "),
            156: b"x",
            257: b"ustar\0",
            263: b"00",
        }
    )
    member = _header(
        {
            0: MEMBER_NAME,
            100: _octal(FILE_MODE, 8, b" \0"),
            108: _octal(0, 8, b" \0"),
            116: _octal(0, 8, b" \0"),
            124: _octal(0, 12, b" "),
            136: _octal(0, 12, b" "),
            156: b"0",
            257: b"ustar\0",
            263: b"00",
            265: OWNER,
            297: OWNER,
        }
    )
    return pax + record.ljust(BLOCK, b"\0") + member


def suffix(payload_size: int) -> bytes:
    """Padding after the payload to a 512-byte boundary, then the end marker."""
    return bytes(-payload_size % BLOCK) + END_MARKER


def wrapped_size(payload_size: int) -> int:
    return PREFIX_SIZE + payload_size + len(suffix(payload_size))


@dataclass(frozen=True)
class TarPrefix:
    """Where a wrapped payload sits inside a blob."""

    offset: int
    size: int
    pax: bool


def is_tar_header(block: bytes) -> bool:
    """Upstream's test: ``ustar`` magic, version ``00`` and a valid header checksum."""
    if len(block) < BLOCK or block[257:262] != b"ustar" or block[263:265] != b"00":
        return False
    try:
        stored = int(block[148:156].strip(b" \0") or b"0", 8)
    except ValueError:
        return False
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:BLOCK])
    signed = unsigned - 2 * sum(b for b in block[:148] + block[156:BLOCK] if b >= 128)
    return stored in (unsigned, signed)


def _size_field(block: bytes, where: str) -> int:
    field = block[124:136]
    if field[0] & 0x80:
        return int.from_bytes(field[1:], "big")
    try:
        return int(field.strip(b" \0") or b"0", 8)
    except ValueError:
        raise FormatError(f"{where}: tar size field {field!r} is not octal") from None


def _pax_size(data: bytes) -> int | None:
    """The ``size`` record of a pax data block, if any."""
    pos = 0
    while pos < len(data) and data[pos] != 0:
        space = data.find(b" ", pos)
        if space < 0:
            return None
        try:
            length = int(data[pos:space])
        except ValueError:
            return None
        if length <= 0:
            return None
        key, _, value = data[space + 1 : pos + length - 1].partition(b"=")
        if key == b"size":
            try:
                return int(value)
            except ValueError:
                return None
        pos += length
    return None


def find_payload(source: ByteSource) -> TarPrefix | None:
    """Locate the wrapped payload, or None when the blob is not tar-wrapped."""
    name = source_name(source)
    head = source.pread(0, PREFIX_SIZE)
    if not is_tar_header(head[:BLOCK]):
        return None
    if head[156:157] in (b"x", b"X"):
        if len(head) < PREFIX_SIZE or not is_tar_header(head[2 * BLOCK : 3 * BLOCK]):
            raise FormatError(
                f"{name}: pax header at offset 0 is not followed by a file header at 1024"
            )
        size = _pax_size(head[BLOCK : 2 * BLOCK])
        if size is None:
            size = _size_field(head[2 * BLOCK : 3 * BLOCK], f"{name}: tar header at offset 1024")
        found = TarPrefix(PREFIX_SIZE, size, True)
    else:
        found = TarPrefix(
            BLOCK, _size_field(head[:BLOCK], f"{name}: tar header at offset 0"), False
        )
    if found.offset + found.size > source.size:
        raise FormatError(
            f"{name}: tar member of {found.size} bytes at offset {found.offset} runs past the "
            f"blob end {source.size}"
        )
    return found


def unwrap(source: ByteSource) -> ByteSource:
    """The payload of a tar-wrapped blob, or the blob itself when it is not wrapped."""
    found = find_payload(source)
    if found is None:
        return source
    return SliceSource(source, found.offset, found.size, source_name(source))
