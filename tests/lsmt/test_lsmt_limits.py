"""A commit that upstream readers would refuse is not written as if it were valid."""

from __future__ import annotations

import io

import pytest

from overlaybd_py.errors import FormatError
from overlaybd_py.lsmt import writer
from overlaybd_py.lsmt.writer import SourceSegment, write_commit


def test_commit_with_too_many_index_entries_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "MAX_RO_INDEX_ENTRIES", 512)
    segments = [SourceSegment(offset=2 * i, length=1) for i in range(513)]
    with pytest.raises(FormatError, match=r"513 index entries \(768 padded\), more than the 512"):
        write_commit(
            io.BytesIO(),
            segments,
            lambda offset, length: bytes(length),
            virtual_size=1 << 30,
            uuid="11111111-1111-1111-1111-111111111111",
        )
    fits = segments[:512]
    info = write_commit(
        io.BytesIO(),
        fits,
        lambda offset, length: bytes(length),
        virtual_size=1 << 30,
        uuid="11111111-1111-1111-1111-111111111111",
    )
    assert info.entries == 512
