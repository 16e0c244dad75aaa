"""The built-in stages: read (source), inspect (statistics), write (sink)."""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from ..errors import ConfigError
from ..io.chunks import Chunk
from ..io.fs import GLOB_CHARS, is_directory, join
from ..io.parse import ReadOptions
from ..io.schema import read_schema
from ..io.sources import plan_chunks
from ..io.writers import ParquetShardWriter, TextShardWriter, WrittenFile, concatenate, write_json
from ..qc.stats import ReadStats, stats_rows
from .kinds import ANY, READS, BatchKind
from .outputs import Target
from .records import ShardRecord
from .registry import FinishContext, MapStage, SinkStage, Stage, StageConfig, register


class ReadConfig(StageConfig):
    paths: list[str] = Field(min_length=1)
    mate_paths: list[str] | None = None
    format: Literal["auto", "FASTQ", "FASTA", "BAM", "SAM", "CRAM", "Parquet"] = "auto"
    phred_offset: Literal["auto", 33, 64] = "auto"
    alphabet: Literal["dna", "protein"] = "dna"
    keep_iupac: bool = False

    @field_validator("paths", "mate_paths", mode="before")
    @classmethod
    def _listify(cls, v):
        return [v] if isinstance(v, str) else v


@register
class ReadStage(Stage):
    """Reads FASTQ/FASTA/SAM/BAM/CRAM/Parquet, local or S3, into read batches."""

    name = "read"
    kind = "source"
    Config = ReadConfig
    config: ReadConfig

    def plan(self, chunk_bytes: int):
        c = self.config
        return plan_chunks(
            c.paths,
            c.mate_paths,
            chunk_bytes=chunk_bytes,
            phred_offset=c.phred_offset,
            fmt=None if c.format == "auto" else c.format,
        )

    def roots(self) -> list[str]:
        """The directories the inputs are named by (a directory, a glob's base): what
        lies below them is read, so nothing may be written there."""
        out = []
        for entry in [*self.config.paths, *(self.config.mate_paths or [])]:
            if "**" in entry:  # only a recursive pattern reaches into subdirectories
                base = entry
                while any(ch in base for ch in GLOB_CHARS):
                    base = base.rsplit("/", 1)[0] if "/" in base else "."
                out.append(base)
            elif not any(ch in entry for ch in GLOB_CHARS) and is_directory(entry):
                out.append(entry)
        return out

    def options(self, block_bases: int, lenient: bool) -> ReadOptions:
        return ReadOptions(
            alphabet=self.config.alphabet,
            keep_iupac=self.config.keep_iupac,
            lenient=lenient,
            block_bases=block_bases,
        )


class InspectConfig(StageConfig):
    pass


class FileStats(dict):
    """source file → ReadStats, mergeable with +=."""

    def __iadd__(self, other: FileStats) -> FileStats:
        for k, v in other.items():
            if k in self:
                self[k] += v
            else:
                self[k] = v
        return self

    def to_json(self) -> dict:
        return {k: v.to_json() for k, v in self.items()}

    @classmethod
    def from_json(cls, d: dict) -> FileStats:
        return cls({k: ReadStats.from_json(v) for k, v in d.items()})


@register
class InspectStage(MapStage):
    """Counts reads, bases, lengths, N50, GC and Q20/Q30 per input file (seqkit's numbers);
    batches pass through unchanged."""

    name = "inspect"
    Config = InspectConfig
    config: InspectConfig
    Accumulator = FileStats

    def transform(self, table: pa.Table, acc: FileStats, chunk: Chunk) -> pa.Table:
        mates = [(chunk.source, table)]
        if chunk.mate is not None:
            mates = [
                (chunk.source, table.select(["seq", "qual"])),
                (chunk.mate, table.select(["seq2", "qual2"]).rename_columns(["seq", "qual"])),
            ]
        for src, t in mates:
            st = acc.get(src)
            if st is None:
                st = acc[src] = ReadStats()
            st.add_table(t)
        return table

    def targets(self, output: str, paired: bool, label: str) -> list[Target]:
        return [Target(join(output, "stats.json"), "file", label)]

    def finish(self, acc: FileStats, ctx: FinishContext) -> dict:
        order = ctx.input_order or list(acc)
        per_file = {f: acc.get(f, ReadStats()) for f in order}
        total = ReadStats()
        for st in per_file.values():
            total += st
        report = {"files": stats_rows(per_file, ctx.input_formats, "DNA"), "total": total.as_dict()}
        ctx.record(write_json(join(ctx.output, "stats.json"), report))
        return report


class WriteConfig(StageConfig):
    path_fields = ("files",)
    format: Literal["parquet", "fastq", "fasta"] = "parquet"
    compression: Literal["gzip", "none", "zstd", "snappy"] | None = None
    path: str = Field(default="reads", pattern=r"^[A-Za-z0-9_.-]+$")
    single_file: bool | None = None
    level: int = Field(default=1, ge=0, le=3)
    # explicit output files (R1[, R2]) instead of `path` in the output directory
    files: list[str] | None = Field(default=None, min_length=1, max_length=2)

    def resolved(self) -> tuple[str, bool]:
        comp = self.compression
        if comp is None and self.files:
            comp = "gzip" if self.files[0].endswith(".gz") else "none"
        if self.format == "parquet":
            comp = comp or "zstd"
            if comp == "gzip":
                comp = "gzip"
        else:
            comp = comp or "gzip"
            if comp not in ("gzip", "none"):
                raise ConfigError(
                    f"write: compression {comp!r} is for parquet; FASTQ/FASTA allow gzip or none"
                )
        single = self.single_file if self.single_file is not None else self.format != "parquet"
        return comp, single

    @model_validator(mode="after")
    def _parquet_is_sharded(self):
        if self.format == "parquet" and self.single_file:
            raise ValueError("single_file is for fastq/fasta; Parquet output is a set of shards")
        if self.files and (self.format == "parquet" or self.single_file is False):
            raise ValueError("files is for single-file fastq/fasta output")
        if self.files:
            gz = {f.endswith(".gz") for f in self.files}
            if len(gz) > 1:
                raise ValueError("files must all end in .gz (gzip) or none of them")
            if self.compression is not None and (self.compression == "gzip") != gz.pop():
                raise ValueError(
                    f"compression {self.compression!r} does not match the file names "
                    f"{self.files}: gzip output is named .gz, plain output is not"
                )
        return self


@register
class WriteStage(SinkStage):
    """Writes read batches as Parquet shards or FASTQ/FASTA (one file, or one per chunk)."""

    name = "write"
    Config = WriteConfig
    config: WriteConfig

    def takes(self) -> tuple[BatchKind, ...]:
        return ANY if self.config.format == "parquet" else (READS,)

    def targets(self, output: str, paired: bool, label: str) -> list[Target]:
        c = self.config
        _, single = c.resolved()
        if not single:
            pattern = "part-*.parquet" if c.format == "parquet" else "part-*"
            return [Target(join(output, c.path), "dir", label, pattern)]
        mates = ["_R1", "_R2"] if paired else [""]
        if c.files:
            if len(c.files) != len(mates):
                raise ConfigError(
                    f"{label}: files names {len(c.files)} file(s) but the reads are "
                    + ("pairs: give one file per mate" if paired else "not paired: give one")
                )
            return [Target(f, "file", label) for f in c.files]
        return [Target(join(output, f"{c.path}{m}.{self._ext()}"), "file", label) for m in mates]

    def _ext(self) -> str:
        comp, _ = self.config.resolved()
        if self.config.format == "parquet":
            return "parquet"
        return self.config.format + (".gz" if comp == "gzip" else "")

    def _dir(self, output: str) -> str:
        _, single = self.config.resolved()
        return (  # parts of single files: one directory per stage, whatever the names
            join(output, "_seqray", "parts", f"{self.index}-{self.config.path}")
            if single
            else join(output, self.config.path)
        )

    def open(self, chunk: Chunk, chunk_id: str, output: str) -> list:
        comp, _ = self.config.resolved()
        mates = ["R1", "R2"] if chunk.paired else [None]
        writers = []
        if self.config.format == "parquet":  # one shard holds both mates
            uri = join(self._dir(output), f"part-{chunk_id}.parquet")
            schema = self.input_schema(read_schema(chunk.paired))
            return [ParquetShardWriter(uri, schema, compression=comp)]
        for i, m in enumerate(mates):
            suffix = f"_{m}" if m else ""
            uri = join(self._dir(output), f"part-{chunk_id}{suffix}.{self._ext()}")
            writers.append(
                TextShardWriter(
                    uri,
                    fastq=self.config.format == "fastq",
                    gzip=comp == "gzip",
                    mate=i == 1,
                    level=self.config.level,
                )
            )
        return writers

    def finish(self, shards: list[ShardRecord], ctx: FinishContext) -> list[WrittenFile]:
        """Joins the parts of single-file outputs in read-identity order."""
        output = ctx.output
        _, single = self.config.resolved()
        if not single:
            return [WrittenFile(f.uri, s.rows, f.bytes, f.sha256) for s in shards for f in s.files]
        out = []
        for mate in ("_R1", "_R2", ""):
            parts = [
                s
                for s in shards
                if s.uri.endswith(f"{mate}.{self._ext()}")
                and (
                    mate
                    or not (
                        s.uri.endswith("_R1." + self._ext()) or s.uri.endswith("_R2." + self._ext())
                    )
                )
            ]
            if not parts:
                continue
            target = join(output, f"{self.config.path}{mate}.{self._ext()}")
            if self.config.files:
                target = self.config.files[mate == "_R2"]
            f = concatenate([s.uri for s in parts], target)
            f.rows = sum(s.rows for s in parts)
            out.append(f)
        return out
