"""Zero-copy NumPy views of Arrow variable-length columns (offsets + values)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def values_offsets(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(values, offsets) of a large_binary/large_string column, offsets starting at 0."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_string(arr.type) or pa.types.is_binary(arr.type):
        arr = arr.cast(pa.large_binary())
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    if bufs[2] is None or len(offsets) == 0:
        return np.empty(0, np.uint8), np.zeros(len(arr) + 1, dtype=np.int64)
    values = np.frombuffer(bufs[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return values, offsets - offsets[0]
