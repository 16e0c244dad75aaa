"""UMI preprocessing as fastp 0.23.2 does it (`-U --umi_loc --umi_len --umi_prefix
--umi_skip`): the UMI is taken from the start of a read (read1, read2, per_read: then cut
from the read with `umi_skip` more bases) or from the index in the read name (index1,
index2, per_index), and written into the read names as `:UMI` (`:PREFIX_UMI`) before the
first space. It runs on the raw reads after duplicate marking and before any trimming, as
in fastp's processors; the "before filtering" statistics see the raw reads.

fastp's quirks kept: a cut leaves at least one base (`Read::trimFront`); an index is the
text after the last ':' or '+' (index2) or between the last ':' and the '+' after it
(index1), searched from the third-last character of the header; headers shorter than four
characters (five with '@') have none; per_index and per_read always tag the names, even
with an empty UMI, and join the mates' UMIs with '_'.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
from numba import njit

from ..errors import ConfigError
from ..io.buffers import values_offsets
from ..io.schema import NAME, NAME2, QUAL, QUAL2, SEQ, SEQ2

UmiLocation = Literal["index1", "index2", "read1", "read2", "per_index", "per_read"]
LOCATIONS: tuple[str, ...] = UmiLocation.__args__  # type: ignore[attr-defined]
# which UMI each location takes, as kernel codes: from read 1 / read 2, and how
FROM_NONE, FROM_SEQ, FROM_INDEX1, FROM_INDEX2 = range(4)
_PLAN = {  # location → (source for mate 1's part, for mate 2's part, always tag)
    "read1": (FROM_SEQ, FROM_NONE, False),
    "read2": (FROM_NONE, FROM_SEQ, False),
    "per_read": (FROM_SEQ, FROM_SEQ, True),
    "index1": (FROM_INDEX1, FROM_NONE, False),
    "index2": (FROM_NONE, FROM_INDEX2, False),
    "per_index": (FROM_INDEX1, FROM_INDEX2, True),
}


@njit(cache=True, nogil=True)
def _index_span(name, b: int, e: int, first: bool) -> tuple[int, int]:
    """fastp's Read::firstIndex (first) or lastIndex of the header name[b:e] (no '@'):
    the [start, stop) of the index, empty when there is none."""
    n = e - b
    if n < 4:  # fastp: a header (with '@') shorter than 5
        return b, b
    stop = e
    for i in range(n - 3, -1, -1):
        c = name[b + i]
        if first:
            if c == 43:  # '+'
                stop = b + i
            elif c == 58:  # ':'
                return b + i + 1, stop
        elif c == 58 or c == 43:
            return b + i + 1, e
    return b, b


@njit(cache=True, nogil=True)
def _umi_span(src: int, name, nb, ne, seq, sb, se, umi_len: int) -> tuple[int, int, int]:
    """(buffer 0: name, 1: seq; start; stop) of a mate's part of the UMI."""
    if src == FROM_SEQ:
        return 1, sb, sb + min(se - sb, umi_len)
    if src == FROM_INDEX1 or src == FROM_INDEX2:
        s, t = _index_span(name, nb, ne, src == FROM_INDEX1)
        return 0, s, t
    return 1, sb, sb


@njit(cache=True, nogil=True)
def _tagged(nv, no, tag_len, spans, n1v, s1v, n2v, s2v, mates, always, prefix):
    """One mate's names with each read's tag (`tag_len[i]` bytes, 0: none) inserted."""
    n = len(no) - 1
    offs = np.zeros(n + 1, np.int64)
    for i in range(n):
        offs[i + 1] = offs[i] + (no[i + 1] - no[i]) + tag_len[i]
    vals = np.empty(offs[n], np.uint8)
    for i in range(n):
        b, e = no[i], no[i + 1]
        at = e
        for j in range(b, e):
            if nv[j] == 32:  # the tag goes before the first space
                at = j
                break
        w = offs[i]
        for j in range(b, at):
            vals[w] = nv[j]
            w += 1
        if tag_len[i]:
            vals[w] = 58  # ':'
            w += 1
            if len(prefix):
                for c in prefix:
                    vals[w] = c
                    w += 1
                vals[w] = 95  # '_'
                w += 1
            for p in range(mates):
                if p == 1 and always:
                    vals[w] = 95
                    w += 1
                kind, s, t = spans[i, p, 0], spans[i, p, 1], spans[i, p, 2]
                if kind == 0:
                    part = n1v if p == 0 else n2v
                else:
                    part = s1v if p == 0 else s2v
                for j in range(s, t):
                    vals[w] = part[j]
                    w += 1
        for j in range(at, e):
            vals[w] = nv[j]
            w += 1
    return vals, offs


@njit(cache=True, nogil=True)
def umi_names(
    n1v, n1o, s1v, s1o, n2v, n2o, s2v, s2o, paired, src1, src2, always, umi_len, skip, prefix
):
    """Both mates' new names (values, offsets; mate 2's empty for single reads) and the
    bases each mate loses at its front."""
    n = len(n1o) - 1
    cut1 = np.zeros(n, np.int64)
    cut2 = np.zeros(n, np.int64)
    mates = 2 if paired else 1
    tag_len = np.zeros(n, np.int64)
    spans = np.zeros((n, 2, 3), np.int64)
    for i in range(n):
        length = 0
        for m in range(mates):
            if m == 0:
                src = src1
                buf, s, t = _umi_span(
                    src, n1v, n1o[i], n1o[i + 1], s1v, s1o[i], s1o[i + 1], umi_len
                )
                read_len = s1o[i + 1] - s1o[i]
            else:
                src = src2
                buf, s, t = _umi_span(
                    src, n2v, n2o[i], n2o[i + 1], s2v, s2o[i], s2o[i + 1], umi_len
                )
                read_len = s2o[i + 1] - s2o[i]
            spans[i, m, 0], spans[i, m, 1], spans[i, m, 2] = buf, s, t
            length += t - s
            if src == FROM_SEQ:
                cut = max(0, min(read_len - 1, (t - s) + skip))  # fastp's trimFront
                if m == 0:
                    cut1[i] = cut
                else:
                    cut2[i] = cut
        if always and paired:
            length += 1  # '_' between the mates' parts
        if length > 0 or always:
            tag_len[i] = 1 + (len(prefix) + 1 if len(prefix) else 0) + length
    v1, o1 = _tagged(n1v, n1o, tag_len, spans, n1v, s1v, n2v, s2v, mates, always, prefix)
    if paired:
        v2, o2 = _tagged(n2v, n2o, tag_len, spans, n1v, s1v, n2v, s2v, mates, always, prefix)
    else:
        v2, o2 = np.empty(0, np.uint8), np.zeros(1, np.int64)
    return v1, o1, v2, o2, cut1, cut2


@njit(cache=True, nogil=True)
def cut_front(values, offsets, cut):
    """Each item of a binary column without its first `cut[i]` bytes."""
    n = len(offsets) - 1
    offs = np.zeros(n + 1, np.int64)
    for i in range(n):
        offs[i + 1] = offs[i] + (offsets[i + 1] - offsets[i]) - cut[i]
    vals = np.empty(offs[n], np.uint8)
    for i in range(n):
        vals[offs[i] : offs[i + 1]] = values[offsets[i] + cut[i] : offsets[i + 1]]
    return vals, offs


def _column(values: np.ndarray, offsets: np.ndarray, type_: pa.DataType) -> pa.Array:
    return pa.Array.from_buffers(
        type_, len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(values)]
    )


def check_umi(location: str | None, length: int, prefix: str) -> None:
    """fastp's checks of the UMI options (what it refuses, seqray refuses too)."""
    if location is None:
        raise ConfigError(
            "qc: umi needs umi_loc (index1, index2, read1, read2, per_index, per_read)"
        )
    if location in ("read1", "read2", "per_read") and not 1 <= length <= 100:
        raise ConfigError(f"qc: umi_loc {location} needs umi_len between 1 and 100, not {length}")
    if len(prefix) >= 10 or not prefix.isascii() or not (prefix.isalnum() or not prefix):
        raise ConfigError(
            f"qc: umi_prefix must be fewer than 10 letters and digits, not {prefix!r}"
        )


def apply_umi(table: pa.Table, location: str, length: int, prefix: str, skip: int) -> pa.Table:
    """The batch with each read's UMI moved into its name(s) (see the module docstring)."""
    paired = SEQ2 in table.column_names
    if not paired and location in ("read2", "index2"):
        raise ConfigError(f"qc: umi_loc {location} needs paired reads")
    src1, src2, always = _PLAN[location]
    n1v, n1o = values_offsets(table.column(NAME))
    s1v, s1o = values_offsets(table.column(SEQ))
    if paired:
        n2v, n2o = values_offsets(table.column(NAME2))
        s2v, s2o = values_offsets(table.column(SEQ2))
    else:
        n2v, n2o, s2v, s2o = n1v, n1o, s1v, s1o  # unused
    v1, o1, v2, o2, cut1, cut2 = umi_names(
        n1v, n1o, s1v, s1o, n2v, n2o, s2v, s2o, paired, src1, src2, always,
        length, skip, np.frombuffer(prefix.encode(), np.uint8),
    )  # fmt: skip
    columns = {NAME: (v1, o1)}
    if paired:
        columns[NAME2] = (v2, o2)
    for cut, seq, qual in ((cut1, SEQ, QUAL), (cut2, SEQ2, QUAL2)):
        if seq in table.column_names and cut.any():
            for col in (seq, qual):
                v, o = values_offsets(table.column(col))
                columns[col] = cut_front(v, o, cut)
    for col, (v, o) in columns.items():
        i = table.schema.get_field_index(col)
        field = table.schema.field(i)
        table = table.set_column(i, field, _column(v, o, field.type))
    return table
