"""`HFEmbedder`: a local Hugging Face encoder as a seqray `Embedder`.

A block of sequences is tokenized at once (`tokens`), cut into windows (`windows`),
the windows sorted by length and packed into batches of at most `batch_tokens` padded
tokens, run through the model (`torch.inference_mode`, autocast below float32), pooled
on the device (`pooling`), and put back in the sequences' order. Only the forward pass
holds a lock: the pipeline may call `embed_arrays` from several threads (one batch of
reads each), which then tokenize side by side while the model runs one batch at a time
on the threads `threads` gives torch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import ConfigError
from .files import check_model_dir
from .loading import PRECISIONS, autocast, import_torch, load, resolve_device, resolve_precision
from .pooling import POOLINGS, combine_cls, combine_mean, stitch
from .tokens import SequenceEncoder, Tokens
from .windows import Windows, pack, plan_windows

DEFAULT_BATCH_TOKENS = 16384


@dataclass
class EmbedStats:
    """What one call embedded: sequences, their content tokens, windows run, sequences cut
    into windows, sequences without a token, and the padded tokens of the batches."""

    sequences: int = 0
    tokens: int = 0
    windows: int = 0
    windowed: int = 0
    empty: int = 0
    batch_tokens: int = 0  # tokens the batches held, padding included
    padding: int = 0


@dataclass
class Embedded:
    """One call's output: pooled `vectors` [n, D], or per-token `values` [T, D] with
    `offsets` [n + 1]; float32."""

    vectors: np.ndarray | None = None
    values: np.ndarray | None = None
    offsets: np.ndarray | None = None
    stats: EmbedStats = field(default_factory=EmbedStats)


def check_options(
    pooling: str, max_length: int | None, overlap: int | None, batch_tokens: int, precision: str
) -> None:
    """Option errors before anything is loaded (the stage's config checks the same)."""
    if pooling not in POOLINGS:
        raise ConfigError(f"pooling {pooling!r}; allowed: {', '.join(POOLINGS)}")
    if max_length is not None and max_length < 2:
        raise ConfigError(f"max_length {max_length}: must be at least 2")
    if overlap is not None and overlap < 0:
        raise ConfigError(f"overlap {overlap}: must be 0 or more")
    if batch_tokens < 1:
        raise ConfigError(f"batch_tokens {batch_tokens}: must be at least 1")
    if precision not in PRECISIONS:
        raise ConfigError(f"precision {precision!r}; allowed: {', '.join(PRECISIONS)}")


def as_arrays(sequences: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """(values, offsets) of a list of byte strings."""
    lengths = np.fromiter((len(s) for s in sequences), np.int64, len(sequences))
    offsets = np.zeros(len(sequences) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return np.frombuffer(b"".join(sequences), np.uint8), offsets


class HFEmbedder:
    """A Hugging Face encoder loaded from a local directory (nothing downloaded).

    pooling: cls | mean | tokens; max_length: tokens a window holds, specials included
    (default and upper bound: the model's limit); overlap: tokens shared by consecutive
    windows (default: an eighth of a window's content tokens); batch_tokens: padded tokens
    a batch holds; precision: auto | float32 | float16 | bfloat16 (auto: bfloat16 on a
    GPU, float32 on the CPU); device: auto | cpu | cuda[:i]; threads: torch's CPU threads.
    An option given as None takes its default.
    """

    backend = "hf"

    def __init__(
        self,
        model_dir: str,
        *,
        pooling: str | None = "mean",
        max_length: int | None = None,
        overlap: int | None = None,
        batch_tokens: int | None = DEFAULT_BATCH_TOKENS,
        precision: str | None = "auto",
        device: str | None = "auto",
        threads: int | None = None,
    ):
        # None: the default (callers pass their unset options through)
        pooling = pooling or "mean"
        batch_tokens = DEFAULT_BATCH_TOKENS if batch_tokens is None else batch_tokens
        precision, device = precision or "auto", device or "auto"
        check_options(pooling, max_length, overlap, batch_tokens, precision)
        files = check_model_dir(model_dir)
        torch = import_torch()
        self.model = model_dir
        self.dim = files.dim
        self.pooling = pooling
        self.batch_tokens = batch_tokens
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        if threads and self.device.type == "cpu":
            torch.set_num_threads(threads)
        self._torch = torch
        self._model, tokenizer = load(files, self.device)
        self.encoder = SequenceEncoder(tokenizer, model_dir)
        self.limit = self.encoder.limit(self._model.config)
        specials = len(self.encoder.prefix) + len(self.encoder.suffix)
        if max_length is not None and max_length > self.limit:
            raise ConfigError(
                f"max_length {max_length}: the model takes at most {self.limit} tokens"
            )
        self.max_length = max_length or self.limit
        self.capacity = self.max_length - specials
        if self.capacity < 1:
            raise ConfigError(
                f"max_length {self.max_length}: leaves no room for a token besides the "
                f"{specials} special tokens"
            )
        self.overlap = self.capacity // 8 if overlap is None else overlap
        if self.overlap >= self.capacity:
            raise ConfigError(
                f"overlap {self.overlap}: must be below the {self.capacity} tokens of a "
                f"window ({self.max_length} less {specials} special tokens)"
            )
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"HFEmbedder({self.model!r}, pooling={self.pooling}, max_length={self.max_length}, "
            f"overlap={self.overlap}, batch_tokens={self.batch_tokens}, "
            f"precision={self.precision}, device={self.device})"
        )

    # -- the Embedder interface -------------------------------------------------------------
    def embed(self, sequences: list[bytes]) -> np.ndarray:
        """Pooled vectors, float32 [n, dim], in the sequences' order (pooling tokens: the
        per-token states' mean, as pooling mean gives it)."""
        out = self.embed_arrays(*as_arrays(sequences), pooling=self._pooled())
        assert out.vectors is not None
        return out.vectors

    def embed_tokens(self, sequences: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """Per-token states of each sequence's own tokens: values float32 [T, dim] and
        offsets int64 [n + 1]."""
        out = self.embed_arrays(*as_arrays(sequences), pooling="tokens")
        assert out.values is not None and out.offsets is not None
        return out.values, out.offsets

    def _pooled(self) -> str:
        return "mean" if self.pooling == "tokens" else self.pooling

    # -- the work -----------------------------------------------------------------------------
    def embed_arrays(
        self, values: np.ndarray, offsets: np.ndarray, pooling: str | None = None
    ) -> Embedded:
        """The sequences in (values, offsets), embedded with `pooling` (default: the
        embedder's own)."""
        pooling = pooling or self.pooling
        toks = self.encoder.encode(values, offsets)
        lengths = np.diff(toks.offsets)
        wins = plan_windows(lengths, self.capacity, self.overlap)
        stats = EmbedStats(
            sequences=len(lengths),
            tokens=int(lengths.sum()),
            windows=len(wins),
            windowed=wins.windowed,
            empty=int(np.count_nonzero(lengths == 0)),
        )
        dim = self.dim
        if pooling == "tokens":
            tok_start = np.zeros(len(wins) + 1, np.int64)
            np.cumsum(wins.length, out=tok_start[1:])
            window_out = np.zeros((int(tok_start[-1]), dim), np.float32)
        else:
            window_out = np.zeros((len(wins), dim), np.float32)
        specials = len(self.encoder.prefix) + len(self.encoder.suffix)
        for batch in pack(wins.length + specials, self.batch_tokens):
            ids, mask, content = self._batch(toks, wins, batch)
            stats.batch_tokens += ids.size
            stats.padding += ids.size - int(mask.sum())
            result = self._forward(ids, mask, content, pooling)
            if pooling == "tokens":
                lens = wins.length[batch]
                within = np.arange(int(lens.sum()), dtype=np.int64) - np.repeat(
                    np.cumsum(lens) - lens, lens
                )
                window_out[np.repeat(tok_start[batch], lens) + within] = result
            else:
                window_out[batch] = result
        out = Embedded(stats=stats)
        if pooling == "tokens":
            out.values, out.offsets = stitch(window_out, wins)
        elif pooling == "cls":
            out.vectors = combine_cls(window_out, wins)
        else:
            out.vectors = combine_mean(window_out, wins)
        return out

    def _batch(
        self, toks: Tokens, wins: Windows, batch: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """input ids, attention mask and content-token mask [b, L] of a batch of windows:
        prefix specials, the window's tokens, suffix specials, then padding."""
        prefix, suffix = self.encoder.prefix, self.encoder.suffix
        lens = wins.length[batch]
        total = lens + len(prefix) + len(suffix)
        b, width = len(batch), int(total.max())
        ids = np.full((b, width), self.encoder.pad_id, np.int64)
        ids[:, : len(prefix)] = prefix
        rows = np.repeat(np.arange(b), lens)
        within = np.arange(int(lens.sum()), dtype=np.int64) - np.repeat(
            np.cumsum(lens) - lens, lens
        )
        src = np.repeat(toks.offsets[wins.seq[batch]] + wins.start[batch], lens) + within
        ids[rows, len(prefix) + within] = toks.ids[src]
        for i, tok in enumerate(suffix):
            ids[np.arange(b), len(prefix) + lens + i] = tok
        cols = np.arange(width)[None, :]
        mask = cols < total[:, None]
        content = (cols >= len(prefix)) & (cols < (len(prefix) + lens)[:, None])
        return ids, mask, content

    def _forward(
        self, ids: np.ndarray, mask: np.ndarray, content: np.ndarray, pooling: str
    ) -> np.ndarray:
        """One batch through the model, pooled on the device: first-token states [b, D],
        content-token sums [b, D], or content-token states [Σ tokens, D] (row-major)."""
        torch = self._torch
        dev = self.device
        with self._lock, torch.inference_mode(), autocast(self.precision, dev):
            input_ids = torch.from_numpy(ids).to(dev)
            attention = torch.from_numpy(mask.astype(np.int64)).to(dev)
            hidden = self._model(input_ids=input_ids, attention_mask=attention)
            states = hidden.last_hidden_state.float()
            if pooling == "cls":
                pooled = states[:, 0]
            else:
                keep = torch.from_numpy(content).to(dev)
                if pooling == "mean":
                    pooled = (states * keep.unsqueeze(-1)).sum(dim=1)
                else:
                    pooled = states[keep]
            result: np.ndarray = pooled.cpu().numpy()
        return result

    def describe(self) -> dict[str, Any]:
        """What the stage report says about the embedder."""
        return {
            "device": str(self.device),
            "precision": self.precision,
            "max_length": self.max_length,
            "overlap": self.overlap,
            "tokenizer": self.encoder.convention,
        }
