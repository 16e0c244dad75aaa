"""Exact duplicate removal, distributed: the first copy by read identity is kept.

Two passes over the data. The *scan* hashes every raw read (or pair) to 128 bits and writes,
per chunk, (hash, identity) rows grouped into P hash partitions. The *reduce* sorts one
partition at a time (Ray tasks on the Ray runner) and marks every copy after the first by
identity `(source order, record)`; no process ever holds more than one partition. The main
pass then drops marked reads chunk by chunk. Identity, not arrival order, decides which copy
survives, so the result is the same for any worker count or chunk size.

One chunk (one gzip file or pair) is marked in the main pass itself instead
(`seqray.qc.dedup_inline`): read in order, the first copy is the first one seen.

Collisions: two different reads are merged only if their 128-bit hashes are equal. For n
reads the chance that any pair collides is at most n²/2¹²⁹ (≈ 1.5·10⁻¹⁹ at 10¹⁰ reads).
"""

from __future__ import annotations

import struct
from typing import ClassVar

import numpy as np
import pyarrow as pa
from numba import njit

from ..errors import SeqrayError
from ..hashing import mix64
from ..io.buffers import values_offsets
from ..io.formats import WrittenShard
from ..io.fs import filesystem_for, join
from ..io.schema import RECORD, SEQ, SEQ2, numeric_array
from ..io.spill import SpillWriter, read_spill
from ..io.writers import AtomicFile, WrittenFile
from ..pipeline.registry import (
    DictAccumulator,
    FinishContext,
    MapStage,
    PrepareContext,
    SinkStage,
    StageConfig,
    register,
)
from .dedup_inline import INLINE_LIMIT, InlineMarks

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xC2B2AE3D27D4EB4F)
_M3 = np.uint64(0x165667B19E3779F9)
SCAN_MAGIC = b"SQRYDUP2"
SCAN_COLUMNS = (np.uint64, np.uint64, np.uint64)  # hash high, hash low, identity
SCAN_BUDGET = 64 << 20  # bytes of scan rows a chunk holds before writing a segment
SOURCE_SHIFT = 40  # identity = source order << 40 | record (10^12 records per file)


@njit(cache=True, nogil=True, inline="always")
def _rotl(x, r):
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


@njit(cache=True, nogil=True, inline="always")
def _absorb(a, b, w):
    a = _rotl(a ^ (w * _M1), 31) * _M2
    b = _rotl(b + w * _M3, 27) * _M1 + a
    return a, b


@njit(cache=True, nogil=True, inline="always")
def _absorb_bytes(values, start, end, a, b):
    w = np.uint64(0)
    k = 0
    for p in range(start, end):
        w |= np.uint64(values[p]) << np.uint64(8 * k)
        k += 1
        if k == 8:
            a, b = _absorb(a, b, w)
            w = np.uint64(0)
            k = 0
    if k:
        a, b = _absorb(a, b, w)
    # the length ends the stream, so "AC" + "GT" and "ACG" + "T" differ in a pair
    return _absorb(a, b, np.uint64(end - start) | np.uint64(1 << 63))


@njit(cache=True, nogil=True)
def hash128(v1, o1, v2, o2, paired):
    """128-bit hashes (two uint64 words) of each read, or of each pair read 1 then read 2."""
    n = len(o1) - 1
    hi = np.empty(n, np.uint64)
    lo = np.empty(n, np.uint64)
    for i in range(n):
        a = np.uint64(0x243F6A8885A308D3)
        b = np.uint64(0x13198A2E03707344)
        a, b = _absorb_bytes(v1, o1[i], o1[i + 1], a, b)
        if paired:
            a, b = _absorb_bytes(v2, o2[i], o2[i + 1], a, b)
        a = mix64(a + b)
        b = mix64(b ^ _rotl(a, 17))
        hi[i] = a
        lo[i] = b
    return hi, lo


def read_hashes(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    v1, o1 = values_offsets(table.column(SEQ))
    paired = SEQ2 in table.column_names
    v2, o2 = values_offsets(table.column(SEQ2)) if paired else (v1, o1)
    return hash128(v1, o1, v2, o2, paired)


# -- scan: per chunk, (hash, identity) rows grouped by partition ---------------------------


class _ScanWriter:
    """Each batch's rows are ordered by partition when they arrive; when the rows held pass
    `budget` bytes they go to the chunk's spill file as a segment, so a chunk holds at most
    the budget in memory, however many reads it has."""

    def __init__(self, uri: str, source_index: int, partitions: int, budget: int = SCAN_BUDGET):
        self.spill = SpillWriter(uri, SCAN_MAGIC, partitions, SCAN_COLUMNS)
        self.base = np.int64(source_index) << np.int64(SOURCE_SHIFT)
        self.partitions, self.budget = partitions, budget
        self.parts: list[tuple[np.ndarray, ...]] = []  # (hi, lo, identity, bounds) per batch
        self.held = 0

    def write(self, table: pa.Table) -> None:
        if not len(table):
            return
        hi, lo = read_hashes(table)
        part = (hi % np.uint64(self.partitions)).astype(np.int64)
        order = np.argsort(part, kind="stable") if self.partitions > 1 else slice(None)
        ident = table.column(RECORD).to_numpy().astype(np.int64)[order] + self.base
        bounds = np.searchsorted(part[order], np.arange(self.partitions + 1))
        self.parts.append((hi[order], lo[order], ident.view(np.uint64), bounds))
        self.held += 24 * len(table)
        if self.held >= self.budget:
            self._flush()

    def _flush(self) -> None:
        """The held batches as one segment: partition by partition, batch order within."""
        if not self.parts:
            return
        pieces = [
            [cols[c][b[p] : b[p + 1]] for p in range(self.partitions) for *cols, b in self.parts]
            for c in range(3)
        ]
        sizes = sum(np.diff(part[3]) for part in self.parts)
        bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.spill.add_segment(tuple(np.concatenate(col) for col in pieces), bounds)
        self.parts, self.held = [], 0

    def commit(self) -> WrittenShard:
        self._flush()
        return WrittenShard.of_file(self.spill.close())

    def abort(self) -> None:
        self.parts = []
        self.spill.abort()


class DuplicateScan(SinkStage):
    """Internal sink of the scan pass (not a pipeline stage users name)."""

    name = "dedup-scan"

    def __init__(self, directory: str, source_order: list[str], partitions: int):
        super().__init__(StageConfig())
        self.directory = directory
        self.source_index = {s: i for i, s in enumerate(source_order)}
        self.partitions = partitions

    def open(self, chunk, chunk_id: str, output: str) -> list:
        uri = join(self.directory, f"scan-{chunk_id}.bin")
        return [_ScanWriter(uri, self.source_index[chunk.source], self.partitions)]


def reduce_partition(task: tuple[int, list[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One hash partition: identities of later copies, and (first identity, copies) of
    every read that has copies."""
    p, uris = task
    segments = [cols for u in uris for cols in read_spill(u, SCAN_MAGIC, SCAN_COLUMNS, p, p + 1)]
    if not segments:
        e = np.empty(0, np.int64)
        return e, e, e
    hi, lo, ident = (np.concatenate([seg[c] for seg in segments]) for c in range(3))
    order = np.lexsort((ident, lo, hi))
    hi, lo, ident = hi[order], lo[order], ident[order].view(np.int64)
    new = np.ones(len(hi), bool)
    new[1:] = (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])
    starts = np.flatnonzero(new)
    sizes = np.diff(np.append(starts, len(hi)))
    multi = sizes > 1
    return np.sort(ident[~new]), ident[starts[multi]], sizes[multi].astype(np.int64)


# -- marks: per chunk, the records to drop ----------------------------------------------


MARKS_MAGIC = b"SQRYMRK1"
MARK_FIELDS = ("dups", "firsts", "counts")  # int64 arrays, in this order


def _save_marks(uri: str, **arrays: np.ndarray) -> WrittenFile:
    """Magic, the three lengths, then the int64 values: no `np.load` to read it back, as
    its header parser (ast) is not thread-safe on Python 3.11 and marks load on threads."""
    cols = [np.ascontiguousarray(arrays[k], dtype="<i8") for k in MARK_FIELDS]
    f = AtomicFile(uri)
    f.write(MARKS_MAGIC + struct.pack("<3q", *(len(c) for c in cols)))
    for c in cols:
        f.write(c.tobytes())
    f.commit()
    return WrittenFile(uri, sum(len(c) for c in cols), f.size, f.sha.hexdigest())


def _load_marks(uri: str) -> dict[str, np.ndarray]:
    fs, path = filesystem_for(uri)
    with fs.open_input_stream(path, compression=None) as f:
        data = f.read()
    head = len(MARKS_MAGIC) + 24
    if data[: len(MARKS_MAGIC)] != MARKS_MAGIC or len(data) < head:
        raise SeqrayError(f"{uri}: not a duplicate-marks file")
    lens = struct.unpack("<3q", data[len(MARKS_MAGIC) : head])
    if head + 8 * sum(lens) != len(data):
        raise SeqrayError(f"{uri}: truncated duplicate-marks file")
    bounds = np.cumsum([0, *lens]) * 8 + head
    return {
        k: np.frombuffer(data, dtype="<i8", count=n, offset=int(o))
        for k, n, o in zip(MARK_FIELDS, lens, bounds)
    }


PARTITION_INPUT = 256 << 20  # input bytes per partition (compressed or not)


def scan_partitions(total_bytes: int) -> int:
    """One partition per 256 MiB of input: a reduce holds its rows twice (rows and their
    sorted copy, 24 bytes a read each), ~120 MB for 256 MiB of gzipped 150 bp reads and
    less for plain text. More partitions only add small reads of the scan files."""
    return int(min(1024, max(1, -(-total_bytes // PARTITION_INPUT))))


def build_duplicate_marks(ctx: PrepareContext) -> dict[str, str]:
    """Runs scan and reduce; returns chunk key → marks file (chunks with no copies absent)."""
    directory = ctx.state_dir("dedup")
    saved = ctx.load_prepared("dedup")  # an interrupted run's marks, still intact
    if saved is not None:
        return saved["marks"]
    partitions = scan_partitions(ctx.input_bytes)
    outcomes = ctx.scan(DuplicateScan(directory, ctx.source_order, partitions))
    uris = [s.uri for o in outcomes for s in o.shards_of("dedup-scan")]
    results = ctx.runner.map(reduce_partition, [(p, uris) for p in range(partitions)])
    dups = np.sort(np.concatenate([r[0] for r in results]))
    firsts = np.concatenate([r[1] for r in results])
    counts = np.concatenate([r[2] for r in results])
    order = np.argsort(firsts)
    firsts, counts = firsts[order], counts[order]
    source_index = {s: i for i, s in enumerate(ctx.source_order)}
    marks: dict[str, str] = {}
    files = []
    for o in outcomes:
        base = source_index[o.source] << SOURCE_SHIFT
        lo, hi = base + o.first_record, base + o.first_record + o.records
        d = dups[np.searchsorted(dups, lo) : np.searchsorted(dups, hi)]
        a, b = np.searchsorted(firsts, lo), np.searchsorted(firsts, hi)
        if not len(d) and a == b:
            continue
        uri = join(directory, f"marks-{o.chunk_id}.i64")
        files.append(_save_marks(uri, dups=d - base, firsts=firsts[a:b] - base, counts=counts[a:b]))
        marks[o.chunk] = uri
    for u in uris:
        fs, path = filesystem_for(u)
        fs.delete_file(path)
    ctx.save_prepared("dedup", files, {"marks": marks})
    return marks


def _member(values: np.ndarray, sorted_set: np.ndarray, positions: bool = False):
    """values ∈ sorted_set by binary search: O(batch · log set), with no sort of the set
    (np.isin would sort a chunk's whole mark list again for every batch)."""
    pos = np.searchsorted(sorted_set, values)
    np.minimum(pos, len(sorted_set) - 1, out=pos)
    hit = sorted_set[pos] == values if len(sorted_set) else np.zeros(len(values), bool)
    return (hit, pos) if positions else hit


class _ChunkMarks(InlineMarks):
    """A chunk's inline marks, registered with the stage while the chunk is read (its
    transform finds them by chunk key)."""

    def __init__(self, registry: dict[str, InlineMarks], key: str):
        super().__init__(read_hashes)
        self.registry, self.key = registry, key
        registry[key] = self

    def close(self) -> None:
        self.registry.pop(self.key, None)


class DuplicateMarking:
    """Mixin for a map stage that drops later copies of raw reads (`--dedup`).

    The stage says whether it marks duplicates; the runner then calls `prepare` before the
    main pass, and `duplicate_mask` / `copies` answer per batch in the workers."""

    name: ClassVar[str]  # the stage's, from the Stage class it is mixed into
    dup_marks: dict[str, str] | None = None
    dup_inline: bool = False  # marked while the main pass reads (one chunk: dedup_inline.py)

    def marks_duplicates(self) -> bool:
        raise NotImplementedError

    def needs_copies(self) -> bool:
        """Whether `copies` is asked: the count of a read's copies is known only once the
        whole input is read, so it needs the two passes."""
        return False

    def needs_prepare(self) -> bool:
        return self.marks_duplicates()

    def prepare(self, ctx: PrepareContext) -> None:
        self.dup_inline = (
            ctx.chunks == 1
            and ctx.first_map
            and ctx.input_bytes <= INLINE_LIMIT
            and not self.needs_copies()
        )
        self._dup_inline: dict[str, InlineMarks] = {}
        self.dup_marks = {} if self.dup_inline else build_duplicate_marks(ctx)
        self._dup_cache: tuple[str, dict] | None = None

    def in_order(self, chunk) -> _ChunkMarks | None:
        if not (self.marks_duplicates() and self.dup_inline):
            return None
        return _ChunkMarks(self._dup_inline, chunk.key)

    def _marks(self, chunk) -> dict[str, np.ndarray] | None:
        if self.dup_marks is None:
            raise SeqrayError(f"stage {self.name}: duplicate marks were not prepared")
        uri = self.dup_marks.get(chunk.key)
        if uri is None:
            return None
        cache = getattr(self, "_dup_cache", None)
        if cache is None or cache[0] != uri:
            cache = (uri, _load_marks(uri))
            self._dup_cache = cache
        return cache[1]

    def duplicate_mask(self, table: pa.Table, chunk) -> np.ndarray:
        """True for each row that is a later copy of an earlier read (to drop)."""
        if self.dup_inline:
            return self._dup_inline[chunk.key].take(table)
        marks = self._marks(chunk)
        if marks is None:
            return np.zeros(len(table), bool)
        return _member(table.column(RECORD).to_numpy(), marks["dups"])

    def copies(self, table: pa.Table, chunk) -> np.ndarray:
        """How many copies of each row's read the input holds (1 for a unique read)."""
        out = np.ones(len(table), np.int32)
        marks = self._marks(chunk)
        if marks is None or not len(marks["firsts"]):
            return out
        rec = table.column(RECORD).to_numpy()
        hit, pos = _member(rec, marks["firsts"], positions=True)
        out[hit] = marks["counts"][pos[hit]]
        return out


class DedupConfig(StageConfig):
    dup_count: bool = False  # add a `dup_count` column: copies of the read in the input


class DuplicateTally(DictAccumulator):
    """source → [reads seen, reads dropped, bases dropped], mergeable with +=."""

    def __iadd__(self, other: DuplicateTally) -> DuplicateTally:
        for k, v in other.items():
            cur = self.setdefault(k, [0, 0, 0])
            for j in range(3):
                cur[j] += v[j]
        return self


@register
class DedupStage(DuplicateMarking, MapStage):
    """Drops exact duplicates of the raw read (or pair); the first copy by identity stays."""

    name = "dedup"
    Config = DedupConfig
    config: DedupConfig
    Accumulator = DuplicateTally

    @staticmethod
    def summarize(report: dict) -> str:
        return (
            f"{report['duplicate_reads']:,} duplicates of {report['reads_in']:,} reads "
            f"({report['rate']:.2%}) removed"
        )

    def marks_duplicates(self) -> bool:
        return True

    def needs_copies(self) -> bool:
        return self.config.dup_count

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        return schema.append(pa.field("dup_count", pa.int32())) if self.config.dup_count else schema

    def transform(self, table: pa.Table, acc: DuplicateTally, chunk) -> pa.Table:
        mask = self.duplicate_mask(table, chunk)
        dropped = int(mask.sum())
        bases = 0
        if dropped:
            for c in (SEQ, SEQ2):
                if c in table.column_names:
                    _, off = values_offsets(table.column(c))
                    bases += int(np.diff(off)[mask].sum())
        acc += DuplicateTally({chunk.source: [len(table), dropped, bases]})
        if dropped:
            table = table.filter(pa.array(~mask))
        if self.config.dup_count:
            table = table.append_column("dup_count", numeric_array(self.copies(table, chunk)))
        return table

    def finish(self, acc: DuplicateTally, ctx: FinishContext) -> dict:
        def entry(seen: int, reads: int, bases: int) -> dict:
            return {
                "reads_in": seen,
                "duplicate_reads": reads,
                "duplicate_bases": bases,
                "rate": reads / seen if seen else 0.0,
            }

        total = [sum(v[j] for v in acc.values()) for j in range(3)]
        files = {f: entry(*acc[f]) for f in ctx.input_order if f in acc}
        return {**entry(*total), "files": files}
