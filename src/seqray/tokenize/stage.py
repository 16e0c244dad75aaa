"""The `tokenize` pipeline stage: read batches → rows of token ids (one row per read, or per
window of a long read), with token statistics in the manifest and the tokenizer exported
beside the outputs (`tokenizer/`, loadable by `transformers.AutoTokenizer`).

A map stage, not a sink: its output schema is declared (`output_schema`), so the ordinary
`write: {format: parquet}` stage writes the token shards, with its naming, atomicity,
checksums and resume. For `bpe` without a given tokenizer, a prepare pass samples reads
from every chunk and trains the model in the driver before the main pass.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field, ValidationInfo, field_validator, model_validator

from ..errors import ConfigError
from ..io.formats import WrittenShard
from ..io.formats.parquet import ParquetShardWriter
from ..io.fs import filesystem_for, join
from ..io.schema import RECORD, SEQ, SEQ2, SOURCE
from ..pipeline.outputs import Target
from ..pipeline.registry import (
    FinishContext,
    MapStage,
    PrepareContext,
    SinkStage,
    StageConfig,
    register,
)
from .schemes import Tokenizer, make_tokenizer
from .stats import TokenStats


class TokenizeConfig(StageConfig):
    scheme: Literal["kmer", "nt6", "char", "bpe", "hashed", "protein"] = "kmer"
    k: int | None = Field(default=None, ge=1, le=32)  # kmer: 6; hashed: 21
    stride: int = Field(default=1, ge=1)
    canonical: bool = True  # hashed
    buckets: int | None = Field(default=None, ge=1)  # hashed
    alphabet: Literal["full", "murphy10", "murphy15"] = "full"  # protein
    vocab_size: int = Field(default=4096, ge=10)  # bpe
    sample_reads: int = Field(default=100_000, ge=1)  # bpe training sample
    tokenizer: str | None = None  # bpe: a trained tokenizer (directory or tokenizer.json)
    add_special_tokens: bool = True
    max_length: int | None = Field(default=None, ge=1)
    overlap: int = Field(default=0, ge=0)
    truncate: bool = False
    padding: bool = False
    export: bool = True  # write tokenizer/ (Hugging Face) beside the outputs

    @field_validator("k")
    @classmethod
    def _k(cls, v, info: ValidationInfo):
        # here rather than in the check across keys below, so the error names `k`
        if v is not None and info.data.get("scheme") == "kmer" and v > 8:
            raise ValueError("kmer needs 1 <= k <= 8 (use scheme hashed beyond)")
        return v

    @model_validator(mode="after")
    def _check(self):
        if self.scheme != "bpe":
            self.build(tokenizer="")  # raises ConfigError on a bad combination
        return self

    def options(self) -> dict:
        o: dict = {
            "add_special_tokens": self.add_special_tokens,
            "max_length": self.max_length,
            "overlap": self.overlap,
            "truncate": self.truncate,
            "padding": self.padding,
        }
        if self.scheme == "kmer":
            o.update(k=self.k or 6, stride=self.stride)
        elif self.scheme == "hashed":
            o.update(k=self.k or 21, stride=self.stride, canonical=self.canonical)
            o.update(buckets=self.buckets)
        elif self.scheme == "protein":
            o.update(alphabet=self.alphabet)
        return o

    def build(self, tokenizer: str | None = None) -> Tokenizer:
        """The tokenizer; for bpe, `tokenizer` is the trained model's JSON."""
        if self.scheme == "bpe":
            if tokenizer is None and self.tokenizer is None:
                raise ConfigError("tokenize: the bpe model has not been trained")
            return make_tokenizer("bpe", tokenizer=tokenizer, path=self.tokenizer, **self.options())
        try:
            return make_tokenizer(self.scheme, **self.options())
        except ConfigError as exc:
            raise ValueError(str(exc).removeprefix("tokenize: ")) from None


class _SampleWriter:
    """Keeps the first `limit` sequences (both mates) of a chunk in a Parquet file."""

    def __init__(self, uri: str, limit: int):
        self.w = ParquetShardWriter(uri, pa.schema([(SEQ, pa.large_binary())]))
        self.left = limit

    def write(self, table: pa.Table) -> None:
        for c in (SEQ, SEQ2):
            if self.left > 0 and c in table.column_names:
                col = table.column(c).slice(0, self.left)
                self.w.write(pa.table({SEQ: col}))
                self.left -= len(col)

    def commit(self) -> WrittenShard:
        return self.w.commit()

    def abort(self) -> None:
        self.w.abort()


class BpeSample(SinkStage):
    """Internal sink of the BPE prepare pass: the first reads of every chunk."""

    name = "bpe-sample"

    def __init__(self, directory: str, limit: int):
        self.directory, self.limit = directory, limit

    def open(self, chunk, chunk_id: str, output: str) -> list:
        return [_SampleWriter(join(self.directory, f"sample-{chunk_id}.parquet"), self.limit)]


def _read_sample(uri: str, n: int) -> list[str]:
    fs, path = filesystem_for(uri)
    with fs.open_input_file(path) as f:
        col = pq.read_table(f).column(SEQ).slice(0, n)
    return col.cast(pa.large_string()).to_pylist()


@register
class TokenizeStage(MapStage):
    """Tokenizes reads (DNABERT k-mers, Nucleotide-Transformer 6-mers, characters, BPE,
    hashed k-mers, proteins) into `input_ids` rows, windowed to `max_length`."""

    name = "tokenize"
    Config = TokenizeConfig
    config: TokenizeConfig
    Accumulator = TokenStats

    @staticmethod
    def summarize(report: dict) -> str:
        per_read = report["tokens"] / max(report["reads"], 1)
        return (
            f"{report['tokens']:,} tokens in {report['rows']:,} rows ({per_read:.1f} per read); "
            f"{report['distinct_tokens']:,} distinct "
            f"({report['vocab_coverage']:.1%} of the vocabulary); "
            f"[UNK] {report['unk_rate']:.2%}"
        )

    def __init__(self, config: TokenizeConfig):
        super().__init__(config)
        self.trained: str | None = None  # bpe: the model trained by `prepare`
        self._tok: Tokenizer | None = None

    @property
    def tokenizer(self) -> Tokenizer:
        if self._tok is None:
            self._tok = self.config.build(self.trained)
        return self._tok

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_tok": None}

    def needs_prepare(self) -> bool:
        return self.config.scheme == "bpe" and self.config.tokenizer is None

    def targets(self, output: str, paired: bool, label: str) -> list[Target]:
        return [Target(join(output, "tokenizer"), "dir", label)] if self.config.export else []

    def input_paths(self) -> list[str]:
        return [self.config.tokenizer] if self.config.tokenizer else []

    def prepare(self, ctx: PrepareContext) -> None:
        from .bpe import sample_share, train_bpe

        c = self.config
        saved = ctx.load_prepared("bpe")  # the model an interrupted run trained
        if saved is not None:
            self.trained, self._tok = saved["model"], None
            return
        directory = ctx.state_dir("bpe")
        outcomes = ctx.scan(BpeSample(directory, c.sample_reads))
        shards = [s for o in outcomes for s in o["shards"] if s["stage"] == "bpe-sample"]
        take = sample_share([s["rows"] for s in shards], c.sample_reads)
        seqs = [q for s, n in zip(shards, take) if n for q in _read_sample(s["uri"], n)]
        if not seqs:
            raise ConfigError("tokenize: no reads to train the bpe model on")
        self.trained = train_bpe(seqs, c.vocab_size).to_str()
        self._tok = None
        ctx.save_prepared("bpe", [], {"model": self.trained})

    def new_accumulator(self) -> TokenStats:
        t = self.tokenizer
        return TokenStats(t.vocab_size, t.unk_id, tuple(t.special_ids))

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        if SOURCE in schema.names and RECORD in schema.names:
            identity = [schema.field(SOURCE), schema.field(RECORD)]
        else:
            identity = [pa.field("read", pa.int64(), nullable=False)]
        return pa.schema(self.tokenizer.output_fields(identity, SEQ2 in schema.names))

    def keeps_reads(self) -> bool:
        return False

    def transform(self, table: pa.Table, acc: TokenStats, chunk) -> pa.Table:
        return self.tokenizer.encode_batch(table, acc)

    def finish(self, acc: TokenStats, ctx: FinishContext) -> dict:
        tok = self.tokenizer
        report = {"scheme": tok.scheme, "settings": tok.settings(), **acc.report()}
        if self.config.export:
            directory = join(ctx.output, "tokenizer")
            try:
                for f in tok.export(directory):
                    ctx.record(f)
                report["tokenizer"] = directory
            except ConfigError as exc:  # hashed with k > 10: nothing Hugging Face can load
                report["tokenizer"] = None
                report["tokenizer_note"] = str(exc)
        return report


def tokens_per_row(table: pa.Table) -> np.ndarray:
    """Length of each row's input_ids (a helper for summaries and tests)."""
    return np.diff(np.asarray(table.column("input_ids").combine_chunks().offsets))
