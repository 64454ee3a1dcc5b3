"""Every ext4 on-disk record, declared once and used both to parse and to build.

A record class lists its fields as ``(name, struct code)`` pairs in disk order;
the class gets a little-endian :class:`struct.Struct` and ``unpack``/``pack``.
Hot loops (directory entries, extents) use ``STRUCT`` directly with
``iter_unpack``/``pack_into``; the layout still lives only here.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Self


class Record:
    """Base of the on-disk records: named fields over one little-endian struct."""

    FIELDS: ClassVar[tuple[tuple[str, str], ...]] = ()
    STRUCT: ClassVar[struct.Struct]
    NAMES: ClassVar[tuple[str, ...]]
    SIZE: ClassVar[int]
    _DEFAULTS: ClassVar[dict[str, Any]]
    _GETTER: ClassVar[Callable[[Any], tuple[Any, ...]]]

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls.STRUCT = struct.Struct("<" + "".join(code for _, code in cls.FIELDS))
        cls.NAMES = tuple(name for name, _ in cls.FIELDS)
        cls.SIZE = cls.STRUCT.size
        cls._DEFAULTS = {n: b"" if code.endswith("s") else 0 for n, code in cls.FIELDS}
        getter = operator.attrgetter(*cls.NAMES)
        cls._GETTER = getter if len(cls.NAMES) > 1 else lambda obj: (getter(obj),)

    def __init__(self, **values: Any) -> None:
        unknown = values.keys() - self._DEFAULTS.keys()
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {sorted(unknown)}")
        self.__dict__.update(self._DEFAULTS)
        self.__dict__.update(values)

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview, offset: int = 0) -> Self:
        obj = cls.__new__(cls)
        obj.__dict__.update(zip(cls.NAMES, cls.STRUCT.unpack_from(data, offset), strict=True))
        return obj

    def pack(self) -> bytes:
        return self.STRUCT.pack(*type(self)._GETTER(self))

    def pack_into(self, buffer: bytearray | memoryview, offset: int = 0) -> None:
        self.STRUCT.pack_into(buffer, offset, *type(self)._GETTER(self))

    if TYPE_CHECKING:  # fields are set from FIELDS at run time

        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...

    def __repr__(self) -> str:
        body = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.NAMES)
        return f"{type(self).__name__}({body})"


class Superblock(Record):
    """The 1024-byte superblock at byte 1024 of the device (and in backup groups)."""

    FIELDS = (
        ("s_inodes_count", "I"),
        ("s_blocks_count_lo", "I"),
        ("s_r_blocks_count_lo", "I"),
        ("s_free_blocks_count_lo", "I"),
        ("s_free_inodes_count", "I"),
        ("s_first_data_block", "I"),
        ("s_log_block_size", "I"),
        ("s_log_cluster_size", "I"),
        ("s_blocks_per_group", "I"),
        ("s_clusters_per_group", "I"),
        ("s_inodes_per_group", "I"),
        ("s_mtime", "I"),
        ("s_wtime", "I"),
        ("s_mnt_count", "H"),
        ("s_max_mnt_count", "H"),
        ("s_magic", "H"),
        ("s_state", "H"),
        ("s_errors", "H"),
        ("s_minor_rev_level", "H"),
        ("s_lastcheck", "I"),
        ("s_checkinterval", "I"),
        ("s_creator_os", "I"),
        ("s_rev_level", "I"),
        ("s_def_resuid", "H"),
        ("s_def_resgid", "H"),
        ("s_first_ino", "I"),
        ("s_inode_size", "H"),
        ("s_block_group_nr", "H"),
        ("s_feature_compat", "I"),
        ("s_feature_incompat", "I"),
        ("s_feature_ro_compat", "I"),
        ("s_uuid", "16s"),
        ("s_volume_name", "16s"),
        ("s_last_mounted", "64s"),
        ("s_algorithm_usage_bitmap", "I"),
        ("s_prealloc_blocks", "B"),
        ("s_prealloc_dir_blocks", "B"),
        ("s_reserved_gdt_blocks", "H"),
        ("s_journal_uuid", "16s"),
        ("s_journal_inum", "I"),
        ("s_journal_dev", "I"),
        ("s_last_orphan", "I"),
        ("s_hash_seed", "16s"),
        ("s_def_hash_version", "B"),
        ("s_jnl_backup_type", "B"),
        ("s_desc_size", "H"),
        ("s_default_mount_opts", "I"),
        ("s_first_meta_bg", "I"),
        ("s_mkfs_time", "I"),
        ("s_jnl_blocks", "68s"),
        ("s_blocks_count_hi", "I"),
        ("s_r_blocks_count_hi", "I"),
        ("s_free_blocks_count_hi", "I"),
        ("s_min_extra_isize", "H"),
        ("s_want_extra_isize", "H"),
        ("s_flags", "I"),
        ("s_raid_stride", "H"),
        ("s_mmp_interval", "H"),
        ("s_mmp_block", "Q"),
        ("s_raid_stripe_width", "I"),
        ("s_log_groups_per_flex", "B"),
        ("s_checksum_type", "B"),
        ("s_encryption_level", "B"),
        ("s_reserved_pad", "B"),
        ("s_kbytes_written", "Q"),
        ("s_snapshot_inum", "I"),
        ("s_snapshot_id", "I"),
        ("s_snapshot_r_blocks_count", "Q"),
        ("s_snapshot_list", "I"),
        ("s_error_count", "I"),
        ("s_first_error_time", "I"),
        ("s_first_error_ino", "I"),
        ("s_first_error_block", "Q"),
        ("s_first_error_func", "32s"),
        ("s_first_error_line", "I"),
        ("s_last_error_time", "I"),
        ("s_last_error_ino", "I"),
        ("s_last_error_line", "I"),
        ("s_last_error_block", "Q"),
        ("s_last_error_func", "32s"),
        ("s_mount_opts", "64s"),
        ("s_usr_quota_inum", "I"),
        ("s_grp_quota_inum", "I"),
        ("s_overhead_clusters", "I"),
        ("s_backup_bg0", "I"),
        ("s_backup_bg1", "I"),
        ("s_encrypt_algos", "4s"),
        ("s_encrypt_pw_salt", "16s"),
        ("s_lpf_ino", "I"),
        ("s_prj_quota_inum", "I"),
        ("s_checksum_seed", "I"),
        ("s_time_hi", "5s"),
        ("s_error_errcodes", "2s"),
        ("s_pad_27b", "B"),
        ("s_encoding", "H"),
        ("s_encoding_flags", "H"),
        ("s_orphan_file_inum", "I"),
        ("s_reserved", "376s"),
        ("s_checksum", "I"),
    )

    @property
    def blocks_count(self) -> int:
        return self.s_blocks_count_lo | (self.s_blocks_count_hi << 32)

    @property
    def free_blocks_count(self) -> int:
        return self.s_free_blocks_count_lo | (self.s_free_blocks_count_hi << 32)

    @free_blocks_count.setter
    def free_blocks_count(self, value: int) -> None:
        self.s_free_blocks_count_lo = value & 0xFFFFFFFF
        self.s_free_blocks_count_hi = value >> 32


class GroupDesc(Record):
    """A 64-byte block group descriptor (64bit feature)."""

    FIELDS = (
        ("bg_block_bitmap_lo", "I"),
        ("bg_inode_bitmap_lo", "I"),
        ("bg_inode_table_lo", "I"),
        ("bg_free_blocks_count_lo", "H"),
        ("bg_free_inodes_count_lo", "H"),
        ("bg_used_dirs_count_lo", "H"),
        ("bg_flags", "H"),
        ("bg_exclude_bitmap_lo", "I"),
        ("bg_block_bitmap_csum_lo", "H"),
        ("bg_inode_bitmap_csum_lo", "H"),
        ("bg_itable_unused_lo", "H"),
        ("bg_checksum", "H"),
        ("bg_block_bitmap_hi", "I"),
        ("bg_inode_bitmap_hi", "I"),
        ("bg_inode_table_hi", "I"),
        ("bg_free_blocks_count_hi", "H"),
        ("bg_free_inodes_count_hi", "H"),
        ("bg_used_dirs_count_hi", "H"),
        ("bg_itable_unused_hi", "H"),
        ("bg_exclude_bitmap_hi", "I"),
        ("bg_block_bitmap_csum_hi", "H"),
        ("bg_inode_bitmap_csum_hi", "H"),
        ("bg_reserved", "I"),
    )


class Inode(Record):
    """The first 160 bytes of a 256-byte inode: the 128-byte base plus 32 extra bytes.

    Bytes 160..255 hold the in-inode extended attributes (see ``xattr.py``).
    """

    FIELDS = (
        ("i_mode", "H"),
        ("i_uid", "H"),
        ("i_size_lo", "I"),
        ("i_atime", "I"),
        ("i_ctime", "I"),
        ("i_mtime", "I"),
        ("i_dtime", "I"),
        ("i_gid", "H"),
        ("i_links_count", "H"),
        ("i_blocks_lo", "I"),
        ("i_flags", "I"),
        ("i_version", "I"),
        ("i_block", "60s"),
        ("i_generation", "I"),
        ("i_file_acl_lo", "I"),
        ("i_size_high", "I"),
        ("i_obso_faddr", "I"),
        ("i_blocks_high", "H"),
        ("i_file_acl_high", "H"),
        ("i_uid_high", "H"),
        ("i_gid_high", "H"),
        ("i_checksum_lo", "H"),
        ("i_reserved", "H"),
        ("i_extra_isize", "H"),
        ("i_checksum_hi", "H"),
        ("i_ctime_extra", "I"),
        ("i_mtime_extra", "I"),
        ("i_atime_extra", "I"),
        ("i_crtime", "I"),
        ("i_crtime_extra", "I"),
        ("i_version_hi", "I"),
        ("i_projid", "I"),
    )


class ExtentHeader(Record):
    """Header of every extent tree node (in i_block or in a tree block)."""

    FIELDS = (
        ("eh_magic", "H"),
        ("eh_entries", "H"),
        ("eh_max", "H"),
        ("eh_depth", "H"),
        ("eh_generation", "I"),
    )


class ExtentIndex(Record):
    """An interior extent tree entry: the first logical block and the child node."""

    FIELDS = (
        ("ei_block", "I"),
        ("ei_leaf_lo", "I"),
        ("ei_leaf_hi", "H"),
        ("ei_unused", "H"),
    )


class ExtentLeaf(Record):
    """A leaf extent: logical start, length (>32768 means uninitialized), physical start."""

    FIELDS = (
        ("ee_block", "I"),
        ("ee_len", "H"),
        ("ee_start_hi", "H"),
        ("ee_start_lo", "I"),
    )


class DirEntry(Record):
    """Header of a directory entry (ext4_dir_entry_2); the name follows."""

    FIELDS = (
        ("inode", "I"),
        ("rec_len", "H"),
        ("name_len", "B"),
        ("file_type", "B"),
    )


class DxRootInfo(Record):
    """The htree root info that follows the '.' and '..' entries of block 0."""

    FIELDS = (
        ("reserved_zero", "I"),
        ("hash_version", "B"),
        ("info_length", "B"),
        ("indirect_levels", "B"),
        ("unused_flags", "B"),
    )


class DxCountLimit(Record):
    """Overlays the first dx entry: how many entries the node may and does hold."""

    FIELDS = (
        ("limit", "H"),
        ("count", "H"),
    )


class DxEntry(Record):
    """An htree index entry: lowest hash of the child and its logical block."""

    FIELDS = (
        ("hash", "I"),
        ("block", "I"),
    )


class XattrBlockHeader(Record):
    """Header of an extended attribute block (i_file_acl)."""

    FIELDS = (
        ("h_magic", "I"),
        ("h_refcount", "I"),
        ("h_blocks", "I"),
        ("h_hash", "I"),
        ("h_checksum", "I"),
        ("h_reserved", "12s"),
    )


class XattrIbodyHeader(Record):
    """The magic that starts the in-inode attribute area after i_extra_isize."""

    FIELDS = (("h_magic", "I"),)


class XattrEntry(Record):
    """An extended attribute entry; the name (without its prefix) follows, padded to 4."""

    FIELDS = (
        ("e_name_len", "B"),
        ("e_name_index", "B"),
        ("e_value_offs", "H"),
        ("e_value_inum", "I"),
        ("e_value_size", "I"),
        ("e_hash", "I"),
    )


assert Superblock.SIZE == 1024
assert GroupDesc.SIZE == 64
assert Inode.SIZE == 160
assert ExtentHeader.SIZE == ExtentIndex.SIZE == ExtentLeaf.SIZE == 12
assert DirEntry.SIZE == 8 and DxRootInfo.SIZE == 8 and DxEntry.SIZE == 8
assert XattrBlockHeader.SIZE == 32 and XattrEntry.SIZE == 16
