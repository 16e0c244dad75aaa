"""Partitioned spill files: what a reduce task reads back is exactly what was written."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqray.errors import SeqrayError
from seqray.io.spill import SpillWriter, read_spill

MAGIC = b"TESTSPL1"
DTYPES = (np.uint64, np.uint32)


@settings(max_examples=40, deadline=None)
@given(
    n_parts=st.integers(1, 6),
    segments=st.lists(st.lists(st.integers(0, 5), min_size=0, max_size=30), max_size=4),
    data=st.data(),
)
def test_partitions_read_back_segment_by_segment(tmp_path_factory, n_parts, segments, data):
    uri = str(tmp_path_factory.mktemp("spill") / "s.bin")
    w = SpillWriter(uri, MAGIC, n_parts, DTYPES, meta=7)
    written = []  # per segment: (partition, key, value) rows
    for seg in segments:
        parts = np.sort(np.array([p % n_parts for p in seg], np.int64))
        keys = np.array(
            data.draw(
                st.lists(st.integers(0, 2**64 - 1), min_size=len(parts), max_size=len(parts))
            ),
            np.uint64,
        )
        values = np.arange(len(parts), dtype=np.uint32)
        w.add_segment((keys, values), np.searchsorted(parts, np.arange(n_parts + 1)))
        written.append(list(zip(parts.tolist(), keys.tolist(), values.tolist())))
    f = w.close()
    assert f.rows == sum(len(s) for s in written)
    for lo in range(n_parts):
        for hi in range(lo, n_parts + 1):
            got = read_spill(uri, MAGIC, DTYPES, lo, hi)
            want = [[(k, v) for p, k, v in seg if lo <= p < hi] for seg in written]
            want = [w_ for w_ in want if w_]
            assert [list(zip(k.tolist(), v.tolist())) for k, v in got] == want


def test_other_files_are_refused(tmp_path):
    p = tmp_path / "x.bin"
    p.write_bytes(b"not a spill file at all, not at all, no")
    with pytest.raises(SeqrayError, match="not a seqray spill file"):
        read_spill(str(p), MAGIC, DTYPES, 0, 1)
    w = SpillWriter(str(tmp_path / "y.bin"), b"OTHERKND", 1, DTYPES)
    w.close()
    with pytest.raises(SeqrayError, match="not a seqray spill file"):
        read_spill(str(tmp_path / "y.bin"), MAGIC, DTYPES, 0, 1)
