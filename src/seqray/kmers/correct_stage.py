"""The `correct` stage: spectrum-based error correction as a map stage.

Correction needs the trusted k-mers of the whole input before the first read is fixed, so
the stage asks the runner for a *prepare* pass (as duplicate marking does): every chunk's
canonical k-mers are counted into spill files by the counter's partitioned tables, the
partitions are merged as reduce tasks (first for the spectrum, which sets the solid
threshold, then for the k-mers at or above it), and the sorted result becomes a
`TrustedSet`, which the runner shares with the workers (`runner.share`: once into Ray's
object store, which every worker maps without a copy; in-process, the object itself).
The main pass then corrects each batch independently, so the output does not depend on
chunking, threads or runner.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from ..errors import SeqrayError
from ..io.fs import filesystem_for, join
from ..io.schema import numeric_array
from ..io.writers import write_file, write_json
from ..pipeline.outputs import Target
from ..pipeline.registry import (
    DictAccumulator,
    FinishContext,
    MapStage,
    PrepareContext,
    Shared,
    SinkStage,
    StageConfig,
    register,
)
from .correct import CORRECTED, UNCORRECTABLE, CorrectionParams, correct_column
from .count import PartitionedTable, merge_rows, read_spill_rows
from .spectrum import analyse
from .stages import CountConfig, CountWriter
from .trusted import TrustedSet

SEQ_COLUMNS = (("seq", "qual", "corrected_bases"), ("seq2", "qual2", "corrected_bases2"))
REDUCE_TASKS = 16  # partition ranges merged in parallel
HISTO_MAX = 10_000  # counts above this are tallied in the last histogram bin


class CorrectConfig(StageConfig):
    k: int = Field(default=31, ge=9, le=32)
    min_count: Literal["auto"] | int = "auto"
    high_quality: int = Field(default=30, ge=0, le=93)
    min_support: int = Field(default=2, ge=1)
    max_fixes: int = Field(default=4, ge=1)
    fix_window: int = Field(default=20, ge=1)
    table_memory_mb: int = Field(default=256, ge=1)

    def params(self) -> CorrectionParams:
        return CorrectionParams(
            self.high_quality, self.min_support, self.max_fixes, self.fix_window
        )


# -- prepare: count every chunk's canonical k-mers into spill files (the counter's writer) --


class KmerScan(SinkStage):
    """Internal sink of the prepare pass (not a stage users name)."""

    name = "correct-scan"

    def __init__(self, directory: str, k: int, budget: int):
        super().__init__(StageConfig())
        self.directory, self.k, self.budget = directory, k, budget

    def open(self, chunk, chunk_id: str, output: str) -> list:
        config = CountConfig(k=self.k, canonical=True, memory=self.budget)
        return [CountWriter(join(self.directory, f"kmers-{chunk_id}.bin"), config)]


def _merged(task: tuple[list[str], int, int]) -> tuple[np.ndarray, np.ndarray]:
    uris, lo, hi = task
    return merge_rows([rows for u in uris for rows in read_spill_rows(u, lo, hi)])


def _histogram_task(task: tuple[list[str], int, int]) -> np.ndarray:
    _, counts = _merged(task)
    return np.bincount(np.minimum(counts, HISTO_MAX).astype(np.int64), minlength=HISTO_MAX + 1)


def _solid_task(task: tuple[list[str], int, int, int]) -> np.ndarray:
    keys, counts = _merged(task[:3])
    return keys[counts >= task[3]]


def build_trusted(ctx: PrepareContext, config: CorrectConfig) -> tuple[TrustedSet, dict]:
    """Counts the input's k-mers where the pipeline runs and keeps the solid ones; on
    `--resume`, takes the set an interrupted run saved instead."""
    directory = ctx.state_dir("correct")
    saved = ctx.load_prepared("correct")
    if saved is not None:
        return TrustedSet.from_bytes(_read(saved["trusted"])), saved["spectrum"]
    budget = config.table_memory_mb << 20
    outcomes = ctx.scan(KmerScan(directory, config.k, budget))
    uris = [s.uri for o in outcomes for s in o.shards_of(KmerScan.name)]
    n_parts = PartitionedTable(config.k, initial_slots=1).n_parts
    edges = np.linspace(0, n_parts, min(REDUCE_TASKS, n_parts) + 1).astype(int)
    ranges = [(uris, int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    try:
        histogram = np.sum(ctx.runner.map(_histogram_task, ranges), axis=0)
        if config.min_count == "auto":
            # the spectrum's first valley; 2 when it has none (low coverage, error-free reads)
            spectrum = analyse({c: int(n) for c, n in enumerate(histogram) if c and n})
            threshold = spectrum["solid_threshold"] or 2
        else:
            threshold = int(config.min_count)
        keys = ctx.runner.map(_solid_task, [(*r, threshold) for r in ranges])
    finally:
        for u in uris:
            fs, path = filesystem_for(u)
            fs.delete_file(path)
    trusted = TrustedSet.from_sorted(config.k, np.concatenate(keys), threshold)
    last = int(np.flatnonzero(histogram)[-1]) if histogram.any() else 0
    info = {
        "k": config.k,
        "min_count": threshold,
        "min_count_auto": config.min_count == "auto",
        "distinct_kmers": int(histogram[1:].sum()),
        "trusted_kmers": len(trusted),
        "trusted_bytes": trusted.nbytes,
        "histogram": [[c, int(histogram[c])] for c in range(1, min(last, 64) + 1)],
    }
    uri = join(directory, "trusted.bin")
    ctx.save_prepared(
        "correct", [write_file(uri, trusted.to_bytes())], {"trusted": uri, "spectrum": info}
    )
    return trusted, info


def _read(uri: str) -> bytes:
    fs, path = filesystem_for(uri)
    with fs.open_input_stream(path, compression=None) as f:
        return f.read()


# -- the stage ----------------------------------------------------------------------------


class CorrectionTally(DictAccumulator):
    """reads, clean, corrected, uncorrectable, bases_changed; mergeable with +=."""

    KEYS = ("reads", "clean", "corrected", "uncorrectable", "bases_changed")

    def __init__(self, *args: Any, **kw: Any):
        super().__init__({k: 0 for k in self.KEYS})
        self.update(*args, **kw)

    def __iadd__(self, other: CorrectionTally) -> CorrectionTally:
        for k in self.KEYS:
            self[k] += other[k]
        return self


@register
class CorrectStage(MapStage):
    """Fixes substitution errors with the input's own trusted k-mers; adds the number of
    bases changed per read (`corrected_bases`, and `corrected_bases2` for mates)."""

    name = "correct"
    Config = CorrectConfig
    config: CorrectConfig
    Accumulator = CorrectionTally

    @staticmethod
    def summarize(report: dict) -> str:
        r, t = report["reads"], report.get("trusted", {})
        return (
            f"{r['corrected']:,} of {r['reads']:,} reads corrected ({r['bases_changed']:,} "
            f"bases), {r['uncorrectable']:,} uncorrectable; {t.get('trusted_kmers', 0):,} "
            f"trusted {t.get('k')}-mers (count >= {t.get('min_count')})"
        )

    trusted: Shared | None = None  # the set, handed to the workers by the runner
    spectrum: dict | None = None

    def needs_prepare(self) -> bool:
        return True

    def targets(self, output: str, paired: bool, label: str) -> list[Target]:
        return [Target(join(output, "correction.json"), "file", label)]

    def prepare(self, ctx: PrepareContext) -> None:
        trusted, self.spectrum = build_trusted(ctx, self.config)
        self.trusted = ctx.runner.share(trusted)

    def _trusted(self) -> TrustedSet:
        if self.trusted is None:
            raise SeqrayError("stage correct: the trusted k-mers were not prepared")
        trusted: TrustedSet = self.trusted.get()
        return trusted

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        for seq, _, out in SEQ_COLUMNS:
            if seq in schema.names:
                schema = schema.append(pa.field(out, pa.int32(), nullable=False))
        return schema

    def transform(self, table: pa.Table, acc: CorrectionTally, chunk) -> pa.Table:
        trusted = self._trusted()
        params = self.config.params()
        for seq, qual, out in SEQ_COLUMNS:
            if seq not in table.column_names:
                continue
            q = table.column(qual) if qual in table.column_names else None
            column, changed, status = correct_column(table.column(seq), q, trusted, params)
            i = table.schema.get_field_index(seq)
            table = table.set_column(i, table.schema.field(i), column)
            table = table.append_column(
                pa.field(out, pa.int32(), nullable=False),
                numeric_array(changed.astype(np.int32, copy=False)),
            )
            acc["reads"] += len(status)
            acc["corrected"] += int(np.count_nonzero(status == CORRECTED))
            acc["uncorrectable"] += int(np.count_nonzero(status == UNCORRECTABLE))
            acc["clean"] += int(np.count_nonzero(status == 0))
            acc["bases_changed"] += int(changed.sum())
        return table

    def finish(self, acc: CorrectionTally, ctx: FinishContext) -> dict:
        report = {"reads": dict(acc), "trusted": self.spectrum or {}}
        ctx.record(write_json(join(ctx.output, "correction.json"), report))
        return report
