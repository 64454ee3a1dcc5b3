"""Block-mapped (ext2/ext3 style, non-extent) files: ``i_block`` as direct and indirect pointers.

Twelve direct pointers, then one single-, one double- and one triple-indirect
block of little-endian u32 pointers; a zero pointer is a hole. We only read
these maps (and free them when a lower-layer inode goes); everything we write
uses extents.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from ..errors import FormatError
from .extents import Extent

DIRECT_POINTERS = 12
_INDIRECT_SLOTS = ((12, 1), (13, 2), (14, 3))  # (i_block slot, levels of indirection)


def map_block_pointers(
    i_block: bytes,
    read_block: Callable[[int], bytes],
    block_size: int,
    blocks_count: int,
    size: int,
    where: str,
) -> tuple[list[Extent], list[int]]:
    """Data extents (consecutive pointers merged) and the indirect blocks of a file.

    Only logical blocks below the file size are followed, so the walk is bounded
    by the file, not by whatever the pointer blocks contain.
    """
    per_block = block_size // 4
    limit = -(-size // block_size)
    extents: list[Extent] = []
    meta: list[int] = []
    unpack_block = struct.Struct(f"<{per_block}I").unpack

    def check(pointer: int, logical: int) -> None:
        if pointer >= blocks_count:
            raise FormatError(
                f"{where}: block pointer {pointer} for logical block {logical} is beyond "
                f"the {blocks_count}-block filesystem"
            )

    def add(logical: int, physical: int) -> None:
        if extents:
            last = extents[-1]
            if last.logical + last.length == logical and last.physical + last.length == physical:
                extents[-1] = Extent(last.logical, last.physical, last.length + 1)
                return
        extents.append(Extent(logical, physical, 1))

    def walk(pointer: int, levels: int, logical: int) -> None:
        check(pointer, logical)
        if levels == 0:
            add(logical, pointer)
            return
        meta.append(pointer)
        span = per_block ** (levels - 1)
        for index, child in enumerate(unpack_block(read_block(pointer))):
            at = logical + index * span
            if at >= limit:
                break
            if child:
                walk(child, levels - 1, at)

    words = struct.unpack_from("<15I", i_block)
    for index in range(DIRECT_POINTERS):
        if index < limit and words[index]:
            walk(words[index], 0, index)
    first = DIRECT_POINTERS
    for slot, levels in _INDIRECT_SLOTS:
        if first >= limit:
            break
        if words[slot]:
            walk(words[slot], levels, first)
        first += per_block**levels
    return extents, meta
