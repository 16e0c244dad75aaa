"""The `qc` stage's `failed` branch: the reads fastp 0.23.2 writes to `--failed_out`.

A failing read is written as fastp holds it at the end of its chain (the trimmed read,
with -c its corrected bases; the raw read when trimming removed it whole), its name
followed by a space and fastp's tag for the reason (`failed_quality_filter`,
`failed_too_short`, ...). Duplicates (--dedup) are not written. For pairs only those
where exactly one mate failed are written, read 1 then read 2 as rows of their own, the
passing mate tagged `paired_read_is_failing`; a pair where both mates failed is not
written (fastp 0.23.2's peprocessor writes nothing in that case).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..io.buffers import values_offsets
from ..io.schema import NAME, NAME2, QUAL, QUAL2, SEQ, SEQ2, numeric_array
from . import kernel as K
from .filters import DUPLICATED, FAILED_TAGS, N_CODES, PASSED

FAILED = "failed"  # the branch of the reads that fail a filter (fastp's --failed_out)
_TAGS = [FAILED_TAGS.get(code, "").encode() for code in range(N_CODES)]
_TAG_VALUES = np.frombuffer(b"".join(_TAGS), np.uint8)
_TAG_OFFSETS = np.cumsum([0, *map(len, _TAGS)]).astype(np.int64)


def unpaired(schema: pa.Schema) -> pa.Schema:
    """A batch's schema with a pair's mates as rows of their own (no mate-2 columns)."""
    for col in (NAME2, SEQ2, QUAL2):
        if col in schema.names:
            schema = schema.remove(schema.get_field_index(col))
    return schema


def failed_reads(table: pa.Table, reason: np.ndarray, windows: tuple) -> pa.Table:
    """fastp's --failed_out rows of single reads: every read that failed a filter (not
    duplicates), as trimmed (raw when trimming removed it), its name tagged with the
    reason."""
    rows = np.flatnonzero((reason != PASSED) & (reason != DUPLICATED))
    mates = np.zeros(len(rows), np.int8)
    return _tagged(table, rows, mates, reason[rows].astype(np.int64), windows + windows)


def failed_pairs(table, reason, why1, why2, windows: tuple, pairs=None) -> pa.Table:
    """fastp 0.23.2's --failed_out rows of pairs: read 1 then read 2 of each pair where
    exactly one mate failed, the failing one tagged with its reason and the other
    `paired_read_is_failing`. Pairs where both mates failed are not written (fastp).
    With `pairs` (a mask) only those rows are candidates (when merging: the pairs left
    as pairs)."""
    one = ((why1 == PASSED) != (why2 == PASSED)) & (reason != DUPLICATED)
    if pairs is not None:
        one &= pairs
    picked = np.flatnonzero(one)
    rows = np.repeat(picked, 2)
    mates = np.tile(np.array([0, 1], np.int8), len(picked))
    tags = np.empty(len(rows), np.int64)
    tags[0::2], tags[1::2] = why1[picked], why2[picked]
    return _tagged(table, rows, mates, tags, windows)


def _tagged(table: pa.Table, rows, mates, tags, windows: tuple) -> pa.Table:
    """Rows `rows` (mate `mates`) of `table` as unpaired reads (`unpaired`): their
    windows of (seq1, qual1, starts1, ends1, seq2, qual2, starts2, ends2), names tagged."""
    s1, q1, st1, en1, s2, q2, st2, en2 = windows
    n1, o1 = values_offsets(table.column(NAME))
    n2, o2 = values_offsets(table.column(NAME2)) if NAME2 in table.column_names else (n1, o1)
    untagged = np.full(len(rows), -1, np.int64)
    tag_table = (_TAG_VALUES, _TAG_OFFSETS)
    cols = {
        NAME: (n1, o1[:-1], o1[1:], n2, o2[:-1], o2[1:], tags),
        SEQ: (s1, st1, en1, s2, st2, en2, untagged),
        QUAL: (q1, st1, en1, q2, st2, en2, untagged),
    }
    out = table.take(numeric_array(rows.astype(np.int64)))
    out = out.select(unpaired(out.schema).names)
    for col, (v1, a1, b1, v2, a2, b2, t) in cols.items():
        values, offsets = K.gather_tagged(v1, a1, b1, v2, a2, b2, rows, mates, t, *tag_table)
        arr = _string(values, offsets) if col == NAME else _binary(values, offsets)
        i = out.schema.get_field_index(col)
        out = out.set_column(i, out.schema.field(i), arr)
    return out


def _string(values: np.ndarray, offsets: np.ndarray) -> pa.Array:
    return pa.Array.from_buffers(
        pa.large_string(),
        len(offsets) - 1,
        [None, pa.py_buffer(offsets), pa.py_buffer(values)],
    )


def _binary(values: np.ndarray, offsets: np.ndarray) -> pa.Array:
    return pa.Array.from_buffers(
        pa.large_binary(),
        len(offsets) - 1,
        [None, pa.py_buffer(offsets), pa.py_buffer(values)],
    )
