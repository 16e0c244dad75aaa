"""The `tokenize` pipeline stage: read batches → rows of token ids (one row per read, or per
window of a long read), with token statistics in the manifest and the tokenizer exported
beside the outputs (`tokenizer/`, loadable by `transformers.AutoTokenizer`).

A map stage, not a sink: its output schema is declared (`output_schema`), so the ordinary
`write: {format: parquet}` stage writes the token shards, with its naming, atomicity,
checksums and resume. For a scheme that trains (bpe) without a given tokenizer, a
prepare pass draws a sample of reads by the hash of their identity (`sample.py`: the same
for any chunking) and trains the model in the driver before the main pass. The schemes,
their config keys and their checks come from the registry.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, ValidationInfo, field_validator, model_validator

from ..errors import ConfigError
from ..io.fs import join
from ..io.schema import RECORD, SEQ2, SOURCE
from ..pipeline.kinds import TOKENS, BatchKind
from ..pipeline.outputs import Target
from ..pipeline.registry import (
    FinishContext,
    MapStage,
    PrepareContext,
    StageConfig,
    register,
)
from .base import Tokenizer
from .registry import make_tokenizer, scheme_class, scheme_names
from .sample import TrainingSample, merge_samples
from .stats import TokenStats


class TokenizeConfig(StageConfig):
    scheme: str = "kmer"  # a registered scheme (seqray.tokenize.registry)
    k: int | None = Field(default=None, ge=1, le=32)  # kmer: 6; hashed: 21
    stride: int = Field(default=1, ge=1)
    canonical: bool = True  # hashed
    buckets: int | None = Field(default=None, ge=1)  # hashed
    alphabet: Literal["full", "murphy10", "murphy15"] = "full"  # protein
    vocab_size: int = Field(default=4096, ge=10)  # bpe
    sample_reads: int = Field(default=100_000, ge=1)  # training sample, sequences (bpe)
    tokenizer: str | None = None  # a trained tokenizer (directory or tokenizer.json; bpe)
    add_special_tokens: bool = True
    max_length: int | None = Field(default=None, ge=1)
    overlap: int = Field(default=0, ge=0)
    truncate: bool = False
    padding: bool = False
    export: bool = True  # write tokenizer/ (Hugging Face) beside the outputs

    @field_validator("scheme", mode="before")
    @classmethod
    def _scheme(cls, v: Any) -> Any:
        if v not in scheme_names():
            raise ValueError(f"unknown scheme {v!r}; one of {', '.join(scheme_names())}")
        return v

    @field_validator("*")
    @classmethod
    def _option(cls, v: Any, info: ValidationInfo) -> Any:
        # each of the scheme's keys alone, so that the error names the key (unset: default)
        scheme, key = info.data.get("scheme"), info.field_name
        if v is not None and scheme in scheme_names() and key in scheme_class(scheme).options:
            msg = scheme_class(scheme).check_option(str(key), v)
            if msg:
                raise ValueError(msg)
        return v

    @model_validator(mode="after")
    def _check(self):
        if not self.scheme_type.trains:  # the combination (a trained model is built later)
            try:
                self.build()
            except ConfigError as exc:
                raise ValueError(str(exc).removeprefix("tokenize: ")) from None
        return self

    @property
    def scheme_type(self) -> type[Tokenizer]:
        return scheme_class(self.scheme)

    def options(self) -> dict:
        """The constructor's options: the scheme's keys that are set, and the row options."""
        o: dict = {
            key: getattr(self, key)
            for key in self.scheme_type.options
            if getattr(self, key) is not None
        }
        o.update(
            add_special_tokens=self.add_special_tokens,
            max_length=self.max_length,
            overlap=self.overlap,
            truncate=self.truncate,
            padding=self.padding,
        )
        return o

    def train(self, seqs: list[str]) -> str:
        """The scheme's model trained on `seqs` with the config's training keys."""
        cls = self.scheme_type
        return cls.train(seqs, **{key: getattr(self, key) for key in cls.train_options})

    def build(self, model: str | None = None) -> Tokenizer:
        """The tokenizer; for a scheme that trains, `model` is what `train` returned (else
        the config's `tokenizer` is loaded)."""
        if not self.scheme_type.trains:
            return make_tokenizer(self.scheme, **self.options())
        if model is None and self.tokenizer is None:
            raise ConfigError(f"tokenize: the {self.scheme} model has not been trained")
        return make_tokenizer(self.scheme, tokenizer=model, path=self.tokenizer, **self.options())


@register
class TokenizeStage(MapStage):
    """Tokenizes reads (with a registered scheme: DNABERT k-mers, Nucleotide-Transformer
    6-mers, characters, BPE, hashed k-mers, proteins) into `input_ids` rows, windowed to
    `max_length`."""

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
        self.trained: str | None = None  # the model `prepare` trained (schemes that train)
        self._tok: Tokenizer | None = None

    @property
    def tokenizer(self) -> Tokenizer:
        if self._tok is None:
            self._tok = self.config.build(self.trained)
        return self._tok

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_tok": None}

    def needs_prepare(self) -> bool:
        return self.config.scheme_type.trains and self.config.tokenizer is None

    def targets(self, output: str, paired: bool, label: str) -> list[Target]:
        return [Target(join(output, "tokenizer"), "dir", label)] if self.config.export else []

    def input_paths(self) -> list[str]:
        return [self.config.tokenizer] if self.config.tokenizer else []

    def prepare(self, ctx: PrepareContext) -> None:
        c = self.config
        saved = ctx.load_prepared(c.scheme)  # the model an interrupted run trained
        if saved is not None:
            self.trained, self._tok = saved["model"], None
            return
        directory = ctx.state_dir(c.scheme)
        outcomes = ctx.scan(TrainingSample(directory, ctx.source_order, c.sample_reads))
        uris = [s.uri for o in outcomes for s in o.shards_of(TrainingSample.name)]
        seqs = merge_samples(uris, c.sample_reads)
        if not seqs:
            raise ConfigError(f"tokenize: no reads to train the {c.scheme} model on")
        self.trained = c.train(seqs)
        self._tok = None
        ctx.save_prepared(c.scheme, [], {"model": self.trained})

    def new_accumulator(self) -> TokenStats:
        t = self.tokenizer
        return TokenStats(t.vocab_size, t.unk_id, tuple(t.special_ids))

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        if SOURCE in schema.names and RECORD in schema.names:
            identity = [schema.field(SOURCE), schema.field(RECORD)]
        else:
            identity = [pa.field("read", pa.int64(), nullable=False)]
        return pa.schema(self.tokenizer.output_fields(identity, SEQ2 in schema.names))

    def gives(self, taken: BatchKind) -> BatchKind:
        return TOKENS

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
            except ConfigError as exc:  # e.g. hashed, k > 10: nothing Hugging Face can load
                report["tokenizer"] = None
                report["tokenizer_note"] = str(exc)
        return report


def tokens_per_row(table: pa.Table) -> np.ndarray:
    """Length of each row's input_ids (a helper for summaries and tests)."""
    return np.diff(np.asarray(table.column("input_ids").combine_chunks().offsets))
