"""Rows from per-read token runs: special tokens, truncation, windows and padding.

With `max_length` set, a row holds at most `max_length` ids, special tokens included. A
longer read either becomes several windows that overlap by `overlap` tokens (the default:
nothing is silently dropped) or, when truncation is asked for, keeps its first window only.
Every read gives at least one row, even one with no tokens, so every read is accounted for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

MODE_WHOLE, MODE_TRUNCATE, MODE_WINDOW = 0, 1, 2


@dataclass(frozen=True)
class Rows:
    read: np.ndarray  # int64: index of the read (in the batch) each row comes from
    window: np.ndarray  # int32: window index within the read
    first_token: np.ndarray  # int64: index (within the read) of the row's first token
    offsets: np.ndarray  # int64[rows+1] into ids
    ids: np.ndarray  # int32
    mask: np.ndarray | None  # int8, parallel to ids, when padded


@njit(cache=True, nogil=True)
def _rows(tok_ids, tok_off, mode, cap, step, cls, sep, pad_to, pad_id):
    n = len(tok_off) - 1
    nrows = np.empty(n, dtype=np.int64)
    total_rows = 0
    for r in range(n):
        t = tok_off[r + 1] - tok_off[r]
        k = 1
        if mode == 2 and t > cap:
            k = 1 + (t - cap + step - 1) // step
        nrows[r] = k
        total_rows += k
    nspec = (1 if cls >= 0 else 0) + (1 if sep >= 0 else 0)
    row_read = np.empty(total_rows, dtype=np.int64)
    row_win = np.empty(total_rows, dtype=np.int32)
    row_first = np.empty(total_rows, dtype=np.int64)
    row_off = np.zeros(total_rows + 1, dtype=np.int64)
    j = 0
    for r in range(n):
        t = tok_off[r + 1] - tok_off[r]
        for w in range(nrows[r]):
            first = w * step
            length = t - first
            if mode != 0 and length > cap:
                length = cap
            size = length + nspec
            if pad_to > size:
                size = pad_to
            row_read[j] = r
            row_win[j] = w
            row_first[j] = first
            row_off[j + 1] = row_off[j] + size
            j += 1
    ids = np.empty(row_off[total_rows], dtype=np.int32)
    mask = np.zeros(row_off[total_rows] if pad_to > 0 else 0, dtype=np.int8)
    for j in range(total_rows):
        r = row_read[j]
        o = row_off[j]
        src = tok_off[r] + row_first[j]
        length = tok_off[r + 1] - src
        if mode != 0 and length > cap:
            length = cap
        if cls >= 0:
            ids[o] = cls
            o += 1
        for i in range(length):
            ids[o + i] = tok_ids[src + i]
        o += length
        if sep >= 0:
            ids[o] = sep
            o += 1
        if pad_to > 0:
            for i in range(row_off[j], o):
                mask[i] = 1
        for i in range(o, row_off[j + 1]):
            ids[i] = pad_id
    return row_read, row_win, row_first, row_off, ids, mask


def make_rows(
    ids: np.ndarray,
    tok_offsets: np.ndarray,
    *,
    max_length: int | None,
    overlap: int,
    truncate: bool,
    padding: bool,
    cls: int,
    sep: int,
    pad: int,
) -> Rows:
    """Rows of `max_length` ids at most (specials included); cls/sep < 0 mean none."""
    nspec = (cls >= 0) + (sep >= 0)
    if max_length is None:
        mode, cap, step = MODE_WHOLE, 0, 1
    else:
        cap = max_length - nspec
        mode = MODE_TRUNCATE if truncate else MODE_WINDOW
        step = cap - overlap
    pad_to = max_length if (padding and max_length is not None) else 0
    r, w, f, o, out, mask = _rows(ids, tok_offsets, mode, cap, max(step, 1), cls, sep, pad_to, pad)
    return Rows(r, w, f, o, out, mask if padding and max_length is not None else None)


def check_window_options(
    max_length: int | None, overlap: int, truncate: bool, padding: bool, nspec: int
) -> str | None:
    """A message when the options cannot work together, else None."""
    if max_length is None:
        if truncate or padding or overlap:
            return "truncate, padding and overlap need max_length"
        return None
    if max_length - nspec < 1:
        return f"max_length {max_length} leaves no room for tokens besides {nspec} specials"
    if not 0 <= overlap < max_length - nspec:
        return (
            f"overlap must be at least 0 and below max_length minus the special tokens "
            f"({max_length - nspec})"
        )
    return None
