"""The Arrow schema of a read batch: the data model every stage shares.

`(source, record)` is the stable identity of a read: `record` is the 0-based ordinal of the
record in its file, whatever the chunking or worker count.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

NAME = "name"
SEQ = "seq"
QUAL = "qual"
SEQ2 = "seq2"
QUAL2 = "qual2"
NAME2 = "name2"
SOURCE = "source"
RECORD = "record"

SOURCE_TYPE = pa.dictionary(pa.int32(), pa.large_string())


def read_schema(paired: bool = False) -> pa.Schema:
    fields = [
        pa.field(NAME, pa.large_string(), nullable=False),
        pa.field(SEQ, pa.large_binary(), nullable=False),
        pa.field(QUAL, pa.large_binary()),
    ]
    if paired:
        fields += [
            pa.field(NAME2, pa.large_string(), nullable=False),
            pa.field(SEQ2, pa.large_binary(), nullable=False),
            pa.field(QUAL2, pa.large_binary()),
        ]
    fields += [
        pa.field(SOURCE, SOURCE_TYPE, nullable=False),
        pa.field(RECORD, pa.int64(), nullable=False),
    ]
    return pa.schema(fields)


def numeric_array(values: np.ndarray) -> pa.Array:
    """A zero-copy Arrow array over a NumPy array (pa.array would first import pandas,
    ~0.2 s, to check whether it was handed a pandas object)."""
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(
        pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)]
    )


def record_column(first: int, n: int) -> pa.Array:
    return numeric_array(np.arange(first, first + n, dtype=np.int64))


def source_column(source: str, n: int) -> pa.DictionaryArray:
    """A dictionary-encoded column holding one source name `n` times (no per-row strings)."""
    data = source.encode()
    name = pa.Array.from_buffers(
        pa.large_string(),
        1,
        [None, pa.py_buffer(np.array([0, len(data)], dtype=np.int64)), pa.py_buffer(data)],
    )
    return pa.DictionaryArray.from_arrays(numeric_array(np.zeros(n, dtype=np.int32)), name)


def empty_table(paired: bool = False) -> pa.Table:
    return read_schema(paired).empty_table()
