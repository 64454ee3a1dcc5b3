"""Proof that a conversion lost nothing: the image's files against the source layers' tree.

``check_image(image_ref, source_ref)`` returns a :class:`CheckReport` listing every
difference (path, field, expected, found). The pieces are public for other uses:
``TreeModel`` + ``apply_tar`` build the tree a stack of layer tars defines,
``scan_filesystem`` / ``scan_directory`` read an ext4 or a mounted directory, and
``compare_trees`` compares any two such trees.
"""

from __future__ import annotations

from .compare import Difference, compare_trees
from .image import CheckReport, check_image, expected_tree
from .model import TreeModel
from .record import Record, Tree
from .scan import scan_directory, scan_filesystem
from .tarlayer import apply_tar

__all__ = [
    "CheckReport",
    "Difference",
    "Record",
    "Tree",
    "TreeModel",
    "apply_tar",
    "check_image",
    "compare_trees",
    "expected_tree",
    "scan_directory",
    "scan_filesystem",
]
