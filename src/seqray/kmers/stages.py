"""The `count` pipeline stage: exact k-mer counts as sorted Parquet shards, a jellyfish-style
histogram and a summary with the spectrum analysis.

Per chunk, a writer counts on a background thread (the parser keeps the main thread) and
spills sorted (k-mer, count) segments; `finish` reduces each output partition as a task
(Ray tasks on the Ray runner) and writes `counts/part-QQQQQ.parquet`, `histo.txt` and
`summary.json`. See `seqray.kmers.count` for the data flow.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field, ValidationInfo, field_validator

from ..io.buffers import values_offsets
from ..io.formats import WrittenShard
from ..io.fs import join
from ..io.schema import SEQ, SEQ2, numeric_array
from ..io.writers import WrittenFile, write_file
from ..pipeline.outputs import Target
from ..pipeline.records import ShardRecord
from ..pipeline.registry import FinishContext, SinkStage, StageConfig, register
from .count import (
    COUNT_LIMIT,
    PartitionedTable,
    SpillWriter,
    count_histogram,
    merge_rows,
    prefix_bits,
    read_spill_rows,
)
from .encode import decode_bytes, valid_kmers
from .spectrum import HISTO_HIGH, analyse, histo_text

SPILL_DIR = "count-spill"
PARTITION_BYTES = 256 << 20  # spill bytes per output partition when not set


def counts_schema(text: bool) -> pa.Schema:
    fields = [pa.field("kmer", pa.uint64(), nullable=False)]
    if text:
        fields.append(pa.field("kmer_text", pa.large_string(), nullable=False))
    fields.append(pa.field("count", pa.uint64(), nullable=False))
    return pa.schema(fields)


class CountConfig(StageConfig):
    k: int = Field(ge=1, le=32)
    canonical: bool = False
    min_count: int = Field(default=1, ge=1)
    max_count: int | None = Field(default=None, ge=1)
    text: bool = False  # also write each k-mer as text
    path: str = Field(default="counts", pattern=r"^[A-Za-z0-9_.-]+$")
    partitions: int | None = Field(default=None, ge=1)  # output shards (a power of two)
    memory: int = Field(default=2 << 30, ge=1 << 20)  # table bytes per chunk before a spill
    histo_high: int = Field(default=HISTO_HIGH, ge=1)

    @field_validator("memory", mode="before")
    @classmethod
    def _size(cls, v):
        from ..pipeline.config import parse_size

        return parse_size(v)

    # checks across keys are on the later key, so errors name it (and the CLI its option)
    @field_validator("max_count")
    @classmethod
    def _max_count(cls, v, info: ValidationInfo):
        if v is not None and v < info.data.get("min_count", 1):
            raise ValueError("max_count must be at least min_count")
        return v

    @field_validator("partitions")
    @classmethod
    def _partitions(cls, v, info: ValidationInfo):
        if v is not None and "k" in info.data:
            most = 1 << prefix_bits(info.data["k"])
            if v & (v - 1) or v > most:
                raise ValueError(
                    f"partitions must be a power of two up to {most} at k={info.data['k']}"
                )
        return v


class CountWriter:
    """Counts one chunk's k-mers on a background thread; close() spills the table."""

    def __init__(self, uri: str, config: CountConfig):
        self.config = config
        threads = min(2, os.cpu_count() or 1)
        self.inner = ThreadPoolExecutor(threads) if threads > 1 else None
        self.table = PartitionedTable(config.k, pool=self.inner)
        self.spill = SpillWriter(uri, config.k, self.table.n_parts)
        self.worker = ThreadPoolExecutor(1)
        self.pending: list[Future] = []

    def write(self, table: pa.Table) -> None:
        if not len(table):
            return
        while len(self.pending) >= 2:  # bounded: at most two batches wait
            self.pending.pop(0).result()
        self.pending.append(self.worker.submit(self._count, table))

    def _count(self, table: pa.Table) -> None:
        for col in (SEQ, SEQ2):
            if col in table.column_names:
                values, offsets = values_offsets(table.column(col))
                self.table.add(valid_kmers(values, offsets, self.config.k, self.config.canonical))
        t = self.table
        if t.nbytes + 8 * t.pending_codes > self.config.memory or t.occurrences > COUNT_LIMIT // 2:
            self._flush()

    def _flush(self) -> None:
        self.spill.add_segment(*self.table.rows())
        self.table.clear()

    def commit(self) -> WrittenShard:
        for f in self.pending:
            f.result()
        self.pending = []
        self._flush()
        self._shutdown()
        return WrittenShard.of_file(self.spill.close())

    def abort(self) -> None:
        for f in self.pending:
            f.cancel()
        self._shutdown()
        self.spill.abort()

    def _shutdown(self) -> None:
        self.worker.shutdown(wait=True)
        if self.inner is not None:
            self.inner.shutdown(wait=True)


@dataclass
class ReduceTask:
    index: int  # output partition
    partitions: int  # output partitions
    spills: list[str]
    uri: str  # the Parquet shard to write
    config: CountConfig


def reduce_partition(task: ReduceTask) -> dict:
    """Merges one output partition of every spill, writes its sorted shard; returns the
    shard and the partition's histogram (of all k-mers, before min/max count)."""
    c = task.config
    n_int = 1 << prefix_bits(c.k)
    lo = task.index * n_int // task.partitions
    hi = (task.index + 1) * n_int // task.partitions
    rows = [r for uri in task.spills for r in read_spill_rows(uri, lo, hi)]
    keys, counts = merge_rows(rows)
    hist = count_histogram(counts)
    keep = counts >= c.min_count
    if c.max_count is not None:
        keep &= counts <= c.max_count
    if not keep.all():
        keys, counts = keys[keep], counts[keep]
    columns = [numeric_array(keys.astype(np.uint64, copy=False))]
    if c.text:
        data = decode_bytes(keys, c.k).tobytes()
        offsets = np.arange(0, (len(keys) + 1) * c.k, c.k, dtype=np.int64)
        columns.append(
            pa.LargeStringArray.from_buffers(len(keys), pa.py_buffer(offsets), pa.py_buffer(data))
        )
    columns.append(numeric_array(counts.astype(np.uint64, copy=False)))
    f = _write_counts(task.uri, pa.Table.from_arrays(columns, schema=counts_schema(c.text)))
    return {"file": f.__dict__, "histogram": sorted(hist.items())}


def _write_counts(uri: str, table: pa.Table) -> WrittenFile:
    """One Parquet shard; sorted k-mers and counts delta-encode to a fraction of zstd alone."""
    buf = pa.BufferOutputStream()
    encoding = {"kmer": "DELTA_BINARY_PACKED", "count": "DELTA_BINARY_PACKED"}
    pq.write_table(
        table,
        buf,
        compression="zstd",
        use_dictionary=False,
        column_encoding=encoding,
        row_group_size=1 << 20,
    )
    return write_file(uri, buf.getvalue().to_pybytes(), len(table))


def choose_partitions(config: CountConfig, spill_bytes: int) -> int:
    if config.partitions:
        return config.partitions
    want = max(1, -(-spill_bytes // PARTITION_BYTES))
    return min(1 << prefix_bits(config.k), 1 << (want - 1).bit_length())


@register
class CountStage(SinkStage):
    """Exact k-mer counts (jellyfish's definitions): counts shards, histo.txt, summary.json."""

    name = "count"
    Config = CountConfig
    config: CountConfig

    @staticmethod
    def summarize(report: dict) -> str:
        line = (
            f"{report['distinct']:,} distinct {report['k']}-mers, {report['total']:,} in all, "
            f"{report['singletons']:,} seen once"
        )
        spectrum = report.get("spectrum") or {}
        if spectrum.get("genome_size"):
            line += (
                f"; coverage peak {spectrum['kmer_coverage']}, genome size "
                f"~{spectrum['genome_size']:,} bp"
            )
        return line

    def targets(self, output: str, paired: bool, label: str) -> list[Target]:
        return [
            Target(join(output, self.config.path), "dir", label, "part-*.parquet"),
            Target(join(output, "histo.txt"), "file", label),
            Target(join(output, "summary.json"), "file", label),
        ]

    def open(self, chunk, chunk_id: str, output: str) -> list:
        uri = join(output, "_seqray", f"{SPILL_DIR}-{self.config.path}", f"spill-{chunk_id}.bin")
        return [CountWriter(uri, self.config)]

    def finish(self, shards: list[ShardRecord], ctx: FinishContext) -> list[WrittenFile]:
        c = self.config
        spills = [s.uri for s in shards]
        parts = choose_partitions(c, sum(f.bytes for s in shards for f in s.files))
        tasks = [
            ReduceTask(q, parts, spills, join(ctx.output, c.path, f"part-{q:05d}.parquet"), c)
            for q in range(parts)
        ]
        results = ctx.runner.map(reduce_partition, tasks)
        hist: Counter = Counter()
        for r in results:
            hist.update(dict(r["histogram"]))
        files = [WrittenFile(**r["file"]) for r in results]
        histogram = dict(sorted(hist.items()))
        summary = {
            "k": c.k,
            "canonical": c.canonical,
            "distinct": sum(histogram.values()),
            "total": sum(k * n for k, n in histogram.items()),
            "singletons": histogram.get(1, 0),
            "max_count": max(histogram, default=0),
            "min_count": c.min_count,
            "max_count_kept": c.max_count,
            "written": sum(f.rows for f in files),
            "partitions": parts,
            "prefix_bits": prefix_bits(c.k),
            "counts": c.path,
            "spectrum": analyse(histogram),
        }
        files.append(
            _write_text(join(ctx.output, "histo.txt"), histo_text(histogram, c.histo_high))
        )
        files.append(
            _write_text(join(ctx.output, "summary.json"), json.dumps(summary, indent=2) + "\n")
        )
        ctx.reports[self.name] = summary
        return files


def _write_text(uri: str, text: str) -> WrittenFile:
    return write_file(uri, text.encode(), text.count("\n"))
