"""Named ext4 constants: magic numbers, feature bits, mode bits, flags (spec §6.1)."""

from __future__ import annotations

SUPERBLOCK_OFFSET = 1024
SUPERBLOCK_SIZE = 1024
EXT4_MAGIC = 0xEF53

BLOCK_SIZE = 4096
LOG_BLOCK_SIZE = 2  # block size = 1024 << 2
INODE_SIZE = 256
INODE_BASE_SIZE = 128
EXTRA_ISIZE = 32  # i_extra_isize of every inode we write (spec §6.1)
BYTES_PER_INODE = 16384
BLOCKS_PER_GROUP = 32768
INODES_PER_GROUP_MAX = 8192
DESC_SIZE = 64
MAX_RESERVED_GDT_BLOCKS = 1024
RESERVED_PERCENT = 5

ROOT_INO = 2
RESIZE_INO = 7
FIRST_INO = 11
LOST_FOUND_INO = 11
LOST_FOUND_BLOCKS = 3  # upstream's mkfs expands lost+found to three blocks (spec §6.1)

STATE_CLEAN = 1
ERRORS_CONTINUE = 1
REV_DYNAMIC = 1
HASH_HALF_MD4 = 1
FLAG_SIGNED_HASH = 0x1
FLAG_UNSIGNED_HASH = 0x2

# Feature bits (superblock s_feature_compat / incompat / ro_compat).
COMPAT_DIR_PREALLOC = 0x1
COMPAT_IMAGIC_INODES = 0x2
COMPAT_HAS_JOURNAL = 0x4
COMPAT_EXT_ATTR = 0x8
COMPAT_RESIZE_INODE = 0x10
COMPAT_DIR_INDEX = 0x20
COMPAT_LAZY_BG = 0x40
COMPAT_EXCLUDE_BITMAP = 0x100
COMPAT_SPARSE_SUPER2 = 0x200
COMPAT_FAST_COMMIT = 0x400
COMPAT_STABLE_INODES = 0x800
COMPAT_ORPHAN_FILE = 0x1000

INCOMPAT_COMPRESSION = 0x1
INCOMPAT_FILETYPE = 0x2
INCOMPAT_RECOVER = 0x4
INCOMPAT_JOURNAL_DEV = 0x8
INCOMPAT_META_BG = 0x10
INCOMPAT_EXTENTS = 0x40
INCOMPAT_64BIT = 0x80
INCOMPAT_MMP = 0x100
INCOMPAT_FLEX_BG = 0x200
INCOMPAT_EA_INODE = 0x400
INCOMPAT_DIRDATA = 0x1000
INCOMPAT_CSUM_SEED = 0x2000
INCOMPAT_LARGEDIR = 0x4000
INCOMPAT_INLINE_DATA = 0x8000
INCOMPAT_ENCRYPT = 0x10000
INCOMPAT_CASEFOLD = 0x20000

RO_COMPAT_SPARSE_SUPER = 0x1
RO_COMPAT_LARGE_FILE = 0x2
RO_COMPAT_BTREE_DIR = 0x4
RO_COMPAT_HUGE_FILE = 0x8
RO_COMPAT_GDT_CSUM = 0x10
RO_COMPAT_DIR_NLINK = 0x20
RO_COMPAT_EXTRA_ISIZE = 0x40
RO_COMPAT_HAS_SNAPSHOT = 0x80
RO_COMPAT_QUOTA = 0x100
RO_COMPAT_BIGALLOC = 0x200
RO_COMPAT_METADATA_CSUM = 0x400
RO_COMPAT_REPLICA = 0x800
RO_COMPAT_READONLY = 0x1000
RO_COMPAT_PROJECT = 0x2000
RO_COMPAT_VERITY = 0x8000
RO_COMPAT_ORPHAN_PRESENT = 0x10000

# The converter's feature set (spec §6.1).
MKFS_COMPAT = COMPAT_EXT_ATTR | COMPAT_RESIZE_INODE | COMPAT_DIR_INDEX | COMPAT_SPARSE_SUPER2
MKFS_INCOMPAT = INCOMPAT_FILETYPE | INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_FLEX_BG
MKFS_RO_COMPAT = (
    RO_COMPAT_SPARSE_SUPER
    | RO_COMPAT_LARGE_FILE
    | RO_COMPAT_HUGE_FILE
    | RO_COMPAT_DIR_NLINK
    | RO_COMPAT_EXTRA_ISIZE
)

FEATURE_NAMES: dict[str, dict[int, str]] = {
    "compat": {
        COMPAT_DIR_PREALLOC: "dir_prealloc",
        COMPAT_IMAGIC_INODES: "imagic_inodes",
        COMPAT_HAS_JOURNAL: "has_journal",
        COMPAT_EXT_ATTR: "ext_attr",
        COMPAT_RESIZE_INODE: "resize_inode",
        COMPAT_DIR_INDEX: "dir_index",
        COMPAT_LAZY_BG: "lazy_bg",
        COMPAT_EXCLUDE_BITMAP: "exclude_bitmap",
        COMPAT_SPARSE_SUPER2: "sparse_super2",
        COMPAT_FAST_COMMIT: "fast_commit",
        COMPAT_STABLE_INODES: "stable_inodes",
        COMPAT_ORPHAN_FILE: "orphan_file",
    },
    "incompat": {
        INCOMPAT_COMPRESSION: "compression",
        INCOMPAT_FILETYPE: "filetype",
        INCOMPAT_RECOVER: "needs_recovery",
        INCOMPAT_JOURNAL_DEV: "journal_dev",
        INCOMPAT_META_BG: "meta_bg",
        INCOMPAT_EXTENTS: "extents",
        INCOMPAT_64BIT: "64bit",
        INCOMPAT_MMP: "mmp",
        INCOMPAT_FLEX_BG: "flex_bg",
        INCOMPAT_EA_INODE: "ea_inode",
        INCOMPAT_DIRDATA: "dirdata",
        INCOMPAT_CSUM_SEED: "metadata_csum_seed",
        INCOMPAT_LARGEDIR: "large_dir",
        INCOMPAT_INLINE_DATA: "inline_data",
        INCOMPAT_ENCRYPT: "encrypt",
        INCOMPAT_CASEFOLD: "casefold",
    },
    "ro_compat": {
        RO_COMPAT_SPARSE_SUPER: "sparse_super",
        RO_COMPAT_LARGE_FILE: "large_file",
        RO_COMPAT_BTREE_DIR: "btree_dir",
        RO_COMPAT_HUGE_FILE: "huge_file",
        RO_COMPAT_GDT_CSUM: "uninit_bg",
        RO_COMPAT_DIR_NLINK: "dir_nlink",
        RO_COMPAT_EXTRA_ISIZE: "extra_isize",
        RO_COMPAT_HAS_SNAPSHOT: "snapshot",
        RO_COMPAT_QUOTA: "quota",
        RO_COMPAT_BIGALLOC: "bigalloc",
        RO_COMPAT_METADATA_CSUM: "metadata_csum",
        RO_COMPAT_REPLICA: "replica",
        RO_COMPAT_READONLY: "read-only",
        RO_COMPAT_PROJECT: "project",
        RO_COMPAT_VERITY: "verity",
        RO_COMPAT_ORPHAN_PRESENT: "orphan_present",
    },
}

# What we can read at all (anything else in incompat makes the layout unreadable).
READ_INCOMPAT = (
    INCOMPAT_FILETYPE
    | INCOMPAT_EXTENTS
    | INCOMPAT_64BIT
    | INCOMPAT_FLEX_BG
    | INCOMPAT_LARGEDIR
    | INCOMPAT_CSUM_SEED
)
# Features the writer keeps consistent; every other ro_compat/incompat bit blocks writing.
WRITE_COMPAT_OK = (
    COMPAT_HAS_JOURNAL  # left untouched and must be clean, as libext2fs writes (journal.py)
    | COMPAT_EXT_ATTR
    | COMPAT_RESIZE_INODE
    | COMPAT_DIR_INDEX
    | COMPAT_SPARSE_SUPER2
    | COMPAT_DIR_PREALLOC
)
WRITE_INCOMPAT_OK = INCOMPAT_FILETYPE | INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_FLEX_BG
WRITE_RO_COMPAT_OK = MKFS_RO_COMPAT | RO_COMPAT_GDT_CSUM

# Block group descriptor flags (bg_flags), honoured only with gdt_csum / metadata_csum.
BG_INODE_UNINIT = 0x1  # inode bitmap not initialised: reads as all zero
BG_BLOCK_UNINIT = 0x2  # block bitmap not initialised: only the group's metadata is in use
BG_INODE_ZEROED = 0x4  # inode table known to be zeroed

# The internal journal (jbd2) superblock in the journal inode's first block; big-endian.
JBD2_MAGIC = 0xC03B3998
JBD2_START_OFFSET = 28  # s_start: first log block to replay, 0 when the journal is clean

# Inode mode (i_mode) type bits.
S_IFMT = 0o170000
S_IFSOCK = 0o140000
S_IFLNK = 0o120000
S_IFREG = 0o100000
S_IFBLK = 0o060000
S_IFDIR = 0o040000
S_IFCHR = 0o020000
S_IFIFO = 0o010000

# Directory entry file types (filetype feature).
FT_UNKNOWN = 0
FT_REG_FILE = 1
FT_DIR = 2
FT_CHRDEV = 3
FT_BLKDEV = 4
FT_FIFO = 5
FT_SOCK = 6
FT_SYMLINK = 7

MODE_TO_FT = {
    S_IFREG: FT_REG_FILE,
    S_IFDIR: FT_DIR,
    S_IFCHR: FT_CHRDEV,
    S_IFBLK: FT_BLKDEV,
    S_IFIFO: FT_FIFO,
    S_IFSOCK: FT_SOCK,
    S_IFLNK: FT_SYMLINK,
}

# Inode flags (i_flags).
INODE_FL_INDEX = 0x1000  # hashed directory index
INODE_FL_HUGE_FILE = 0x40000
INODE_FL_EXTENTS = 0x80000
INODE_FL_EA_INODE = 0x200000
INODE_FL_INLINE_DATA = 0x10000000

EXTENT_MAGIC = 0xF30A
EXTENT_MAX_LEN = 32768  # longest initialized extent
INLINE_SYMLINK_MAX = 59  # targets shorter than i_block (60 bytes) live in the inode
SYMLINK_MAX = 4095

XATTR_MAGIC = 0xEA020000
XATTR_INDEX_PREFIXES: tuple[tuple[int, str], ...] = (
    (2, "system.posix_acl_access"),
    (3, "system.posix_acl_default"),
    (8, "system.richacl"),
    (1, "user."),
    (4, "trusted."),
    (6, "security."),
    (7, "system."),
)

DIR_LINK_MAX = 65000  # beyond this a directory's i_links_count is 1 (dir_nlink)
LINK_MAX = 65000
NAME_MAX = 255
