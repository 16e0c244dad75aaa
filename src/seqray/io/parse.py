"""Chunk → Arrow read batches: the driver loop around the Numba scanners.

The loop feeds decompressed pieces to a scanner, turns its record boundaries into Arrow
columns with the gather kernel, and locates every error by file and record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from numba import njit

from ..errors import FormatError, PairingError
from . import _kernels as K
from .buffers import values_offsets
from .chunks import Chunk
from .schema import (
    NAME,
    QUAL,
    RECORD,
    SEQ,
    SOURCE,
    read_schema,
    source_column,
)
from .streams import ChunkStream

DEFAULT_BLOCK_BASES = 16_000_000
MAX_BLOCK_ROWS = 262_144

IUPAC_OTHER = b"RYSWKMBDHVU"


def _dna_table(keep_iupac: bool, fasta: bool) -> np.ndarray:
    t = np.full(256, -1, dtype=np.int16)
    for c in b"ACGTN":
        t[c] = c
        t[c + 32] = c
    for c in IUPAC_OTHER:
        t[c] = c if keep_iupac else ord("N")
        t[c + 32] = c if keep_iupac else ord("N")
    t[ord(".")] = ord("N")
    if fasta:
        for c in b"\r\n \t":
            t[c] = -2
    return t


def _protein_table(fasta: bool) -> np.ndarray:
    t = np.full(256, -1, dtype=np.int16)
    for c in range(ord("A"), ord("Z") + 1):
        t[c] = c
        t[c + 32] = c
    t[ord("*")] = ord("*")
    if fasta:
        for c in b"\r\n \t":
            t[c] = -2
    return t


def _qual_table(offset: int) -> np.ndarray:
    t = np.full(256, -1, dtype=np.int16)
    for c in range(offset, 127):
        t[c] = c - offset + 33
    return t


def _name_table() -> np.ndarray:
    t = np.arange(256, dtype=np.int16)
    for c in list(range(0, 9)) + list(range(10, 32)) + [127]:
        t[c] = -1
    return t


_TABLES: dict = {}


def seq_table(alphabet: str, keep_iupac: bool, fasta: bool) -> np.ndarray:
    key = ("seq", alphabet, keep_iupac, fasta)
    if key not in _TABLES:
        _TABLES[key] = (
            _protein_table(fasta) if alphabet == "protein" else _dna_table(keep_iupac, fasta)
        )
    return _TABLES[key]


def qual_table(offset: int) -> np.ndarray:
    key = ("qual", offset)
    if key not in _TABLES:
        _TABLES[key] = _qual_table(offset)
    return _TABLES[key]


NAME_TABLE = _name_table()


@dataclass
class ReadOptions:
    """How records are read and normalised."""

    alphabet: str = "dna"  # "dna" or "protein"
    keep_iupac: bool = False
    lenient: bool = False  # on_error=skip: bad records go to rejects instead of failing
    block_bases: int = DEFAULT_BLOCK_BASES
    digest: bool = True  # sha256 of the raw input bytes (for the manifest)


@dataclass
class Reject:
    source: str
    record: int  # 0-based ordinal in the file
    reason: str
    text: bytes


@dataclass
class ChunkResult:
    records: int = 0
    rejects: list[Reject] = field(default_factory=list)
    digest: str = ""


def _binary(values: np.ndarray, offsets: np.ndarray, typ=pa.large_binary()) -> pa.Array:
    return pa.Array.from_buffers(
        typ, len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(values)]
    )


def _char(b: int) -> str:
    return chr(b) if 32 < b < 127 else f"\\x{b:02x}"


class ChunkReader:
    """Iterates Arrow read batches of one chunk; `result` holds counts, rejects, digest."""

    def __init__(
        self,
        chunk: Chunk,
        options: ReadOptions | None = None,
        path: str | None = None,
        compression=None,
        first_record: int | None = None,
    ):
        self.chunk = chunk
        self.options = options or ReadOptions()
        self.path = path or chunk.source
        self.compression = compression or chunk.compression
        self.first_record = first_record if first_record is not None else (chunk.first_record or 0)
        self.fastq = chunk.fmt == "FASTQ"
        self.result = ChunkResult()

    # -- locating errors -------------------------------------------------------------
    def _error(
        self,
        msg: str,
        local_record: int,
        line_in_record: int | None = None,
        offset: int | None = None,
    ) -> FormatError:
        rec = self.first_record + local_record
        line = None
        if self.fastq and line_in_record is not None and self.chunk.index == 0:
            line = 4 * rec + line_in_record + 1
        if offset is not None:
            # a stream position: a file offset for plain text, else a decompressed offset
            offset += self.chunk.start if self.compression.value == "none" else 0
        return FormatError(
            msg,
            path=self.path,
            record=rec + 1,
            line=line,
            offset=None if line is not None else offset,
        )

    def _message(self, code: int) -> str:
        return K.ERROR_MESSAGES[code].format(marker="@" if self.fastq else ">")

    # -- the scan loop -----------------------------------------------------------------
    def iter_raw(self) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
        """Yields (buffer, boundary rows, local index of first row) per scanner call."""
        scan = K.scan_fastq if self.fastq else K.scan_fasta
        resync = K.fastq_resync if self.fastq else K.fasta_resync
        opts = self.options
        out = np.empty((MAX_BLOCK_ROWS, K.NCOLS), dtype=np.int64)
        stream = ChunkStream(
            self.chunk,
            path=None if self.path == self.chunk.source else self.path,
            compression=self.compression,
            digest=opts.digest,
        )
        with stream:
            data = stream.read()
            base = 0  # stream position of data[0]
            pos = 0
            local = 0
            if self.chunk.start > 0 and not self.chunk.whole_file:
                # skip to the first line start after the chunk's first byte, then resync
                while True:
                    nl = data.find(b"\n")
                    if nl >= 0:
                        pos = nl + 1
                        break
                    more = stream.read()
                    if not more:
                        pos = len(data)
                        break
                    data += more
                while True:
                    buf = np.frombuffer(data, dtype=np.uint8)
                    r = resync(buf, pos, stream.eof)
                    if r >= 0:
                        pos = r
                        break
                    if r == -1:
                        pos = len(data)
                        break
                    more = stream.read()
                    if not more and stream.eof:
                        continue
                    data = data[pos:] + more
                    base += pos
                    pos = 0
            while True:
                buf = np.frombuffer(data, dtype=np.uint8)
                owner = stream.owner_end - base
                k, newpos, reason, _ = scan(
                    buf, pos, owner, stream.eof, out, opts.block_bases, opts.lenient
                )
                rows = out[:k]
                if k:
                    errors = rows[:, 6] != 0
                    if errors.any():
                        first_bad = int(np.argmax(errors))
                        if not opts.lenient:
                            r = rows[first_bad]
                            raise self._error(
                                self._message(int(r[6])),
                                local + first_bad,
                                int(r[2]),
                                offset=int(base + r[0]),
                            )
                        for i in np.flatnonzero(errors):
                            r = rows[i]
                            self.result.rejects.append(
                                Reject(
                                    self.path,
                                    self.first_record + local + int(i),
                                    self._message(int(r[6])),
                                    bytes(data[r[0] : r[1]]),
                                )
                            )
                    yield buf, rows.copy(), local
                    local += k
                pos = newpos
                if reason == K.DONE:
                    if pos >= owner or stream.eof:
                        break
                    # data exhausted before the owned range ended
                    more = stream.read()
                    data = data[pos:] + more
                    base += pos
                    pos = 0
                    continue
                if reason == K.NEED_MORE:
                    more = stream.read()
                    data = data[pos:] + more
                    base += pos
                    pos = 0
                    continue
                # FULL: go on from pos
            # make sure the whole owned raw range went through the digest
            while (
                not stream.eof
                and stream._mode != "whole"
                and stream._hasher.seen < stream._hasher.limit
            ):
                stream.read()
            if stream._mode == "whole":
                while stream.read():
                    pass
            self.result.records = local
            self.result.digest = stream.digest

    def __iter__(self) -> Iterator[pa.Table]:
        for buf, rows, local in self.iter_raw():
            good = rows[rows[:, 6] == 0]
            yield self.build_table(buf, rows, good, local)

    def build_table(self, buf, rows, good, local) -> pa.Table:
        opts = self.options
        n = len(good)
        names = self._gather(
            buf,
            good[:, 0],
            good[:, 1],
            NAME_TABLE,
            False,
            rows,
            local,
            "invalid byte {c} in header",
            pa.large_string(),
        )
        seqs = self._gather(
            buf,
            good[:, 2],
            good[:, 3],
            seq_table(opts.alphabet, opts.keep_iupac, not self.fastq),
            not self.fastq,
            rows,
            local,
            "invalid character {c} in sequence",
        )
        if self.fastq:
            quals = self._gather(
                buf,
                good[:, 4],
                good[:, 5],
                qual_table(self.chunk.phred_offset),
                False,
                rows,
                local,
                f"quality character {{c}} outside Phred+{self.chunk.phred_offset} range",
            )
        else:
            quals = pa.nulls(n, pa.large_binary())
        # record ordinals: position among all rows (errors included) of this chunk
        ordinals = np.flatnonzero(rows[:, 6] == 0).astype(np.int64) + (self.first_record + local)
        return pa.Table.from_arrays(
            [names, seqs, quals, source_column(self.path, n), pa.array(ordinals)],
            schema=read_schema(False),
        )

    def _gather(self, buf, starts, ends, table, skip_nl, rows, local, msg, typ=pa.large_binary()):
        values, offsets, bad, badpos = K.gather(buf, starts, ends, table, skip_nl)
        if bad >= 0:
            good_idx = np.flatnonzero(rows[:, 6] == 0)
            local_rec = local + int(good_idx[bad])
            line_in_rec = None
            if self.fastq:
                line_in_rec = 0 if typ == pa.large_string() else (1 if "sequence" in msg else 3)
            raise self._error(msg.format(c=repr(_char(int(buf[badpos])))), local_rec, line_in_rec)
        return _binary(values, offsets, typ)


def read_chunk_tables(
    chunk: Chunk, options: ReadOptions | None = None, first_record: int | None = None
) -> tuple[list[pa.Table], ChunkResult]:
    reader = ChunkReader(chunk, options, first_record=first_record)
    tables = list(reader)
    return tables, reader.result


def count_chunk_records(chunk: Chunk, options: ReadOptions | None = None) -> int:
    """Records (good and bad) owned by a chunk: the scan without building columns."""
    reader = ChunkReader(chunk, options or ReadOptions(lenient=True), first_record=0)
    for _ in reader.iter_raw():
        pass
    return reader.result.records


# -- pairs -------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _key_end(values, offsets):
    n = len(offsets) - 1
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        e = offsets[i]
        while e < offsets[i + 1] and values[e] != 32 and values[e] != 9:
            e += 1
        if (
            e - offsets[i] >= 2
            and values[e - 2] == 47
            and (values[e - 1] == 49 or values[e - 1] == 50)
        ):
            e -= 2
        out[i] = e
    return out


@njit(cache=True, nogil=True)
def _first_name_mismatch(v1, o1, k1, v2, o2, k2):
    for i in range(len(k1)):
        l1 = k1[i] - o1[i]
        l2 = k2[i] - o2[i]
        if l1 != l2:
            return i
        for j in range(l1):
            if v1[o1[i] + j] != v2[o2[i] + j]:
                return i
    return -1


def check_mate_names(t1: pa.Table, t2: pa.Table, path1: str, path2: str) -> None:
    v1, o1 = values_offsets(t1.column(NAME))
    v2, o2 = values_offsets(t2.column(NAME))
    i = _first_name_mismatch(v1, o1, _key_end(v1, o1), v2, o2, _key_end(v2, o2))
    if i >= 0:
        rec = int(t1.column(RECORD)[i].as_py())
        raise PairingError(
            f"mate names differ: {t1.column(NAME)[i].as_py()!r} in {path1} vs "
            f"{t2.column(NAME)[i].as_py()!r} in {path2}",
            path=f"{path1} / {path2}",
            record=rec + 1,
        )


def pair_tables(t1: pa.Table, t2: pa.Table) -> pa.Table:
    return pa.Table.from_arrays(
        [
            t1.column(NAME),
            t1.column(SEQ),
            t1.column(QUAL),
            t2.column(NAME),
            t2.column(SEQ),
            t2.column(QUAL),
            t1.column(SOURCE),
            t1.column(RECORD),
        ],
        schema=read_schema(True),
    )


class PairedChunkReader:
    """R1 and R2 files read in lock-step into one row per pair."""

    def __init__(self, chunk: Chunk, options: ReadOptions | None = None):
        assert chunk.mate is not None
        self.chunk = chunk
        self.r1 = ChunkReader(chunk, options)
        self.r2 = ChunkReader(chunk, options, path=chunk.mate, compression=chunk.mate_compression)
        self.result = ChunkResult()

    def __iter__(self) -> Iterator[pa.Table]:
        it1, it2 = iter(self.r1), iter(self.r2)
        pend1: list[pa.Table] = []
        pend2: list[pa.Table] = []
        n1 = n2 = 0
        self.emitted = 0
        done1 = done2 = False
        while True:
            while not done1 and n1 <= n2:
                t = next(it1, None)
                if t is None:
                    done1 = True
                else:
                    pend1.append(t)
                    n1 += len(t)
            while not done2 and n2 < n1:
                t = next(it2, None)
                if t is None:
                    done2 = True
                else:
                    pend2.append(t)
                    n2 += len(t)
            m = min(n1, n2)
            if m == 0 and (done1 or done2):
                if n1 != n2:
                    self._count_mismatch(n1, n2)
                break
            if m:
                a = pa.concat_tables(pend1).combine_chunks()
                b = pa.concat_tables(pend2).combine_chunks()
                self._check_ordinals(a.slice(0, m), b.slice(0, m))
                check_mate_names(a.slice(0, m), b.slice(0, m), self.chunk.source, self.chunk.mate)
                yield pair_tables(a.slice(0, m), b.slice(0, m))
                self.emitted += m
                pend1 = [a.slice(m)] if m < len(a) else []
                pend2 = [b.slice(m)] if m < len(b) else []
                n1 -= m
                n2 -= m
        self.result = ChunkResult(
            records=self.r1.result.records,
            rejects=self.r1.result.rejects + self.r2.result.rejects,
            digest=self.r1.result.digest + "+" + self.r2.result.digest,
        )

    def _check_ordinals(self, a: pa.Table, b: pa.Table) -> None:
        # with skipped bad records the two files' ordinals must still line up
        ra = a.column(RECORD).to_numpy()
        rb = b.column(RECORD).to_numpy()
        if not np.array_equal(ra, rb):
            i = int(np.argmax(ra != rb))
            raise PairingError(
                "a bad record in one mate file leaves the pairs out of step",
                path=f"{self.chunk.source} / {self.chunk.mate}",
                record=int(min(ra[i], rb[i])) + 1,
            )

    def _count_mismatch(self, n1: int, n2: int) -> None:
        short = self.chunk.source if n1 < n2 else self.chunk.mate
        raise PairingError(
            f"mate files have different numbers of records: {short} ends first",
            path=f"{self.chunk.source} / {self.chunk.mate}",
            record=self.r1.first_record + self.emitted + min(n1, n2) + 1,
        )
