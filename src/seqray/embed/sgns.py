"""Skip-gram with negative sampling (word2vec's SGNS) over sentences of vocabulary rows.

One Numba kernel trains a slice of sentences in place, without the GIL: callers run
several slices in Python threads, each on its own (w_in, w_out) replica (deterministic;
`train.py` merges their changes) or on shared arrays (Hogwild: not reproducible).

The algorithm is word2vec's: w_in starts uniform in (-1, 1) / dim (gensim's width, see
`init_weights`) and w_out at zero; frequent tokens are dropped from a sentence before
windows are formed (keep probability from `Vocabulary.keep_probs`); each centre word gets
an effective window drawn from 1..window; every (centre, context) pair is one logistic
step for the centre word's output vector (label 1) and `negatives` rows drawn from the
unigram^0.75 table (label 0), with the sigmoid read from a table over [-6, 6] and clipped
outside; the learning rate falls linearly from `lr` to `min_lr` over all epochs.

One departure, for speed: the negatives are drawn once per centre word and shared by all
the pairs of its window (as pWord2Vec does, Ji et al. 2016), not drawn afresh per pair.
With a vocabulary larger than the cache every draw is a cache miss on a random w_out row;
sharing keeps the window's output rows in L1 (measured: 3.2x the words/s on 50k k-mer
tokens) and planted-structure tests separate as well as gensim's Word2Vec.

Randomness comes from word2vec's LCG (x * 25214903917 + 11 mod 2^64), seeded from (seed,
epoch, first sentence), so the same arguments give byte-identical weights on any machine
with the same Numba build.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from seqray.errors import SeqrayError
from seqray.hashing import mix64

_MAX_EXP = 6.0
_TABLE_SIZE = 1000  # word2vec's EXP_TABLE_SIZE

# sigmoid and log-sigmoid at the midpoints of _TABLE_SIZE equal cells over [-6, 6]; with
# midpoints, cell (size-1-i) is cell i mirrored, so log sigmoid(-x) is one lookup too
_X = ((np.arange(_TABLE_SIZE) + 0.5) / _TABLE_SIZE * 2.0 - 1.0) * _MAX_EXP
_SIGMOID = (1.0 / (1.0 + np.exp(-_X))).astype(np.float32)
_LOG_SIGMOID = (-np.log1p(np.exp(-_X))).astype(np.float32)

_LCG_MUL = np.uint64(25214903917)
_LCG_ADD = np.uint64(11)
_U64 = (1 << 64) - 1


@dataclass(frozen=True)
class SgnsParams:
    """Training hyper-parameters (word2vec's defaults for skip-gram, except dim)."""

    dim: int = 100
    window: int = 5
    negatives: int = 5
    epochs: int = 5
    lr: float = 0.025
    min_lr: float | None = None  # None: lr * 1e-4, word2vec's floor
    sample: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("dim", "window", "epochs"):
            if getattr(self, name) < 1:
                raise SeqrayError(f"--{name} must be at least 1 (got {getattr(self, name)})")
        if self.negatives < 0:
            raise SeqrayError(f"--negatives must be >= 0 (got {self.negatives})")
        if not self.lr > 0:
            raise SeqrayError(f"--lr must be positive (got {self.lr})")
        if self.sample < 0:
            raise SeqrayError(f"--sample must be >= 0 (got {self.sample})")
        if self.min_lr is None:
            object.__setattr__(self, "min_lr", self.lr * 1e-4)
        elif not 0 <= self.min_lr <= self.lr:
            raise SeqrayError(f"--min-lr must be in [0, lr] (got {self.min_lr})")


def init_weights(vocab_size: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """w_in uniform in (-1, 1) / dim, w_out zeros (float32 [V, dim]).

    word2vec's layout at gensim's width (word2vec draws from (-0.5, 0.5) / dim). Since
    w_out starts at zero, training first sits on a plateau until the inputs' differences
    reach the outputs; k-mer tokens are seen few times each, and the wider start leaves it
    sooner (measured on 15-mers of a 20 kb genome at 50x, 2 epochs: pair AUC 0.83 against
    0.63 with word2vec's width; equal once both have converged).
    """
    rng = np.random.default_rng(seed)
    w_in = rng.random((vocab_size, dim), dtype=np.float32)
    w_in *= np.float32(2.0)
    w_in -= np.float32(1.0)
    w_in /= np.float32(dim)
    return w_in, np.zeros((vocab_size, dim), np.float32)


@njit(cache=True, nogil=True, fastmath=True)
def _train(
    w_in,
    w_out,
    tokens,
    offsets,
    keep_probs,
    neg_table,
    window,
    negatives,
    lr,
    min_lr,
    epoch,
    epochs,
    start,
    stop,
    seed,
    sigmoid,
    log_sigmoid,
):
    dim = w_in.shape[1]
    table_size = np.uint64(len(neg_table))
    uwindow = np.uint64(window)
    cells = sigmoid.shape[0]
    scale = cells / (2.0 * _MAX_EXP)
    first = offsets[start]
    total = max(offsets[stop] - first, 1)
    longest = 0
    for s in range(start, stop):
        longest = max(longest, offsets[s + 1] - offsets[s])
    sentence = np.empty(longest, np.int32)
    neu1e = np.empty(dim, np.float32)
    negs = np.empty(max(negatives, 1), np.int32)

    rnd = mix64(mix64(mix64(seed) ^ np.uint64(epoch)) ^ np.uint64(start))
    loss = 0.0
    pairs = 0
    for s in range(start, stop):
        a = offsets[s]
        b = offsets[s + 1]
        progress = (epoch + (a - first) / total) / epochs
        alpha = np.float32(max(lr - (lr - min_lr) * progress, min_lr))

        # frequent-token subsampling: the window spans the tokens that remain
        n = 0
        for j in range(a, b):
            w = tokens[j]
            p = keep_probs[w]
            if p < 1.0:
                rnd = rnd * _LCG_MUL + _LCG_ADD
                if p < np.float32((rnd >> np.uint64(16)) & np.uint64(0xFFFF)) / 65536.0:
                    continue
            sentence[n] = w
            n += 1

        for i in range(n):
            word = sentence[i]
            rnd = rnd * _LCG_MUL + _LCG_ADD
            span = window - np.int64(rnd % uwindow)  # effective window 1..window
            lo = max(0, i - span)
            hi = min(n, i + span + 1)
            # one set of negatives per centre word, shared by its whole window
            for t in range(negatives):
                rnd = rnd * _LCG_MUL + _LCG_ADD
                negs[t] = neg_table[(rnd >> np.uint64(16)) % table_size]
            out_word = w_out[word]
            for c in range(lo, hi):
                if c == i:
                    continue
                v = w_in[sentence[c]]
                for d in range(dim):
                    neu1e[d] = 0.0
                for t in range(negatives + 1):
                    if t == 0:
                        u = out_word
                        label = np.float32(1.0)
                    else:
                        target = negs[t - 1]
                        if target == word:
                            continue
                        u = w_out[target]
                        label = np.float32(0.0)
                    f = np.float32(0.0)
                    for d in range(dim):
                        f += v[d] * u[d]
                    if f >= _MAX_EXP:
                        g = (label - np.float32(1.0)) * alpha
                        loss += 0.0 if t == 0 else f  # -log sigmoid(-f) ~ f
                    elif f <= -_MAX_EXP:
                        g = label * alpha
                        loss += -f if t == 0 else 0.0
                    else:
                        cell = min(int((f + _MAX_EXP) * scale), cells - 1)
                        g = (label - sigmoid[cell]) * alpha
                        if t == 0:
                            loss -= log_sigmoid[cell]
                        else:
                            loss -= log_sigmoid[cells - 1 - cell]
                    for d in range(dim):
                        neu1e[d] += g * u[d]
                        u[d] += g * v[d]
                for d in range(dim):
                    v[d] += neu1e[d]
                pairs += 1
    return offsets[stop] - first, loss, pairs


def train_slice(
    w_in: np.ndarray,
    w_out: np.ndarray,
    tokens: np.ndarray,
    offsets: np.ndarray,
    keep_probs: np.ndarray,
    neg_table: np.ndarray,
    params: SgnsParams,
    epoch: int,
    start: int,
    stop: int,
    seed: int,
) -> tuple[int, float, int]:
    """Trains (w_in, w_out) in place on sentences [start, stop) for one epoch.

    tokens: int32 vocabulary rows of all sentences (`to_corpus`), offsets: int64[n+1].
    The learning rate at a sentence is set by progress = (epoch + fraction of this slice's
    tokens already seen) / epochs, so a worker training its share of the corpus decays
    as one that trains all of it. Returns (tokens read, summed negative log-likelihood of
    the trained pairs, pairs trained): loss / pairs is the mean loss per pair.
    Releases the GIL for the whole slice.
    """
    if w_in.dtype != np.float32 or w_out.dtype != np.float32:
        raise ValueError("w_in and w_out must be float32 (they are trained in place)")
    if not (w_in.flags.c_contiguous and w_out.flags.c_contiguous):
        raise ValueError("w_in and w_out must be C-contiguous")
    if w_in.ndim != 2 or w_in.shape != w_out.shape or w_in.shape[1] != params.dim:
        raise ValueError(f"w_in and w_out must both be [V, {params.dim}]")
    vocab_size = w_in.shape[0]
    tokens = np.ascontiguousarray(tokens, dtype=np.int32)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    keep_probs = np.ascontiguousarray(keep_probs, dtype=np.float32)
    neg_table = np.ascontiguousarray(neg_table, dtype=np.int32)
    if not 0 <= start <= stop <= len(offsets) - 1:
        raise ValueError(f"slice [{start}, {stop}) is outside 0..{len(offsets) - 1} sentences")
    if not 0 <= epoch < params.epochs:
        raise ValueError(f"epoch {epoch} is outside 0..{params.epochs - 1}")
    if len(keep_probs) != vocab_size:
        raise ValueError(f"keep_probs has {len(keep_probs)} entries for {vocab_size} rows")
    if len(neg_table) == 0 and params.negatives > 0:
        raise ValueError("the negative table is empty")
    bounds = offsets[start : stop + 1]
    if len(bounds) and (
        bounds[0] < 0 or bounds[-1] > len(tokens) or bool(np.any(bounds[1:] < bounds[:-1]))
    ):
        raise ValueError(f"offsets of sentences [{start}, {stop}) must rise within the tokens")
    used = tokens[offsets[start] : offsets[stop]]
    if len(used) and (int(used.min()) < 0 or int(used.max()) >= vocab_size):
        raise ValueError(f"tokens must be vocabulary rows in 0..{vocab_size - 1}")
    if len(neg_table) and (int(neg_table.min()) < 0 or int(neg_table.max()) >= vocab_size):
        raise ValueError(f"negative table entries must be rows in 0..{vocab_size - 1}")
    if stop == start:
        return 0, 0.0, 0
    min_lr = params.min_lr if params.min_lr is not None else params.lr * 1e-4
    words, loss, pairs = _train(
        w_in,
        w_out,
        tokens,
        offsets,
        keep_probs,
        neg_table if len(neg_table) else np.zeros(1, np.int32),
        params.window,
        params.negatives,
        float(params.lr),
        float(min_lr),
        epoch,
        params.epochs,
        start,
        stop,
        np.uint64(seed & _U64),
        _SIGMOID,
        _LOG_SIGMOID,
    )
    return int(words), float(loss), int(pairs)
