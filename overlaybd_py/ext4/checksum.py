"""Group descriptor checksums of the ``gdt_csum`` (uninit_bg) feature.

Without ``metadata_csum``, ext4 protects each group descriptor with a CRC-16
(the reflected 0x8005 polynomial, register started at 0xFFFF, no final xor)
over the filesystem UUID, the group number as a little-endian u32, and the
descriptor bytes with the two checksum bytes themselves left out. The kernel
refuses to mount, and e2fsck reports, a group whose checksum does not match.
"""

from __future__ import annotations

import struct

_POLY_REFLECTED = 0xA001
CHECKSUM_OFFSET = 0x1E  # bg_checksum inside the descriptor
CHECKSUM_SIZE = 2


def _table() -> tuple[int, ...]:
    rows = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY_REFLECTED if crc & 1 else crc >> 1
        rows.append(crc)
    return tuple(rows)


_TABLE = _table()


def crc16(crc: int, data: bytes | bytearray | memoryview) -> int:
    """Continue the CRC-16 register ``crc`` over ``data``."""
    table = _TABLE
    for byte in bytes(data):
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def uuid_seed(uuid: bytes) -> int:
    """The register after the UUID, shared by every group of one filesystem."""
    return crc16(0xFFFF, uuid)


def group_desc_checksum(seed: int, group: int, desc: bytes | bytearray) -> int:
    """``bg_checksum`` of group ``group`` whose packed descriptor is ``desc`` (32 or 64 bytes)."""
    crc = crc16(seed, struct.pack("<I", group))
    crc = crc16(crc, desc[:CHECKSUM_OFFSET])
    return crc16(crc, desc[CHECKSUM_OFFSET + CHECKSUM_SIZE :])
