"""The built-in stages: read (source), inspect (statistics), write (sink)."""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from ..errors import ConfigError
from ..io.chunks import Chunk
from ..io.formats import OutputFormat, ShardWriter, format_names, get_format
from ..io.fs import GLOB_CHARS, is_directory, is_s3, join
from ..io.parse import ReadOptions
from ..io.schema import read_schema
from ..io.sources import plan_chunks
from ..io.writers import WrittenFile, tree_digest, write_json
from ..qc.stats import ReadStats, stats_rows
from .kinds import ANY, KINDS, READS, BatchKind
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
    keep_dots: bool = False  # '.' kept in sequences (seqray qc's default, as fastp)

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
            keep_dots=self.config.keep_dots,
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
    format: str = "parquet"  # a registered output format (io/formats)
    compression: str | None = None  # one the format takes; None: its default
    path: str = Field(default="reads", pattern=r"^[A-Za-z0-9_.-]+$")
    single_file: bool | None = None
    level: int | None = None  # the format's compression level; None: its default
    # explicit output files (R1[, R2]) instead of `path` in the output directory
    files: list[str] | None = Field(default=None, min_length=1, max_length=2)
    # write the rows a stage before routed to this branch (qc: `failed`) instead of the
    # batches, which pass on unchanged
    branch: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_]+$")

    @field_validator("format")
    @classmethod
    def _known_format(cls, v: str) -> str:
        if v not in format_names():
            raise ValueError(f"unknown format {v!r}; allowed: {', '.join(format_names())}")
        return v

    @property
    def fmt(self) -> OutputFormat:
        return get_format(self.format)

    def resolved(self) -> tuple[str, int | None, bool]:
        """(compression, level, single_file), the format's defaults filled in."""
        fmt = self.fmt
        comp = self.compression
        if comp is None and self.files:
            comp = fmt.compression_named(self.files[0])
        comp, level = fmt.check(comp, self.level)
        single = self.single_file if self.single_file is not None else fmt.join is not None
        return comp, level, single

    @model_validator(mode="after")
    def _consistent(self):
        fmt = self.fmt
        joinable = [n for n in format_names() if get_format(n).join is not None]
        mergeable = [n for n in format_names() if get_format(n).merge is not None]
        if self.single_file and fmt.join is None and fmt.merge is None:
            raise ValueError(
                f"single_file is for {'/'.join(joinable + mergeable)}; {fmt.title} output is "
                "a set of shards"
            )
        if self.files and (fmt.join is None or self.single_file is False):
            raise ValueError(f"files is for single-file {'/'.join(joinable)} output")
        if self.files:
            said = {fmt.compression_named(f) for f in self.files}
            if len(said) > 1 or None in said:
                by_suffix: dict[str, list[str]] = {}
                for c, x in fmt.compressions.items():
                    if x:
                        by_suffix.setdefault(x, []).append(c)
                named = " or ".join(f"{x} ({'/'.join(cs)})" for x, cs in by_suffix.items())
                raise ValueError(f"files must all end in {named} or none of them: {self.files}")
            suffix = fmt.compressions.get(self.compression or "", "")
            # compressions that share a suffix (gzip, bgzf: .gz) both match their names
            if self.compression is not None and suffix != fmt.compressions[said.pop() or ""]:
                raise ValueError(
                    f"compression {self.compression!r} does not match the file names "
                    f"{self.files}: {self.compression} output "
                    + (f"ends in {suffix}" if suffix else "has no compression suffix")
                )
        self.resolved()  # the compression and level are the format's
        missing = fmt.missing()
        if missing:
            raise ValueError(
                f"{fmt.title} output needs {', '.join(missing)}, which is not installed: "
                "pip install 'seqray[formats]'"
            )
        return self


@register
class WriteStage(SinkStage):
    """Writes batches in a registered output format: shards (one per chunk, or per chunk
    and mate), or, for formats whose shards join, one file (per mate)."""

    name = "write"
    Config = WriteConfig
    config: WriteConfig

    def takes(self) -> tuple[BatchKind, ...]:
        fmt = self.config.fmt
        if fmt.kinds is not None:
            return tuple(KINDS[k] for k in fmt.kinds)
        return (READS,) if fmt.needs_reads else ANY

    def branch(self) -> str | None:
        return self.config.branch

    def _provenance(self) -> dict[str, str]:
        """What made the batches it writes: their kind, the last stage before it that
        changed the kind (`embed`), and that stage's model when its config names one."""
        kind = READS
        maker = "read"
        model = None
        for st in self.upstream:
            given = st.gives(kind)
            if given is not kind:
                maker, kind = st.name, given
                m = getattr(st.config, "model", None)
                model = m if isinstance(m, str) else None
        out = {"kind": kind.name, "stage": maker}
        if model:
            out["model"] = model
        return out

    def _ext(self) -> str:
        comp, _, _ = self.config.resolved()
        return self.config.fmt.extension(comp)

    def _mates(self, paired: bool) -> list[str]:
        """Name suffixes of the mates' shards or files: one per mate for formats that
        write pairs as two files."""
        return ["_R1", "_R2"] if paired and not self.config.fmt.pairs_in_one else [""]

    def targets(self, output: str, paired: bool, label: str) -> list[Target]:
        c = self.config
        _, _, single = c.resolved()
        ext = self._ext()
        if not single:
            return [Target(join(output, c.path), "dir", label, f"part-*{ext}", c.fmt.directory)]
        mates = self._mates(paired)
        if c.fmt.merge is not None:  # one store (a directory), made from the shards
            store = join(output, f"{c.path}{ext}")
            if is_s3(store):
                raise ConfigError(
                    f"{label}: single-file {c.fmt.title} output is written on a local or shared "
                    "filesystem; on S3 write its shards (single_file: false)"
                )
            return [Target(store, "dir", label)]
        if c.files:
            if len(c.files) != len(mates):
                raise ConfigError(
                    f"{label}: files names {len(c.files)} file(s) but the reads are "
                    + ("pairs: give one file per mate" if paired else "not paired: give one")
                )
            return [Target(f, "file", label) for f in c.files]
        return [Target(join(output, f"{c.path}{m}{ext}"), "file", label) for m in mates]

    def _dir(self, output: str) -> str:
        _, _, single = self.config.resolved()
        return (  # parts of single files: one directory per stage, whatever the names
            join(output, "_seqray", "parts", f"{self.index}-{self.config.path}")
            if single
            else join(output, self.config.path)
        )

    def open(self, chunk: Chunk, chunk_id: str, output: str) -> list[ShardWriter]:
        fmt = self.config.fmt
        comp, level, _ = self.config.resolved()
        schema = self.input_schema(read_schema(chunk.paired))
        paired = self.input_paired(chunk.paired)
        writers: list[ShardWriter] = []
        try:
            for mate, suffix in enumerate(self._mates(paired)):
                uri = join(self._dir(output), f"part-{chunk_id}{suffix}{self._ext()}")
                extra = {"provenance": self._provenance()} if fmt.provenance else {}
                writers.append(
                    fmt.open(
                        uri,
                        schema=schema,
                        paired=paired,
                        mate=mate,
                        compression=comp,
                        level=level,
                        **extra,
                    )
                )
        except BaseException:
            for w in writers:
                w.abort()
            raise
        return writers

    def finish(self, shards: list[ShardRecord], ctx: FinishContext) -> list[WrittenFile]:
        """Lists the shards' files, or joins the parts of single-file outputs in
        read-identity order (the chunks' order)."""
        _, _, single = self.config.resolved()
        fmt = self.config.fmt
        if not single and fmt.directory:  # one entry per shard, listing its files
            out = []
            for s in shards:
                files = [WrittenFile(f.uri, s.rows, f.bytes, f.sha256) for f in s.files]
                digest = tree_digest(s.uri, files)
                total = sum(f.bytes for f in files)
                out.append(WrittenFile(s.uri, s.rows, total, digest, files, s.arrays))
            if fmt.finish_dir is not None:  # what joins the shards into one store
                for f in fmt.finish_dir(self._dir(ctx.output), shards):
                    ctx.record(f)
            return out
        if not single:
            return [
                WrittenFile(f.uri, s.rows, f.bytes, f.sha256, arrays=s.arrays)
                for s in shards
                for f in s.files
            ]
        ext = self._ext()
        if fmt.merge is not None:  # one store from the shards, in read order
            return [fmt.merge(shards, join(ctx.output, f"{self.config.path}{ext}"), ctx.runner)]
        join_parts = fmt.join
        assert join_parts is not None  # single_file is refused for formats without a join
        paired = any(s.uri.endswith(f"_R2{ext}") for s in shards)
        out = []
        for i, mate in enumerate(self._mates(paired)):
            parts = [s for s in shards if s.uri.endswith(f"{mate}{ext}")]
            if not parts:
                continue
            target = join(ctx.output, f"{self.config.path}{mate}{ext}")
            if self.config.files:
                target = self.config.files[i]
            f = join_parts([s.uri for s in parts], target)
            f.rows = sum(s.rows for s in parts)
            out.append(f)
        return out
