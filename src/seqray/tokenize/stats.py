"""Token statistics of a run, mergeable with `+=` across batches and chunks: distinct tokens
used, vocabulary coverage, [UNK] rate, tokens per read, windows."""

from __future__ import annotations

import base64
import zlib
from typing import TYPE_CHECKING

import numpy as np

from ..hashing import mix64
from . import kernels

if TYPE_CHECKING:
    from .schemes import Encoded, Tokenizer
    from .windows import Rows

# vocabularies up to this size get an exact bitmap of the ids used; larger (hashed) ones a
# K-minimum-values sketch (relative error about 1/sqrt(K))
EXACT_LIMIT = 1 << 24
SKETCH_K = 4096


class TokenStats:
    _COUNTERS = (
        "reads", "rows", "tokens", "unk", "min_tokens", "max_tokens", "windowed_reads", "padding"
    )  # fmt: skip

    def __init__(self, vocab_size: int = 0, unk_id: int = -1, specials: tuple[int, ...] = ()):
        self.vocab_size, self.unk_id, self.specials = vocab_size, unk_id, tuple(specials)
        self.reads = self.rows = self.tokens = self.unk = 0
        self.min_tokens, self.max_tokens = -1, 0
        self.windowed_reads = self.padding = 0
        self.exact = vocab_size <= EXACT_LIMIT
        self.used = np.zeros(vocab_size if self.exact else 0, dtype=np.bool_)
        self.sketch = np.empty(0, dtype=np.uint64)

    def add(self, enc: Encoded, rows: Rows, tok: Tokenizer) -> None:
        n = len(enc.offsets) - 1
        per_read = np.diff(enc.offsets)
        self.reads += n
        self.rows += len(rows.read)
        self.tokens += len(enc.ids)
        self.unk += kernels.count_equal(enc.ids, self.unk_id)
        if n:
            lo = int(per_read.min())
            self.min_tokens = lo if self.min_tokens < 0 else min(self.min_tokens, lo)
            self.max_tokens = max(self.max_tokens, int(per_read.max()))
        self.windowed_reads += int(np.count_nonzero(rows.window == 1))
        if rows.mask is not None:
            self.padding += int(len(rows.mask) - np.count_nonzero(rows.mask))
        if self.exact:
            kernels.mark_used(enc.ids, self.used)
        else:
            self._keep_smallest(mix64(np.unique(enc.ids).astype(np.uint64)))

    def _keep_smallest(self, hashes: np.ndarray) -> None:
        self.sketch = np.union1d(self.sketch, hashes)[:SKETCH_K]

    def __iadd__(self, o: TokenStats) -> TokenStats:
        if not self.vocab_size:
            self.vocab_size, self.unk_id, self.specials = o.vocab_size, o.unk_id, o.specials
            self.exact = o.exact
            self.used = np.zeros(o.vocab_size if o.exact else 0, dtype=np.bool_)
        self.reads += o.reads
        self.rows += o.rows
        self.tokens += o.tokens
        self.unk += o.unk
        if o.min_tokens >= 0:
            self.min_tokens = (
                o.min_tokens if self.min_tokens < 0 else min(self.min_tokens, o.min_tokens)
            )
        self.max_tokens = max(self.max_tokens, o.max_tokens)
        self.windowed_reads += o.windowed_reads
        self.padding += o.padding
        if self.exact:
            self.used |= o.used
        else:
            self._keep_smallest(o.sketch)
        return self

    def distinct(self) -> int:
        if self.exact:
            return int(np.count_nonzero(self.used))
        if len(self.sketch) < SKETCH_K:
            return len(self.sketch)
        return int(round((SKETCH_K - 1) / (float(self.sketch[-1]) / 2.0**64)))

    def report(self) -> dict:
        distinct = self.distinct()
        content = distinct
        if self.exact:
            content -= int(sum(self.used[i] for i in self.specials if 0 <= i < len(self.used)))
        n_content_vocab = self.vocab_size - len(self.specials)
        return {
            "reads": self.reads,
            "rows": self.rows,
            "windowed_reads": self.windowed_reads,
            "tokens": self.tokens,
            "tokens_per_read": {
                "mean": round(self.tokens / self.reads, 3) if self.reads else 0.0,
                "min": max(self.min_tokens, 0),
                "max": self.max_tokens,
            },
            "unk_tokens": self.unk,
            "unk_rate": round(self.unk / self.tokens, 6) if self.tokens else 0.0,
            "distinct_tokens": distinct,
            "distinct_exact": self.exact,
            "vocab_size": self.vocab_size,
            "vocab_coverage": round(content / n_content_vocab, 6) if n_content_vocab else 0.0,
            "padding_tokens": self.padding,
        }

    def to_json(self) -> dict:
        d = {k: getattr(self, k) for k in ("vocab_size", "unk_id", *self._COUNTERS)}
        d["specials"] = list(self.specials)
        bits = np.packbits(self.used) if self.exact else self.sketch
        d["set"] = base64.b64encode(zlib.compress(bits.tobytes(), 6)).decode()
        return d

    @classmethod
    def from_json(cls, d: dict) -> TokenStats:
        s = cls(d["vocab_size"], d["unk_id"], tuple(d["specials"]))
        for k in cls._COUNTERS:
            setattr(s, k, d[k])
        raw = zlib.decompress(base64.b64decode(d["set"]))
        if s.exact:
            s.used = np.unpackbits(np.frombuffer(raw, np.uint8))[: s.vocab_size].astype(np.bool_)
        else:
            s.sketch = np.frombuffer(raw, np.uint64).copy()
        return s
