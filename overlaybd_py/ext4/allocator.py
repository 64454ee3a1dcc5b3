"""Block and inode allocation over the group bitmaps, keeping every free count exact.

Allocation is next-fit from the last allocated position, like upstream's libext2fs
fork (spec §6.1), which also lays a streamed file out in as few extents as the
free space allows. Bitmap blocks are pinned in the block cache while writable and
scanned with C-speed regular expressions rather than per-bit Python loops.

With ``gdt_csum`` (uninit_bg, the legacy base layer of spec §6.3) a group may
say its bitmaps were never written: its block bitmap is then computed from the
metadata that lies in the group, its inode bitmap is all free, and the flag is
cleared once the group is first changed. ``bg_itable_unused`` follows the
highest inode ever used in the group, as the kernel and libext2fs keep it.
"""

from __future__ import annotations

import re

from ..errors import ConversionError, FormatError
from .blockcache import BlockCache
from .constants import BG_BLOCK_UNINIT, BG_INODE_UNINIT, BG_INODE_ZEROED
from .geometry import Geometry
from .records import GroupDesc, Superblock

_HAS_FREE = re.compile(b"[^\xff]")
_HAS_USED = re.compile(b"[^\x00]")


def _lowest_zero(byte: int) -> int:
    return ((~byte & (byte + 1)) & 0xFF).bit_length() - 1


def _lowest_one(byte: int) -> int:
    return (byte & -byte).bit_length() - 1


def find_free(bitmap: bytearray, start: int, limit: int) -> int:
    """First clear bit at or after ``start`` and below ``limit``, or -1."""
    if start >= limit:
        return -1
    index = start >> 3
    byte = bitmap[index] | ((1 << (start & 7)) - 1)
    if byte != 0xFF:
        bit = index * 8 + _lowest_zero(byte)
        return bit if bit < limit else -1
    match = _HAS_FREE.search(bitmap, index + 1, (limit + 7) >> 3)
    if match is None:
        return -1
    bit = match.start() * 8 + _lowest_zero(bitmap[match.start()])
    return bit if bit < limit else -1


def find_used(bitmap: bytearray, start: int, limit: int) -> int:
    """First set bit at or after ``start``, or ``limit`` if there is none below it."""
    if start >= limit:
        return limit
    index = start >> 3
    byte = bitmap[index] & ~((1 << (start & 7)) - 1) & 0xFF
    if byte:
        return min(index * 8 + _lowest_one(byte), limit)
    match = _HAS_USED.search(bitmap, index + 1, (limit + 7) >> 3)
    if match is None:
        return limit
    return min(match.start() * 8 + _lowest_one(bitmap[match.start()]), limit)


def set_bits(bitmap: bytearray, start: int, end: int, value: bool) -> None:
    """Set or clear bits ``[start, end)``."""
    while start < end and start & 7:
        _set_bit(bitmap, start, value)
        start += 1
    full_end = end & ~7
    if start < full_end:
        bitmap[start >> 3 : full_end >> 3] = (b"\xff" if value else b"\0") * (
            (full_end - start) >> 3
        )
        start = full_end
    while start < end:
        _set_bit(bitmap, start, value)
        start += 1


def _set_bit(bitmap: bytearray, bit: int, value: bool) -> None:
    if value:
        bitmap[bit >> 3] |= 1 << (bit & 7)
    else:
        bitmap[bit >> 3] &= ~(1 << (bit & 7)) & 0xFF


def count_used(bitmap: bytes | bytearray, bits: int) -> int:
    """Number of set bits among the first ``bits``."""
    return int.from_bytes(bytes(bitmap[: bits >> 3]), "little").bit_count() + bin(
        bitmap[bits >> 3] & ((1 << (bits & 7)) - 1) if bits & 7 else 0
    ).count("1")


def desc_block_bitmap(d: GroupDesc) -> int:
    return int(d.bg_block_bitmap_lo | (d.bg_block_bitmap_hi << 32))


def desc_inode_bitmap(d: GroupDesc) -> int:
    return int(d.bg_inode_bitmap_lo | (d.bg_inode_bitmap_hi << 32))


def desc_inode_table(d: GroupDesc) -> int:
    return int(d.bg_inode_table_lo | (d.bg_inode_table_hi << 32))


def desc_free_blocks(d: GroupDesc) -> int:
    return int(d.bg_free_blocks_count_lo | (d.bg_free_blocks_count_hi << 16))


def desc_free_inodes(d: GroupDesc) -> int:
    return int(d.bg_free_inodes_count_lo | (d.bg_free_inodes_count_hi << 16))


def desc_used_dirs(d: GroupDesc) -> int:
    return int(d.bg_used_dirs_count_lo | (d.bg_used_dirs_count_hi << 16))


def _add_free_blocks(d: GroupDesc, delta: int) -> None:
    value = desc_free_blocks(d) + delta
    d.bg_free_blocks_count_lo, d.bg_free_blocks_count_hi = value & 0xFFFF, value >> 16


def _add_free_inodes(d: GroupDesc, delta: int) -> None:
    value = desc_free_inodes(d) + delta
    d.bg_free_inodes_count_lo, d.bg_free_inodes_count_hi = value & 0xFFFF, value >> 16


def _add_used_dirs(d: GroupDesc, delta: int) -> None:
    value = desc_used_dirs(d) + delta
    d.bg_used_dirs_count_lo, d.bg_used_dirs_count_hi = value & 0xFFFF, value >> 16


def desc_itable_unused(d: GroupDesc) -> int:
    return int(d.bg_itable_unused_lo | (d.bg_itable_unused_hi << 16))


def _set_itable_unused(d: GroupDesc, value: int) -> None:
    d.bg_itable_unused_lo, d.bg_itable_unused_hi = value & 0xFFFF, value >> 16


def group_metadata(geo: Geometry, descs: list[GroupDesc]) -> dict[int, list[tuple[int, int]]]:
    """Per group, the ``[start, end)`` block runs of every group's bitmaps and inode table in it.

    With flex_bg these runs sit in the first group of each flex group, not in
    the group they describe.
    """
    runs: dict[int, list[tuple[int, int]]] = {}
    itable = geo.inode_table_blocks
    for desc in descs:
        for start, length in (
            (desc_block_bitmap(desc), 1),
            (desc_inode_bitmap(desc), 1),
            (desc_inode_table(desc), itable),
        ):
            end = start + length
            while start < end:
                group = geo.group_of_block(start)
                stop = min(end, geo.group_first_block(group) + geo.group_block_count(group))
                runs.setdefault(group, []).append((start, stop))
                start = stop
    return runs


class Allocator:
    """Allocates and frees blocks and inodes, updating bitmaps, descriptors and superblock."""

    def __init__(
        self,
        geometry: Geometry,
        sb: Superblock,
        descs: list[GroupDesc],
        cache: BlockCache,
        uninit_flags: bool = False,
    ) -> None:
        self.geo = geometry
        self.sb = sb
        self.descs = descs
        self.cache = cache
        self.dirty_groups: set[int] = set()
        self._block_cursor = 0
        self._inode_cursor = 0
        self.uninit_flags = uninit_flags
        self._metadata: dict[int, list[tuple[int, int]]] | None = None

    # --- bitmaps ---------------------------------------------------------------------
    def _flagged(self, group: int, flag: int) -> bool:
        return self.uninit_flags and bool(self.descs[group].bg_flags & flag)

    def block_bitmap(self, group: int) -> bytearray:
        """The group's block bitmap as allocation sees it (computed if uninitialised)."""
        block = desc_block_bitmap(self.descs[group])
        if self._flagged(group, BG_BLOCK_UNINIT) and self.cache.peek(block) is None:
            self.cache.install(block, self._uninit_block_bitmap(group), pin=True)
        return self.cache.get(block, pin=True)

    def _uninit_block_bitmap(self, group: int) -> bytearray:
        """What an uninitialised block bitmap stands for: the group's own metadata in use."""
        geo = self.geo
        if self._metadata is None:
            self._metadata = group_metadata(geo, self.descs)
        bitmap = bytearray(geo.block_size)
        first = geo.group_first_block(group)
        set_bits(bitmap, 0, geo.super_overhead(group), True)
        for start, end in self._metadata.get(group, ()):
            set_bits(bitmap, start - first, end - first, True)
        set_bits(bitmap, geo.group_block_count(group), geo.block_size * 8, True)
        return bitmap

    def _block_bitmap_changed(self, group: int) -> None:
        desc = self.descs[group]
        self.cache.mark_dirty(desc_block_bitmap(desc))
        if self._flagged(group, BG_BLOCK_UNINIT):
            desc.bg_flags &= ~BG_BLOCK_UNINIT
            self.dirty_groups.add(group)

    def _inode_bitmap(self, group: int) -> bytearray:
        block = desc_inode_bitmap(self.descs[group])
        if self._flagged(group, BG_INODE_UNINIT) and self.cache.peek(block) is None:
            bitmap = bytearray(self.geo.block_size)  # all free, the padding bits set
            set_bits(bitmap, self.geo.inodes_per_group, self.geo.block_size * 8, True)
            self.cache.install(block, bitmap, pin=True)
        return self.cache.get(block, pin=True)

    # --- blocks ------------------------------------------------------------------------
    def alloc_blocks(self, count: int) -> list[tuple[int, int]]:
        """Allocate ``count`` blocks as few ``(start, length)`` runs as next-fit finds."""
        runs: list[tuple[int, int]] = []
        if count <= 0:
            return runs
        geo = self.geo
        cursor = self._block_cursor if self._block_cursor < geo.blocks_count else 0
        group = geo.group_of_block(cursor)
        visited = 0
        while count and visited <= geo.group_count:
            desc = self.descs[group]
            if desc_free_blocks(desc):
                first = geo.group_first_block(group)
                limit = geo.group_block_count(group)
                bitmap = self.block_bitmap(group)
                bit = max(cursor - first, 0) if geo.group_of_block(cursor) == group else 0
                taken = 0
                while count:
                    start = find_free(bitmap, bit, limit)
                    if start < 0:
                        break
                    end = min(find_used(bitmap, start, limit), start + count)
                    set_bits(bitmap, start, end, True)
                    runs.append((first + start, end - start))
                    count -= end - start
                    taken += end - start
                    bit = end
                if taken:
                    self._take_blocks(group, taken)
                    self._block_bitmap_changed(group)
                cursor = first + bit
            group = (group + 1) % geo.group_count
            if group == 0:
                cursor = 0
            visited += 1
        if count:
            self.free_runs(runs)
            raise ConversionError(
                f"ext4 is full: {count} more blocks needed, {self.sb.free_blocks_count} free"
            )
        last_start, last_len = runs[-1]
        self._block_cursor = last_start + last_len
        return _merge_runs(runs)

    def _take_blocks(self, group: int, n: int) -> None:
        _add_free_blocks(self.descs[group], -n)
        self.sb.free_blocks_count = self.sb.free_blocks_count - n
        self.dirty_groups.add(group)

    def free_runs(self, runs: list[tuple[int, int]]) -> None:
        for start, length in runs:
            self.free_blocks(start, length)

    def free_blocks(self, start: int, length: int) -> None:
        """Return ``[start, start + length)`` to the free pool (may span groups)."""
        geo = self.geo
        while length > 0:
            group = geo.group_of_block(start)
            first = geo.group_first_block(group)
            n = min(length, first + geo.group_block_count(group) - start)
            bitmap = self.block_bitmap(group)
            self._check_set(bitmap, start - first, n, start)
            set_bits(bitmap, start - first, start - first + n, False)
            self._block_bitmap_changed(group)
            self.cache.forget_range(start, n)
            _add_free_blocks(self.descs[group], n)
            self.sb.free_blocks_count = self.sb.free_blocks_count + n
            self.dirty_groups.add(group)
            start += n
            length -= n

    @staticmethod
    def _check_set(bitmap: bytearray, bit: int, n: int, block: int) -> None:
        if find_free(bitmap, bit, bit + n) >= 0:
            raise FormatError(f"freeing block run {block}+{n} that is already (partly) free")

    # --- inodes ------------------------------------------------------------------------
    def alloc_inode(self, is_dir: bool) -> int:
        geo = self.geo
        ipg = geo.inodes_per_group
        cursor = self._inode_cursor
        group = cursor // ipg
        for _ in range(geo.group_count + 1):
            desc = self.descs[group]
            if desc_free_inodes(desc):
                bitmap = self._inode_bitmap(group)
                start = cursor - group * ipg if cursor // ipg == group else 0
                bit = find_free(bitmap, start, ipg)
                if bit < 0 and start:
                    bit = find_free(bitmap, 0, ipg)
                if bit >= 0:
                    _set_bit(bitmap, bit, True)
                    self.cache.mark_dirty(desc_inode_bitmap(desc))
                    if self.uninit_flags:
                        self._inode_taken(group, bit)
                    _add_free_inodes(desc, -1)
                    if is_dir:
                        _add_used_dirs(desc, 1)
                    self.sb.s_free_inodes_count -= 1
                    self.dirty_groups.add(group)
                    self._inode_cursor = group * ipg + bit + 1
                    return group * ipg + bit + 1
            group = (group + 1) % geo.group_count
            cursor = group * ipg
        raise ConversionError(f"ext4 has no free inode left ({geo.inodes_count} inodes)")

    def _inode_taken(self, group: int, bit: int) -> None:
        """Keep the uninit_bg bookkeeping of a group exact after inode ``bit`` was taken."""
        desc = self.descs[group]
        if desc.bg_flags & BG_INODE_UNINIT:
            desc.bg_flags &= ~BG_INODE_UNINIT
        if desc.bg_flags & BG_BLOCK_UNINIT:
            # as the kernel does: a group with inodes in use has a written block bitmap
            self.block_bitmap(group)
            self._block_bitmap_changed(group)
        ipg = self.geo.inodes_per_group
        used = ipg - desc_itable_unused(desc)
        if bit >= used:
            if not desc.bg_flags & BG_INODE_ZEROED:
                self._zero_inodes(group, used, bit + 1)
            _set_itable_unused(desc, ipg - bit - 1)

    def _zero_inodes(self, group: int, first: int, end: int) -> None:
        """Clear inode slots ``[first, end)`` of a table not known to be zeroed."""
        geo = self.geo
        size = geo.inode_size
        table = desc_inode_table(self.descs[group])
        for index in range(first, end):
            block, offset = divmod(index * size, geo.block_size)
            data = self.cache.get(table + block)
            data[offset : offset + size] = bytes(size)
            self.cache.mark_dirty(table + block)

    def free_inode(self, ino: int, is_dir: bool) -> None:
        group, bit = divmod(ino - 1, self.geo.inodes_per_group)
        desc = self.descs[group]
        bitmap = self._inode_bitmap(group)
        if not bitmap[bit >> 3] & (1 << (bit & 7)):
            raise FormatError(f"freeing inode {ino} that is already free")
        _set_bit(bitmap, bit, False)
        self.cache.mark_dirty(desc_inode_bitmap(desc))
        _add_free_inodes(desc, 1)
        if is_dir:
            _add_used_dirs(desc, -1)
        self.sb.s_free_inodes_count += 1
        self.dirty_groups.add(group)


def _merge_runs(runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, length in runs:
        if merged and merged[-1][0] + merged[-1][1] == start:
            merged[-1] = (merged[-1][0], merged[-1][1] + length)
        else:
            merged.append((start, length))
    return merged
