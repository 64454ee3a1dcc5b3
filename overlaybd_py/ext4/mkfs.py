"""Create the converter's ext4 on a device (spec §6.1), writing only the blocks it needs.

The parameters follow upstream's ``overlaybd-apply --mkfs``: 4 KiB blocks, 256-byte
inodes, one inode per 16 KiB, no journal, sparse_super2 with backups in group 1
and the last group, 1024 reserved GDT blocks at 64 GiB, half-MD4 signed hash, a
zero UUID and hash seed, and no timestamps, so the same device size always gives
the same bytes. Inode tables are not written: without uninit_bg/csum an inode
table that reads as zeros is valid, and the device is a sparse overlay.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..blockdev import WritableDevice
from ..errors import FormatError
from .allocator import set_bits
from .constants import (
    BLOCK_SIZE,
    BLOCKS_PER_GROUP,
    BYTES_PER_INODE,
    DESC_SIZE,
    ERRORS_CONTINUE,
    EXT4_MAGIC,
    EXTRA_ISIZE,
    FIRST_INO,
    FLAG_SIGNED_HASH,
    FT_DIR,
    HASH_HALF_MD4,
    INODE_FL_EXTENTS,
    INODE_SIZE,
    LOG_BLOCK_SIZE,
    LOST_FOUND_BLOCKS,
    LOST_FOUND_INO,
    MAX_RESERVED_GDT_BLOCKS,
    MKFS_COMPAT,
    MKFS_INCOMPAT,
    MKFS_RO_COMPAT,
    RESERVED_PERCENT,
    RESIZE_INO,
    REV_DYNAMIC,
    ROOT_INO,
    S_IFDIR,
    S_IFREG,
    STATE_CLEAN,
    SUPERBLOCK_OFFSET,
)
from .directory import build_directory
from .extents import Extent, build_tree
from .filesystem import Filesystem
from .geometry import Geometry
from .inode import Node
from .records import GroupDesc, Superblock

_ADDR_PER_BLOCK = BLOCK_SIZE // 4
_DIND_INDEX = 13  # i_block slot of the double-indirect block
_MIN_LAST_GROUP_SLACK = 50


@dataclass(frozen=True)
class _Plan:
    blocks: int
    groups: int
    inodes_per_group: int
    itable_blocks: int
    desc_blocks: int
    reserved_gdt: int
    backup_bgs: tuple[int, int]


def _reserved_gdt_blocks(blocks: int, desc_blocks: int) -> int:
    """Room to grow the filesystem 1024-fold (or to 2^32 blocks), capped at one block."""
    max_blocks = 0xFFFFFFFF
    if blocks < max_blocks // 1024:
        max_blocks = blocks * 1024
    groups = -(-max_blocks // BLOCKS_PER_GROUP)
    wanted = -(-groups // (BLOCK_SIZE // DESC_SIZE)) - desc_blocks
    return max(0, min(wanted, MAX_RESERVED_GDT_BLOCKS))


def _backup_bgs(groups: int) -> tuple[int, int]:
    first, last = min(1, groups - 1), groups - 1
    if last == first:
        last = 0
    return (first, last) if first <= last else (last, first)


def plan(device_size: int) -> _Plan:
    """Block and inode counts for a device of ``device_size`` bytes."""
    blocks = device_size // BLOCK_SIZE
    inode_target = blocks * BLOCK_SIZE // BYTES_PER_INODE
    while True:
        groups = -(-blocks // BLOCKS_PER_GROUP)
        if groups < 1:
            raise FormatError(f"device of {device_size} bytes is too small for ext4")
        ipg = -(-inode_target // groups)
        ipg = min(ipg, BLOCK_SIZE * 8)
        itable_blocks = -(-ipg * INODE_SIZE // BLOCK_SIZE)
        ipg = (itable_blocks * BLOCK_SIZE // INODE_SIZE) & ~7
        desc_blocks = -(-groups * DESC_SIZE // BLOCK_SIZE)
        reserved = _reserved_gdt_blocks(blocks, desc_blocks)
        overhead = 3 + itable_blocks + reserved
        rem = blocks % BLOCKS_PER_GROUP
        if rem and groups == 1 and rem < overhead + desc_blocks + 16:
            raise FormatError(f"device of {device_size} bytes is too small for ext4")
        if rem and rem < overhead + _MIN_LAST_GROUP_SLACK and groups > 1:
            blocks -= rem
            continue
        return _Plan(blocks, groups, ipg, itable_blocks, desc_blocks, reserved, _backup_bgs(groups))


def _superblock(p: _Plan, uuid: bytes, hash_seed: bytes) -> Superblock:
    return Superblock(
        s_inodes_count=p.inodes_per_group * p.groups,
        s_blocks_count_lo=p.blocks & 0xFFFFFFFF,
        s_blocks_count_hi=p.blocks >> 32,
        s_r_blocks_count_lo=(p.blocks * RESERVED_PERCENT // 100) & 0xFFFFFFFF,
        s_r_blocks_count_hi=(p.blocks * RESERVED_PERCENT // 100) >> 32,
        s_log_block_size=LOG_BLOCK_SIZE,
        s_log_cluster_size=LOG_BLOCK_SIZE,
        s_blocks_per_group=BLOCKS_PER_GROUP,
        s_clusters_per_group=BLOCKS_PER_GROUP,
        s_inodes_per_group=p.inodes_per_group,
        s_max_mnt_count=0xFFFF,
        s_magic=EXT4_MAGIC,
        s_state=STATE_CLEAN,
        s_errors=ERRORS_CONTINUE,
        s_rev_level=REV_DYNAMIC,
        s_first_ino=FIRST_INO,
        s_inode_size=INODE_SIZE,
        s_feature_compat=MKFS_COMPAT,
        s_feature_incompat=MKFS_INCOMPAT,
        s_feature_ro_compat=MKFS_RO_COMPAT,
        s_uuid=uuid,
        s_reserved_gdt_blocks=p.reserved_gdt,
        s_hash_seed=hash_seed,
        s_def_hash_version=HASH_HALF_MD4,
        s_desc_size=DESC_SIZE,
        s_min_extra_isize=EXTRA_ISIZE,
        s_want_extra_isize=EXTRA_ISIZE,
        s_flags=FLAG_SIGNED_HASH,
        s_kbytes_written=1,
        s_backup_bg0=p.backup_bgs[0],
        s_backup_bg1=p.backup_bgs[1],
    )


def mkfs(
    device: WritableDevice, *, uuid: bytes = bytes(16), hash_seed: bytes = bytes(16)
) -> Filesystem:
    """Format ``device`` as the converter's ext4 and return it open for writing."""
    if len(uuid) != 16 or len(hash_seed) != 16:
        raise FormatError(f"uuid and hash_seed must be 16 bytes, got {len(uuid)}, {len(hash_seed)}")
    p = plan(device.size)
    sb = _superblock(p, uuid, hash_seed)
    geo = Geometry.from_superblock(sb)
    writer = _Writer(device, geo, p)
    writer.layout_groups()
    writer.make_root_and_lost_found()
    writer.make_resize_inode()
    writer.finish(sb)
    return Filesystem(device, writable=True)


class _Writer:
    """Builds the metadata of a fresh filesystem in memory, then writes it block by block."""

    def __init__(self, device: WritableDevice, geo: Geometry, p: _Plan) -> None:
        self.device = device
        self.geo = geo
        self.p = p
        self.descs: list[GroupDesc] = []
        self.block_bitmaps: list[bytearray] = []
        self.group0_next = 0
        self.inodes: list[Node] = []
        self.blocks: dict[int, bytes] = {}

    def layout_groups(self) -> None:
        geo, p = self.geo, self.p
        for group in range(p.groups):
            first = geo.group_first_block(group)
            start = geo.super_overhead(group)
            bitmap = bytearray(BLOCK_SIZE)
            used = start + 2 + p.itable_blocks
            set_bits(bitmap, 0, used, True)
            set_bits(bitmap, geo.group_block_count(group), BLOCKS_PER_GROUP, True)
            self.block_bitmaps.append(bitmap)
            self.descs.append(
                GroupDesc(
                    bg_block_bitmap_lo=(first + start) & 0xFFFFFFFF,
                    bg_block_bitmap_hi=(first + start) >> 32,
                    bg_inode_bitmap_lo=(first + start + 1) & 0xFFFFFFFF,
                    bg_inode_bitmap_hi=(first + start + 1) >> 32,
                    bg_inode_table_lo=(first + start + 2) & 0xFFFFFFFF,
                    bg_inode_table_hi=(first + start + 2) >> 32,
                    bg_free_blocks_count_lo=geo.group_block_count(group) - used,
                    bg_free_inodes_count_lo=p.inodes_per_group,
                )
            )
        self.group0_next = geo.super_overhead(0) + 2 + p.itable_blocks

    def _take_group0(self, count: int) -> int:
        start = self.group0_next
        set_bits(self.block_bitmaps[0], start, start + count, True)
        self.descs[0].bg_free_blocks_count_lo -= count
        self.group0_next += count
        return start

    def _dir_inode(self, ino: int, mode: int, blocks: list[bytes], links: int) -> None:
        start = self._take_group0(len(blocks))
        for i, data in enumerate(blocks):
            self.blocks[start + i] = data
        node = Node.new(ino, S_IFDIR | mode, INODE_SIZE)
        root, _ = build_tree([Extent(0, start, len(blocks))], [], BLOCK_SIZE)
        node.rec.i_block = root
        node.rec.i_flags = INODE_FL_EXTENTS
        node.size = len(blocks) * BLOCK_SIZE
        node.blocks_512 = len(blocks) * (BLOCK_SIZE // 512)
        node.rec.i_links_count = links
        self.inodes.append(node)
        self.descs[0].bg_used_dirs_count_lo += 1

    def make_root_and_lost_found(self) -> None:
        zero_seed = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476)
        root_blocks, _ = build_directory(
            [(b"lost+found", LOST_FOUND_INO, FT_DIR)],
            ROOT_INO,
            ROOT_INO,
            BLOCK_SIZE,
            zero_seed,
            True,
            HASH_HALF_MD4,
        )
        self._dir_inode(ROOT_INO, 0o755, root_blocks, 3)
        lpf_first, _ = build_directory(
            [], LOST_FOUND_INO, ROOT_INO, BLOCK_SIZE, zero_seed, True, HASH_HALF_MD4
        )
        empty = struct.pack("<IHBB", 0, BLOCK_SIZE, 0, 0).ljust(BLOCK_SIZE, b"\0")
        self._dir_inode(
            LOST_FOUND_INO, 0o700, [lpf_first[0]] + [empty] * (LOST_FOUND_BLOCKS - 1), 2
        )

    def make_resize_inode(self) -> None:
        """Inode 7: a double-indirect map over the reserved GDT blocks and their backups."""
        p = self.p
        if not p.reserved_gdt:
            return
        dind = self._take_group0(1)
        dind_words = [0] * _ADDR_PER_BLOCK
        backups = [g for g in p.backup_bgs if g]
        for i in range(p.reserved_gdt):
            primary = 1 + p.desc_blocks + i
            dind_words[(p.desc_blocks + i) % _ADDR_PER_BLOCK] = primary
            words = [primary + g * BLOCKS_PER_GROUP for g in backups]
            self.blocks[primary] = struct.pack(f"<{len(words)}I", *words).ljust(BLOCK_SIZE, b"\0")
        self.blocks[dind] = struct.pack(f"<{_ADDR_PER_BLOCK}I", *dind_words)
        node = Node.new(RESIZE_INO, S_IFREG | 0o600, INODE_SIZE)
        i_block = [0] * 15
        i_block[_DIND_INDEX] = dind
        node.rec.i_block = struct.pack("<15I", *i_block)
        node.rec.i_links_count = 1
        node.size = (_ADDR_PER_BLOCK * _ADDR_PER_BLOCK + _ADDR_PER_BLOCK + 12) * BLOCK_SIZE
        node.blocks_512 = (1 + p.reserved_gdt * (1 + len(backups))) * (BLOCK_SIZE // 512)
        self.inodes.append(node)

    def finish(self, sb: Superblock) -> None:
        geo, p = self.geo, self.p
        ipg = p.inodes_per_group
        self.descs[0].bg_free_inodes_count_lo = ipg - FIRST_INO
        inode_bitmap0 = bytearray(BLOCK_SIZE)
        set_bits(inode_bitmap0, ipg, BLOCK_SIZE * 8, True)
        other_inode_bitmap = bytes(inode_bitmap0)
        set_bits(inode_bitmap0, 0, FIRST_INO, True)
        free_blocks = 0
        for group, desc in enumerate(self.descs):
            free_blocks += desc.bg_free_blocks_count_lo
            self.blocks[desc.bg_block_bitmap_lo | (desc.bg_block_bitmap_hi << 32)] = bytes(
                self.block_bitmaps[group]
            )
            self.blocks[desc.bg_inode_bitmap_lo | (desc.bg_inode_bitmap_hi << 32)] = (
                bytes(inode_bitmap0) if group == 0 else other_inode_bitmap
            )
        sb.free_blocks_count = free_blocks
        sb.s_free_inodes_count = ipg * p.groups - FIRST_INO

        table = self.descs[0].bg_inode_table_lo
        itable0 = bytearray(BLOCK_SIZE)
        for node in self.inodes:
            offset = (node.ino - 1) * INODE_SIZE
            itable0[offset : offset + INODE_SIZE] = node.pack()
        self.blocks[table] = bytes(itable0)

        gdt = b"".join(d.pack() for d in self.descs).ljust(p.desc_blocks * BLOCK_SIZE, b"\0")
        for group in [0, *geo.backup_groups()]:
            first = geo.group_first_block(group)
            sb.s_block_group_nr = group
            head = bytearray(BLOCK_SIZE)
            at = SUPERBLOCK_OFFSET if group == 0 else 0
            head[at : at + 1024] = sb.pack()
            self.blocks[first] = bytes(head)
            for i in range(p.desc_blocks):
                self.blocks[first + 1 + i] = gdt[i * BLOCK_SIZE : (i + 1) * BLOCK_SIZE]
        sb.s_block_group_nr = 0
        self._write_all()

    def _write_all(self) -> None:
        """Write the collected blocks in device order, adjacent blocks in one call."""
        order = sorted(self.blocks)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and order[j + 1] == order[j] + 1 and j - i < 255:
                j += 1
            data = b"".join(self.blocks[b] for b in order[i : j + 1])
            self.device.pwrite(order[i] * BLOCK_SIZE, data)
            i = j + 1
