"""LSMT layer files (spec §2): records, the validated reader, the commit writer, stacking."""

from __future__ import annotations

from .index import Extent, SegmentTable
from .merge import merge_indexes
from .reader import LayerFile, LayerStats, open_layer
from .records import (
    NULL_UUID,
    HeaderTrailer,
    IndexColumns,
    Mapping,
    decode_index,
    encode_index,
    has_lsmt_magic,
    normalize_uuid,
)
from .stack import LayerStack
from .writable import AppendLayer, WritableIndex
from .writer import CommitInfo, SourceSegment, commit_device, segments_from_extents, write_commit

__all__ = [
    "NULL_UUID",
    "AppendLayer",
    "CommitInfo",
    "Extent",
    "HeaderTrailer",
    "IndexColumns",
    "LayerFile",
    "LayerStack",
    "LayerStats",
    "Mapping",
    "SegmentTable",
    "SourceSegment",
    "WritableIndex",
    "commit_device",
    "decode_index",
    "encode_index",
    "has_lsmt_magic",
    "merge_indexes",
    "normalize_uuid",
    "open_layer",
    "segments_from_extents",
    "write_commit",
]
