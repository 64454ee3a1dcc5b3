"""Block group geometry: which groups carry superblock backups and where metadata sits."""

from __future__ import annotations

from dataclasses import dataclass

from .constants import (
    COMPAT_SPARSE_SUPER2,
    RO_COMPAT_SPARSE_SUPER,
)
from .records import Superblock


def _is_power_of(n: int, base: int) -> bool:
    while n > 1 and n % base == 0:
        n //= base
    return n == 1


@dataclass(frozen=True)
class Geometry:
    """Counts and sizes derived from a superblock, shared by mkfs, reader and writer."""

    block_size: int
    blocks_count: int
    first_data_block: int
    blocks_per_group: int
    inodes_per_group: int
    inode_size: int
    desc_size: int
    group_count: int
    desc_blocks: int
    reserved_gdt_blocks: int
    compat: int
    incompat: int
    ro_compat: int
    backup_bgs: tuple[int, int]

    @classmethod
    def from_superblock(cls, sb: Superblock) -> Geometry:
        block_size = 1024 << sb.s_log_block_size
        blocks = sb.blocks_count
        per_group = sb.s_blocks_per_group
        groups = -(-(blocks - sb.s_first_data_block) // per_group)
        desc_size = sb.s_desc_size if sb.s_desc_size else 32
        return cls(
            block_size=block_size,
            blocks_count=blocks,
            first_data_block=sb.s_first_data_block,
            blocks_per_group=per_group,
            inodes_per_group=sb.s_inodes_per_group,
            inode_size=sb.s_inode_size,
            desc_size=desc_size,
            group_count=groups,
            desc_blocks=-(-groups * desc_size // block_size),
            reserved_gdt_blocks=sb.s_reserved_gdt_blocks,
            compat=sb.s_feature_compat,
            incompat=sb.s_feature_incompat,
            ro_compat=sb.s_feature_ro_compat,
            backup_bgs=(sb.s_backup_bg0, sb.s_backup_bg1),
        )

    @property
    def inode_table_blocks(self) -> int:
        return self.inodes_per_group * self.inode_size // self.block_size

    @property
    def inodes_count(self) -> int:
        return self.inodes_per_group * self.group_count

    def group_first_block(self, group: int) -> int:
        return self.first_data_block + group * self.blocks_per_group

    def group_block_count(self, group: int) -> int:
        if group == self.group_count - 1:
            return self.blocks_count - self.group_first_block(group)
        return self.blocks_per_group

    def has_super(self, group: int) -> bool:
        """True when the group holds a superblock copy (primary or backup)."""
        if group == 0:
            return True
        if self.compat & COMPAT_SPARSE_SUPER2:
            return group in self.backup_bgs
        if group <= 1 or not self.ro_compat & RO_COMPAT_SPARSE_SUPER:
            return True
        if group % 2 == 0:
            return False
        return _is_power_of(group, 3) or _is_power_of(group, 5) or _is_power_of(group, 7)

    def backup_groups(self) -> list[int]:
        return [g for g in range(1, self.group_count) if self.has_super(g)]

    def super_overhead(self, group: int) -> int:
        """Blocks taken at the group start by the superblock, descriptors and reserved GDT."""
        if not self.has_super(group):
            return 0
        return 1 + self.desc_blocks + self.reserved_gdt_blocks

    def group_of_block(self, block: int) -> int:
        return (block - self.first_data_block) // self.blocks_per_group
