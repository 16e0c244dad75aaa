"""Chunk → Arrow read batches: the driver loop around the Numba scanners.

The loop feeds decompressed pieces to a scanner, turns its record boundaries into Arrow
columns with the gather kernel, and locates every error by file and record.
"""

from __future__ import annotations

import hashlib
import mmap
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

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
    QUAL2,
    RECORD,
    SEQ,
    SEQ2,
    SOURCE,
    numeric_array,
    read_schema,
    source_column,
)
from .streams import READ_SIZE, UNBOUNDED, ChunkStream

DEFAULT_BLOCK_BASES = 16_000_000
RELEASE_BYTES = 32 << 20  # a mapped window gives back scanned pages in steps of this
MAX_BLOCK_ROWS = 262_144

IUPAC_OTHER = b"RYSWKMBDHVU"


def _dna_table(keep_iupac: bool, keep_dots: bool, fasta: bool) -> np.ndarray:
    t = np.full(256, -1, dtype=np.int16)
    for c in b"ACGTN":
        t[c] = c
        t[c + 32] = c
    for c in IUPAC_OTHER:
        t[c] = c if keep_iupac else ord("N")
        t[c + 32] = c if keep_iupac else ord("N")
    t[ord(".")] = ord(".") if keep_dots else ord("N")
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


def seq_table(options: ReadOptions, fasta: bool) -> np.ndarray:
    """Byte → normalised byte of sequences (-1: invalid, -2: skipped in FASTA)."""
    key = ("seq", options.alphabet, options.keep_iupac, options.keep_dots, fasta)
    if key not in _TABLES:
        _TABLES[key] = (
            _protein_table(fasta)
            if options.alphabet == "protein"
            else _dna_table(options.keep_iupac, options.keep_dots, fasta)
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
    keep_dots: bool = False  # '.' stays (as fastp writes it) instead of becoming N
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


class BailOut(Exception):
    """A stand-in scanner met something only the full reader handles."""


class ChunkReader:
    """Iterates Arrow read batches of one chunk; `result` holds counts, rejects, digest."""

    def __init__(
        self,
        chunk: Chunk,
        options: ReadOptions | None = None,
        path: str | None = None,
        compression=None,
        first_record: int | None = None,
        phred_offset: int | None = None,
        skip: int = 0,
        take: int | None = None,
    ):
        """`skip`/`take`: records to pass over after the chunk's first record, and how many
        to read then (None: all). They read R2 of a split pair, whose records are placed
        by count, not by byte range; the digest is then of the records' text."""
        self.chunk = chunk
        self.skip = skip
        self.take = take
        self.phred_offset = phred_offset or chunk.phred_offset
        self.options = options or ReadOptions()
        self.path = path or chunk.source
        self.compression = compression or chunk.compression
        self.first_record = first_record if first_record is not None else (chunk.first_record or 0)
        self.consumed = 0  # raw bytes of the chunk read so far (for progress)
        self.fastq = chunk.fmt == "FASTQ"
        self.result = ChunkResult()

    # -- locating errors -------------------------------------------------------------
    def _lines_before(self, offset: int) -> int | None:
        """Newlines before a stream position: exact, by re-reading the chunk (errors only).
        Known only where the stream starts at the file start."""
        if self.chunk.index != 0:
            return None
        count = 0
        seen = 0
        with ChunkStream(
            self.chunk,
            path=None if self.path == self.chunk.source else self.path,
            compression=self.compression,
            digest=False,
            mapped=False,
        ) as stream:
            while seen < offset:
                piece = stream.read()
                if not piece:
                    break
                count += piece.count(b"\n", 0, offset - seen)
                seen += len(piece)
        return count

    def _error(self, msg: str, local_record: int, offset: int, line_in_record: int = 0):
        """A FormatError for the record at stream position `offset` (problem on the given
        line of the record): line number where known, else the byte offset."""
        rec = self.first_record + local_record
        before = self._lines_before(offset)
        line = before + line_in_record + 1 if before is not None else None
        where: int | None = offset
        if self.compression.value == "none":
            where = offset + self.chunk.start  # a file offset for plain text
        elif self.chunk.index:
            where = None  # inside a BGZF range: no file offset to give
        return FormatError(
            msg,
            path=self.path,
            record=rec + 1,
            line=line,
            offset=None if line is not None else where,
        )

    def _message(self, code: int) -> str:
        return K.ERROR_MESSAGES[code].format(marker="@" if self.fastq else ">")

    # -- the scan loop -----------------------------------------------------------------
    def _next_start(self, win: _Window, q: int) -> int:
        """Stream position of the first record start after the first newline at or after
        `q`: where the chunk starting at `q` begins, so neighbours agree on the boundary."""
        resync = K.fastq_resync if self.fastq else K.fasta_resync
        while True:
            i = win.find_newline(max(q - win.base, 0))
            if i >= 0:
                p = i + 1
                break
            if not win.append():
                return win.end
        while True:
            r = resync(win.buf, p, win.eof)
            if r >= 0:
                return win.base + r
            if r == -1:
                return win.end
            win.append()  # -2: needs more text; at the end the next try has eof set

    def iter_raw(self, scan=None) -> Iterator[tuple[np.ndarray, np.ndarray, int, int]]:
        """Yields (buffer, boundary rows, local index of first row, stream position of
        buffer[0]) per scanner call; rows hold buffer indices. Another `scan` with the
        scanners' signature may stand in (the statistics scan); its BAIL raises BailOut."""
        scan = scan or (K.scan_fastq if self.fastq else K.scan_fasta)
        opts = self.options
        out = np.empty((MAX_BLOCK_ROWS, K.NCOLS), dtype=np.int64)
        by_count = self.skip > 0 or self.take is not None
        stream = ChunkStream(
            self.chunk,
            path=None if self.path == self.chunk.source else self.path,
            compression=self.compression,
            digest=opts.digest and not by_count,
        )
        text_sha = hashlib.sha256() if opts.digest and by_count else None
        skip = self.skip
        with stream:
            win = _Window(stream)
            pos = 0  # stream position of the next record
            local = 0
            boundary = None  # stream position where the next chunk's records begin
            if self.chunk.start > 0 and not self.chunk.whole_file:
                pos = self._next_start(win, 0)
            while True:
                limit = boundary if boundary is not None else stream.owner_end
                buf = win.buf
                k, newpos, reason, _ = scan(
                    buf,
                    pos - win.base,
                    limit - win.base,
                    win.eof,
                    out,
                    opts.block_bases,
                    opts.lenient,
                )
                self.consumed = win.consumed()
                if k and by_count:
                    rows, skip = self._by_count(out[:k], skip, local, win, newpos, text_sha)
                    if len(rows):
                        yield buf, rows, local, win.base
                        local += len(rows)
                    if self.take is not None and local >= self.take:
                        break
                elif k:
                    rows = out[:k].copy()
                    self._note_errors(rows, local, win)
                    yield buf, rows, local, win.base
                    local += k
                pos = win.base + newpos
                if reason == K.FULL:
                    win.release(pos)
                    continue
                if reason == K.BAIL:
                    raise BailOut(pos)
                if reason == K.DONE and pos >= limit:
                    if boundary is None and stream.range_end is not None:
                        boundary = self._next_start(win, stream.range_end)
                        if pos < boundary:
                            continue
                    if boundary is not None:
                        break
                elif reason == K.DONE and win.eof:
                    break
                win.advance(pos)
            # the whole owned raw range goes through the digest
            stream.drain()
        self.result.records = local
        self.result.digest = text_sha.hexdigest() if text_sha is not None else stream.digest

    def _by_count(self, found, skip: int, local: int, win: _Window, newpos: int, sha):
        """The rows of a scanner call after `skip` more records, up to `take` in all;
        the text they span goes into `sha`. Returns (rows, records still to skip)."""
        d = min(skip, len(found))
        rows = found[d:]
        if self.take is not None:
            rows = rows[: self.take - local]
        # an error in a skipped record is still an error (it is another chunk's to
        # report, but a strict read must not go past it); leniently it is that chunk's.
        # found[0] lies `skip` records before the first record this reader takes.
        if self.options.lenient:
            self._note_errors(rows, local, win)
        else:
            self._note_errors(found[: d + len(rows)], local - skip, win)
        rows = rows.copy()
        if len(rows) and sha is not None:
            start = int(rows[0, 0]) - (1 if rows[0, 6] == 0 else 0)
            end = self._record_end(win.buf, rows[-1]) if len(rows) < len(found) - d else newpos
            sha.update(win.text(start, end))
        return rows, skip - d

    def _note_errors(self, rows: np.ndarray, local: int, win: _Window) -> None:
        errors = np.flatnonzero(rows[:, 6] != 0)
        if not len(errors):
            return
        if not self.options.lenient:
            r = rows[errors[0]]
            raise self._error(
                self._message(int(r[6])), local + int(errors[0]), win.base + int(r[0]), int(r[2])
            )
        for i in errors:
            r = rows[i]
            self._reject(local + int(i), self._message(int(r[6])), win.text(r[0], r[1]))

    def _reject(self, local_record: int, reason: str, text: bytes) -> None:
        self.result.rejects.append(
            Reject(self.path, self.first_record + local_record, reason, bytes(text))
        )

    def __iter__(self) -> Iterator[pa.Table]:
        for buf, rows, local, base in self.iter_raw():
            yield self.build_table(buf, rows, local, base)

    def _fields(self):
        opts = self.options
        yield (0, 1, NAME_TABLE, False, "invalid byte {c} in header", pa.large_string(), 0)
        yield (
            2,
            3,
            seq_table(opts, not self.fastq),
            not self.fastq,
            "invalid character {c} in sequence",
            pa.large_binary(),
            1,
        )
        if self.fastq:
            po = self.phred_offset
            yield (
                4,
                5,
                qual_table(po),
                False,
                f"quality character {{c}} outside Phred+{po} range",
                pa.large_binary(),
                3,
            )

    def build_table(self, buf, rows, local, base) -> pa.Table:
        """Arrow columns of the good rows; a bad byte fails the chunk, or (lenient) turns
        its record into a reject and the columns are gathered again without it."""
        while True:
            good_idx = np.flatnonzero(rows[:, 6] == 0)
            good = rows[good_idx]
            cols = []
            failed = None
            for field_ in self._fields():
                s_col, e_col, table, skip_nl, _, typ, _ = field_
                values, offsets, bad, badpos = K.gather(
                    buf, good[:, s_col], good[:, e_col], table, skip_nl
                )
                if bad < 0 and typ == pa.large_string():
                    bad = _first_non_utf8(values, offsets)
                    badpos = -1
                if bad >= 0:
                    failed = field_
                    break
                cols.append(_binary(values, offsets, typ))
            if failed is None:
                break
            msg, line = failed[4], failed[6]
            i = int(good_idx[bad])
            if badpos < 0:
                text = "header is not valid UTF-8 text"
                badpos = int(rows[i, 0])
            else:
                text = msg.format(c=f"'{_char(int(buf[badpos]))}'")
            if not self.options.lenient:
                # FASTA bodies span lines: locate the bad byte itself
                at = base + (int(badpos) if not self.fastq else int(rows[i, 0]) - 1)
                raise self._error(text, local + i, at, 0 if not self.fastq else line)
            self._reject(local + i, text, buf[rows[i, 0] - 1 : self._record_end(buf, rows[i])])
            rows[i, 6] = K.E_CONTENT
        n = len(good)
        quals = cols[2] if self.fastq else pa.nulls(n, pa.large_binary())
        ordinals = good_idx.astype(np.int64) + (self.first_record + local)
        return pa.Table.from_arrays(
            [cols[0], cols[1], quals, source_column(self.path, n), numeric_array(ordinals)],
            schema=read_schema(False),
        )

    def _record_end(self, buf, row) -> int:
        if self.fastq:
            return min(int(row[5]) + 1, len(buf))  # the quality line and its newline
        return int(row[3])  # a FASTA body ends where the next record starts


def _first_non_utf8(values: np.ndarray, offsets: np.ndarray) -> int:
    """Index of the first value that is not UTF-8, or -1 (ASCII needs no check)."""
    if len(values) == 0 or int(values.max()) < 128:
        return -1
    high = np.flatnonzero(values >= 128)
    for i in np.unique(np.searchsorted(offsets, high, side="right") - 1):
        try:
            values[offsets[i] : offsets[i + 1]].tobytes().decode("utf-8")
        except UnicodeDecodeError:
            return int(i)
    return -1


def normalize_table(table: pa.Table, options: ReadOptions, path: str) -> pa.Table:
    """Reads from BAM or Parquet held to the text readers' rules: sequences through the
    same table (case, '.', IUPAC), qualities Phred+33 and as long as their sequence."""
    stable = seq_table(options, False)
    qtable = qual_table(33)
    cols = {name: table.column(name) for name in table.column_names}
    for seq, qual in ((SEQ, QUAL), (SEQ2, QUAL2)):
        if seq not in cols:
            continue
        values, offsets = values_offsets(cols[seq])
        new, new_off, bad, badpos = K.gather(values, offsets[:-1], offsets[1:], stable, False)
        if bad >= 0:
            raise _table_error(
                table, bad, f"invalid character '{_char(int(values[badpos]))}' in sequence", path
            )
        cols[seq] = _binary(new, new_off)
        q = cols[qual]
        if q.null_count == len(q):
            continue
        qv, qo = values_offsets(q)
        _, _, bad, badpos = K.gather(qv, qo[:-1], qo[1:], qtable, False)
        if bad >= 0:
            raise _table_error(
                table,
                bad,
                f"quality character '{_char(int(qv[badpos]))}' outside Phred+33 range",
                path,
            )
        valid = ~np.asarray(q.is_null())
        diff = np.flatnonzero(valid & (np.diff(qo) != np.diff(offsets)))
        if len(diff):
            raise _table_error(table, int(diff[0]), "sequence and quality lengths differ", path)
    return pa.Table.from_arrays([cols[n] for n in table.column_names], schema=table.schema)


def _table_error(table: pa.Table, row: int, msg: str, path: str) -> FormatError:
    return FormatError(msg, path=path, record=int(table.column(RECORD)[row].as_py()) + 1)


class _Window:
    """The decompressed text in memory: `data`, and the stream position of data[0].

    A mapped stream (a local plain file) is not read at all: `data` is the whole file's
    map, with data[0] at the file's start, and the window shows the scanner as much of it
    as the pieces of an unmapped read would have brought in (READ_SIZE at a time), so
    batches end where they would on S3 or with any other stream. Pages already scanned
    are dropped from this process as the window advances."""

    def __init__(self, stream: ChunkStream):
        self.stream = stream
        self.mapped = stream.map is not None
        self._ended = False  # (mapped) a read past the file's end was asked for
        # the file's map when mapped, else the text read so far (bytes): `mapped` tells which
        self.data: Any
        if self.mapped:
            self.data = stream.map
            self.base = -stream.chunk.start
            self._shown = min(len(self.data), stream.chunk.start + READ_SIZE)
            self._released = 0
        else:
            self.data = stream.read()
            self.base = 0

    def consumed(self) -> int:
        """Raw bytes of the chunk read (or shown, when mapped) so far."""
        if self.mapped:
            return max(0, self._shown - self.stream.chunk.start)
        return self.stream.raw_consumed

    @property
    def eof(self) -> bool:
        """The stream has no more text than the window holds."""
        return self._ended if self.mapped else self.stream.eof

    @property
    def buf(self) -> np.ndarray:
        if self.mapped:
            return np.frombuffer(self.data, dtype=np.uint8, count=self._shown)
        return np.frombuffer(self.data, dtype=np.uint8)

    @property
    def end(self) -> int:
        return self.base + (self._shown if self.mapped else len(self.data))

    def find_newline(self, i: int) -> int:
        """Index of the first LF at or after data index `i` in the window, or -1."""
        if self.mapped:
            return self.data.find(b"\n", i, self._shown)
        return self.data.find(b"\n", i)

    def text(self, start: int, end: int) -> bytes:
        return bytes(self.data[start:end])

    def append(self) -> bool:
        """Read the next piece, keeping everything; False at the end of the stream."""
        if self.mapped:
            if self._shown == len(self.data):
                self._ended = True
                return False
            self._shown = min(len(self.data), self._shown + READ_SIZE)
            return True
        piece = self.stream.read()
        self.data += piece
        return bool(piece)

    def release(self, pos: int) -> None:
        """A mapped window's pages before stream position `pos` leave this process's
        memory (they stay in the page cache)."""
        if not self.mapped:
            return
        done = (pos - self.base) // RELEASE_BYTES * RELEASE_BYTES
        if done > self._released:
            self.data.madvise(mmap.MADV_DONTNEED, self._released, done - self._released)
            self._released = done

    def advance(self, pos: int) -> None:
        """Drop text before stream position `pos` and read the next piece."""
        if self.mapped:
            self.release(pos)
            self.append()
            return
        drop = pos - self.base
        self.data = self.data[drop:] + self.stream.read()
        self.base = pos


def count_chunk_records(chunk: Chunk, options: ReadOptions | None = None) -> int:
    """Records (good and bad) owned by a chunk: the scan without building columns."""
    opts = replace(options or ReadOptions(), lenient=True, digest=False)
    reader = ChunkReader(chunk, opts, first_record=0)
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
        self.mate: str = chunk.mate
        self.r1 = ChunkReader(chunk, options)
        at = chunk.mate_start
        if chunk.split_pair and at is None:
            raise ValueError(f"{chunk.key}: a split pair's chunk needs numbering first")
        if at is None:
            self.r2 = ChunkReader(
                chunk,
                options,
                path=chunk.mate,
                compression=chunk.mate_compression,
                phred_offset=chunk.mate_phred_offset,
            )
        else:  # a split pair: R2 from the record with this chunk's first ordinal
            mate = replace(chunk.mate_chunk(at.index), end=UNBOUNDED)
            self.r2 = ChunkReader(
                mate, options, first_record=chunk.first_record, skip=at.skip, take=at.take
            )
        self.result = ChunkResult()

    @property
    def consumed(self) -> int:
        return self.r1.consumed

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
            while not done2 and n2 <= n1:  # `<=`: R2 is read to its end too
                t = next(it2, None)
                if t is None:
                    done2 = True
                else:
                    pend2.append(t)
                    n2 += len(t)
            m = min(n1, n2)
            if m == 0:
                # a side holding nothing here has ended: the other must have ended too
                if n1 != n2:
                    self._count_mismatch(n1, n2)
                break
            if m:
                a = pa.concat_tables(pend1).combine_chunks()
                b = pa.concat_tables(pend2).combine_chunks()
                self._check_ordinals(a.slice(0, m), b.slice(0, m))
                check_mate_names(a.slice(0, m), b.slice(0, m), self.chunk.source, self.mate)
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
