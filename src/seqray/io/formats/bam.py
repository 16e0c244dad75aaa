"""Unaligned BAM written directly (SAM spec v1, sections 4.1-4.2): records are encoded by a
Numba kernel per batch, then cut into BGZF blocks. Read names are kept whole:
- the header's first word (up to the first space) is QNAME and the rest, after that
  space, a `CO:Z:` tag (the SAM tags' free-text comment; samtools' convention, as in
  `samtools import -T CO` / `samtools fastq -T CO`), present only when the header has a
  space (so "r1 " keeps its empty comment);
- a header that this cannot carry exactly (an empty first word, or one longer than 254
  bytes, '*', or with bytes outside QNAME's [!-?A-~] such as '@', a tab or UTF-8; a
  comment with a tab or UTF-8) keeps the whole header line's UTF-8 bytes in hex in the
  local tag `hx:H:` (lower-case tags are reserved for local use), and QNAME gets its
  first word with those bytes as '_' (cut to 254; '*' if empty) for other tools.
The BAM reader (io/bam.py) gives back hx if present, else QNAME + ' ' + CO, else QNAME.
"""

from __future__ import annotations

import struct

import numpy as np
import pyarrow as pa
from numba import njit

from ...errors import FormatError, SeqrayError
from ..buffers import values_offsets
from ..schema import NAME, NAME2, QUAL, QUAL2, RECORD, SEQ, SEQ2, SOURCE
from ..writers import AtomicFile
from .base import OutputFormat, WrittenShard
from .bgzf_groups import EOF, Blocks
from .registry import register_format

BAM_HEADER_TEXT = (
    "@HD\tVN:1.6\tSO:unknown\n"
    "@CO\tseqray: a header's comment is in CO:Z; a header that QNAME and CO cannot hold "
    "as it is, in hx:H (its UTF-8 bytes in hex)\n"
)
BAM_PAIRS_LINE = "@CO\tseqray: read pairs, read 1 then read 2\n"  # tells pairs when empty
_NT16 = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"=ACMGRSVTWYHKDBN"):
    _NT16[_c] = _i
_QNAME_OK = np.zeros(256, dtype=np.bool_)
_QNAME_OK[33:64] = True
_QNAME_OK[65:127] = True
_HEX = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8).copy()


@njit(cache=True, nogil=True)
def _name_layout(nv: np.ndarray, s: int, e: int, qname_ok: np.ndarray) -> tuple[int, int, int]:
    """(end of QNAME in nv, length of QNAME, mode) for the header nv[s:e]; mode 0: QNAME
    is the header, 1: QNAME + ' ' + CO, 2: neither carries it exactly (hx tag)."""
    p = s
    while p < e and nv[p] != 32:
        p += 1
    ok = 1 <= p - s <= 254 and not (p - s == 1 and nv[s] == 42)
    if ok:
        for j in range(s, p):
            if not qname_ok[nv[j]]:
                ok = False
                break
    if ok:
        for j in range(p + 1, e):
            if nv[j] < 32 or nv[j] > 126:
                ok = False
                break
    if ok:
        return p, p - s, 1 if p < e else 0
    q = s
    while q < e and nv[q] != 32 and nv[q] != 9 and q - s < 254:
        q += 1
    return q, max(q - s, 1), 2


@njit(cache=True, nogil=True)
def _put32(out: np.ndarray, o: int, v: int) -> None:
    for k in range(4):
        out[o + k] = (v >> (8 * k)) & 0xFF


@njit(cache=True, nogil=True)
def _encode_bam(nv: np.ndarray, no: np.ndarray, sv: np.ndarray, so: np.ndarray,
                qv: np.ndarray, qo: np.ndarray, has_qual: bool,
                nv2: np.ndarray, no2: np.ndarray, sv2: np.ndarray, so2: np.ndarray,
                qv2: np.ndarray, qo2: np.ndarray, has_qual2: bool,
                paired: bool, flag1: int, flag2: int, nt16: np.ndarray, qname_ok: np.ndarray,
                hexd: np.ndarray) -> tuple[np.ndarray, int]:  # fmt: skip
    """BAM records of a batch (read 2 after read 1 for pairs) as bytes; returns
    (bytes, -1) or (empty, index of a read with a base BAM cannot store)."""
    n = len(so) - 1
    size = 0
    for m in range(2 if paired else 1):
        v, o, so_ = (nv, no, so) if m == 0 else (nv2, no2, so2)
        for i in range(n):
            s, e = o[i], o[i + 1]
            _, lq, mode = _name_layout(v, s, e, qname_ok)
            ls = so_[i + 1] - so_[i]
            size += 4 + 32 + lq + 1 + (ls + 1) // 2 + ls
            if mode == 1:
                size += 3 + (e - s) - lq - 1 + 1
            elif mode == 2:
                size += 3 + 2 * (e - s) + 1
    out = np.empty(size, dtype=np.uint8)
    w = 0
    for i in range(n):
        for m in range(2 if paired else 1):
            if m == 0:
                v, o, sq, sqo, q, qof, hq, flag = nv, no, sv, so, qv, qo, has_qual, flag1
            else:
                v, o, sq, sqo, q, qof, hq, flag = nv2, no2, sv2, so2, qv2, qo2, has_qual2, flag2
            s, e = o[i], o[i + 1]
            qend, lq, mode = _name_layout(v, s, e, qname_ok)
            b0, ls = sqo[i], sqo[i + 1] - sqo[i]
            start = w
            w += 4
            _put32(out, w, -1)  # refID
            _put32(out, w + 4, -1)  # pos
            out[w + 8] = lq + 1  # l_read_name
            out[w + 9] = 0  # mapq
            out[w + 10] = 4680 & 0xFF  # bin of an unplaced read
            out[w + 11] = 4680 >> 8
            out[w + 12] = 0  # n_cigar_op
            out[w + 13] = 0
            out[w + 14] = flag & 0xFF
            out[w + 15] = flag >> 8
            _put32(out, w + 16, ls)
            _put32(out, w + 20, -1)  # next_refID
            _put32(out, w + 24, -1)  # next_pos
            _put32(out, w + 28, 0)  # tlen
            w += 32
            if qend == s:
                out[w] = 42  # '*'
                w += 1
            else:
                for j in range(s, qend):
                    c = v[j]
                    out[w] = c if qname_ok[c] else 95  # '_'
                    w += 1
            out[w] = 0
            w += 1
            for j in range(0, ls, 2):
                hi = nt16[sq[b0 + j]]
                lo = nt16[sq[b0 + j + 1]] if j + 1 < ls else 0
                if hi == 255 or lo == 255:
                    return np.empty(0, dtype=np.uint8), i
                out[w] = (hi << 4) | lo
                w += 1
            if hq:
                qb = qof[i]
                for j in range(ls):
                    out[w + j] = q[qb + j] - 33
            else:
                for j in range(ls):
                    out[w + j] = 255
            w += ls
            if mode == 1:
                out[w], out[w + 1], out[w + 2] = 67, 79, 90  # CO Z
                w += 3
                for j in range(qend + 1, e):
                    out[w] = v[j]
                    w += 1
                out[w] = 0
                w += 1
            elif mode == 2:
                out[w], out[w + 1], out[w + 2] = 104, 120, 72  # hx H
                w += 3
                for j in range(s, e):
                    out[w] = hexd[v[j] >> 4]
                    out[w + 1] = hexd[v[j] & 15]
                    w += 2
                out[w] = 0
                w += 1
            _put32(out, start, w - start - 4)
    return out, -1


# one mate's columns as _encode_bam takes them: name, seq and qual values and offsets, has_qual
_BamColumns = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]


def _bam_columns(table: pa.Table, name_c: str, seq_c: str, qual_c: str) -> _BamColumns:
    nv, no = values_offsets(table.column(name_c))
    sv, so = values_offsets(table.column(seq_c))
    quals = table.column(qual_c)
    has_qual = quals.null_count == 0 and len(quals) > 0
    if 0 < quals.null_count < len(quals):
        raise SeqrayError("cannot write BAM: some reads have a quality string and some do not")
    if has_qual:
        qv, qo = values_offsets(quals)
        if not np.array_equal(np.diff(qo), np.diff(so)):
            raise SeqrayError("cannot write BAM: a quality string differs in length from its read")
    else:
        qv, qo = np.empty(0, np.uint8), so
    return nv, no, sv, so, qv, qo, has_qual


def _bam_base_error(table: pa.Table, row: int, paired: bool) -> FormatError:
    """The located error for a read with a base BAM's 4-bit code cannot store."""
    cols = [SEQ, SEQ2] if paired else [SEQ]
    seqs = [table.column(c)[row].as_py() for c in cols]
    seq = next(s for s in seqs if any(_NT16[b] == 255 for b in s))
    base = next(chr(b) for b in seq if _NT16[b] == 255)
    names = table.column_names
    return FormatError(
        f"cannot write BAM: base {base!r} is not in BAM's alphabet =ACMGRSVTWYHKDBN",
        path=table.column(SOURCE)[row].as_py() if SOURCE in names else None,
        record=table.column(RECORD)[row].as_py() + 1 if RECORD in names else None,
    )


class BgzfFile:
    """BGZF (SAM spec 4.1) on an AtomicFile: blocks of BLOCK_TEXT bytes, each an
    independent gzip member with its size in the 'BC' extra field, then the EOF block."""

    def __init__(self, file: AtomicFile, level: int = 2):
        self.file = file
        self.blocks = Blocks(file.write, level)

    def write(self, data: bytes) -> None:
        self.blocks.add(data)

    def close(self) -> None:
        self.blocks.end()
        self.file.write(EOF)


class BamWriter:
    """Unaligned BAM: one record per read (flag 4); pairs as read 1 then read 2 (flags
    0x4D, 0x8D), which the reader takes back as pairs. Header lines are kept whole (see
    above); qualities are Phred scores, 0xFF for reads without (FASTA)."""

    def __init__(self, uri: str, paired: bool = False, level: int = 2):
        self.file = AtomicFile(uri)
        self.bgzf = BgzfFile(self.file, level)
        self.paired = paired
        self.rows = 0
        text = (BAM_HEADER_TEXT + (BAM_PAIRS_LINE if paired else "")).encode()
        self.bgzf.write(b"BAM\x01" + struct.pack("<i", len(text)) + text + struct.pack("<i", 0))

    def write(self, table: pa.Table) -> None:
        if len(table) == 0:
            return
        one = _bam_columns(table, NAME, SEQ, QUAL)
        two = _bam_columns(table, NAME2, SEQ2, QUAL2) if self.paired else one
        flag1, flag2 = (0x4D, 0x8D) if self.paired else (0x4, 0x4)
        data, bad = _encode_bam(*one, *two, self.paired, flag1, flag2, _NT16, _QNAME_OK, _HEX)
        if bad >= 0:
            raise _bam_base_error(table, bad, self.paired)
        self.bgzf.write(data.tobytes())
        self.rows += len(table)

    def commit(self) -> WrittenShard:
        self.bgzf.close()
        self.file.commit()
        return WrittenShard.of_file(self.file.written(self.rows))

    def abort(self) -> None:
        self.file.abort()


def _open(
    uri: str,
    *,
    schema: pa.Schema,
    paired: bool,
    mate: int,
    compression: str,
    level: int | None,
) -> BamWriter:
    return BamWriter(uri, paired=paired, level=2 if level is None else level)


register_format(
    OutputFormat(
        name="bam",
        title="BAM",
        extensions=(".bam",),
        open=_open,
        compressions={"bgzf": ""},
        pairs_in_one=True,
        levels=range(0, 4),  # isal's levels
        default_level=2,
    )
)
