"""A stack of read-only LSMT layers read as one virtual block device (spec §2.9, §11)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

from ..errors import FormatError
from .index import Extent, SegmentTable
from .merge import merge_indexes
from .reader import LayerFile
from .records import MAX_STACK_LAYERS, NULL_UUID

log = logging.getLogger(__name__)


class LayerStack:
    """Layers given bottom-first, merged once into one index; ``pread`` reads the result.

    The top layer wins sector by sector, zeroed entries hide lower data, and sectors no
    layer maps read as zeros. Data is read from each layer's underlying byte source (a
    file, a ZFile reader, an HTTP range reader), never through a second lookup.
    """

    def __init__(self, layers_bottom_first: Sequence[LayerFile], name: str = "<stack>") -> None:
        layers = list(layers_bottom_first)
        if not layers:
            raise FormatError(f"{name}: a layer stack needs at least one layer, found none")
        if len(layers) > MAX_STACK_LAYERS:
            raise FormatError(
                f"{name}: a stack holds at most {MAX_STACK_LAYERS} layers, found {len(layers)}"
            )
        self.layers = layers
        self.name = name
        top_first = layers[::-1]
        merged = merge_indexes([layer.index for layer in top_first])
        bottom_index_of_depth = [len(layers) - 1 - depth for depth in range(len(layers))]
        self.index = merged
        """The merged index in sectors; each entry's ``tag`` is its layer's depth (0 = top)."""
        self._table = SegmentTable(
            merged,
            [layer.source for layer in top_first],
            self.size,
            layer_of_tag=bottom_index_of_depth,
            name=name,
        )
        log.debug("%s: %d layers merged into %d entries", name, len(layers), len(merged))

    @property
    def size(self) -> int:
        """The top-most non-zero ``virtual_size`` (§2.9); 0 when every layer declares 0."""
        for layer in reversed(self.layers):
            if layer.virtual_size:
                return layer.virtual_size
        return 0

    def pread(self, offset: int, length: int) -> bytes:
        """Bytes ``[offset, offset + length)`` of the merged device, clipped at ``size``."""
        return self._table.pread(offset, length)

    def extents(self) -> Iterator[Extent]:
        """Merged extents in device order (bytes); ``layer`` indexes ``layers`` bottom-first."""
        return self._table.extents()

    def data_extents(self) -> Iterator[tuple[int, int]]:
        """Coalesced ``(offset, length)`` byte ranges that hold data; the rest reads as zeros."""
        return self._table.data_extents()

    def __len__(self) -> int:
        """Number of merged index entries."""
        return len(self._table)


def parent_chain_problems(layers_bottom_first: Sequence[LayerFile]) -> list[str]:
    """Where the layers' parent UUIDs do not describe this order (bottom first).

    Each layer names the UUID of the layer it was committed on; a null parent makes
    no claim. Upstream does not check this at run time, so readers only warn; a
    command that stacks layers a user listed uses it to catch a wrong order.
    """
    problems = []
    for position, layer in enumerate(layers_bottom_first):
        if layer.parent_uuid == NULL_UUID:
            continue
        if position == 0:
            problems.append(
                f"layer 0 ({layer.name}) names parent {layer.parent_uuid}, but no layer is below it"
            )
        elif layers_bottom_first[position - 1].uuid != layer.parent_uuid:
            below = layers_bottom_first[position - 1]
            problems.append(
                f"layer {position} ({layer.name}) names parent {layer.parent_uuid}, but the layer "
                f"below it is {below.uuid} ({below.name})"
            )
    return problems
