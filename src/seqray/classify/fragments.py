"""Training reads sampled on the fly from reference genomes, with mutation noise (fastDNA's
scheme): the classifier learns from fragments of the references instead of stored reads.

A fragment is drawn in five steps, each for a reason:
1. a label, uniformly among the labels that have bases, so a small genome is not drowned by
   a large one: the classifier's prior over labels is flat;
2. a record of that label weighted by its length, so every base of a label is equally likely
   to be covered (a draft genome's contigs count as one genome);
3. a start uniform over the record, so that a whole window of `length` bases fits (a record
   shorter than `length` gives the whole record);
4. a strand: the reverse complement with probability 1/2 (A<->T, C<->G, N stays N), since
   reads come from both strands;
5. noise while copying base by base, one uniform draw per source base deciding among
   exclusive events: with probability `substitution` one of the 3 other bases (uniform; N
   stays N), with probability indel/2 a random base is inserted before the base, with
   probability indel/2 the base is deleted. So reads with sequencing errors look like
   something seen in training. Copying goes on until `length` bases are out or the record
   ends: it reads past the nominal window, so deletions do not shorten a fragment whose
   record has more bases.

All in one Numba kernel without the GIL. Randomness is splitmix64 (seqray.hashing.mix64 over
a golden-ratio counter) seeded from (seed, fragment index), so the same arguments give the
same bytes on any thread, and the first k fragments of a call are those of a call for k.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numba import njit

from seqray.errors import ConfigError, InputError
from seqray.hashing import mix64

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_U64 = (1 << 64) - 1
_BASES = b"ACGTN"

# any byte -> upper-case A C G T, everything else N
_NORMALISE = np.full(256, ord("N"), np.uint8)
for _b in b"ACGT":
    _NORMALISE[_b] = _b
    _NORMALISE[_b + 32] = _b
# A C G T N -> 0 1 2 3 4 (other bytes never reach the kernel)
_CODE = np.full(256, 4, np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _CODE[_b] = _i
_ACGTN = np.frombuffer(_BASES, np.uint8).copy()


@dataclass(frozen=True)
class Noise:
    """Per-base mutation rates applied to sampled fragments."""

    substitution: float = 0.0
    indel: float = 0.0  # half insertions (a random base before the base), half deletions

    def __post_init__(self) -> None:
        for name in ("substitution", "indel"):
            rate = getattr(self, name)
            if not (isinstance(rate, (int, float)) and 0.0 <= rate < 1.0):
                raise ConfigError(f"--noise: the {name} rate must be in [0, 1) (got {rate!r})")
        if self.substitution + self.indel >= 1.0:
            raise ConfigError(
                f"--noise: substitution + indel must be below 1 "
                f"(got {self.substitution} + {self.indel})"
            )

    @classmethod
    def parse(cls, text: str) -> Noise:
        """ "0.02": substitutions at 2 %; "0.08,0.04": substitutions 8 %, indels 4 %."""
        parts = text.split(",")
        if len(parts) > 2:
            raise ConfigError(f"--noise: expected SUB or SUB,INDEL (got {text!r})")
        try:
            rates = [float(p) for p in parts]
        except ValueError:
            raise ConfigError(
                f"--noise: expected SUB or SUB,INDEL as numbers (got {text!r})"
            ) from None
        if not all(math.isfinite(r) for r in rates):
            raise ConfigError(f"--noise: rates must be finite (got {text!r})")
        return cls(*rates)

    def to_json(self) -> dict[str, float]:
        return {"substitution": self.substitution, "indel": self.indel}

    @property
    def is_zero(self) -> bool:
        return self.substitution == 0.0 and self.indel == 0.0


@dataclass
class References:
    """Reference sequences in one buffer: upper-case ASCII (A C G T N; anything else becomes
    N in `build`), records concatenated; record r is values[offsets[r]:offsets[r+1]] and has
    label index record_labels[r]."""

    values: np.ndarray  # uint8
    offsets: np.ndarray  # int64[R+1]
    record_labels: np.ndarray  # int32[R]
    labels: list[str]  # label names, index = label id

    def __post_init__(self) -> None:
        self.values = np.ascontiguousarray(self.values, dtype=np.uint8)
        self.offsets = np.ascontiguousarray(self.offsets, dtype=np.int64)
        self.record_labels = np.ascontiguousarray(self.record_labels, dtype=np.int32)
        n_rec = len(self.record_labels)
        if self.values.ndim != 1 or self.offsets.shape != (n_rec + 1,):
            raise ValueError("references: offsets must have one entry per record plus one")
        if (
            self.offsets[0] != 0
            or self.offsets[-1] != len(self.values)
            or bool(np.any(np.diff(self.offsets) < 0))
        ):
            raise ValueError("references: offsets must rise from 0 to the number of bases")
        if n_rec and (
            int(self.record_labels.min()) < 0 or int(self.record_labels.max()) >= len(self.labels)
        ):
            raise ValueError(f"references: record labels must be in 0..{len(self.labels) - 1}")
        if len(self.values) and bool(np.any(_NORMALISE[self.values] != self.values)):
            raise ValueError("references: values must be upper-case A C G T N")

    @classmethod
    def build(cls, labelled: Iterable[tuple[str, Sequence[bytes]]]) -> References:
        """From (label, sequences) pairs; a label given twice gathers both lists (ids in
        order of first appearance). Case is normalised and other letters become N."""
        labels: list[str] = []
        ids: dict[str, int] = {}
        chunks: list[bytes] = []
        record_labels: list[int] = []
        for label, sequences in labelled:
            if label not in ids:
                ids[label] = len(labels)
                labels.append(label)
            for seq in sequences:
                chunks.append(bytes(seq))
                record_labels.append(ids[label])
        lengths = np.fromiter((len(c) for c in chunks), np.int64, len(chunks))
        offsets = np.zeros(len(chunks) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        values = _NORMALISE[np.frombuffer(b"".join(chunks), np.uint8)]
        return cls(values, offsets, np.array(record_labels, np.int32), labels)

    def bases_per_label(self) -> np.ndarray:
        """int64[L]: the bases of each label's records."""
        lengths = np.diff(self.offsets)
        out = np.zeros(len(self.labels), np.int64)
        np.add.at(out, self.record_labels, lengths)
        return out

    @cached_property
    def _index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(records grouped by label, each label's first position in that order [L+1],
        bases up to and including each grouped record within its label, drawable labels)."""
        order = np.argsort(self.record_labels, kind="stable").astype(np.int64)
        first = np.zeros(len(self.labels) + 1, np.int64)
        np.cumsum(np.bincount(self.record_labels, minlength=len(self.labels)), out=first[1:])
        running = np.zeros(len(order) + 1, np.int64)
        np.cumsum(np.diff(self.offsets)[order], out=running[1:])
        # restart the running sum at each label's first record
        cum = running[1:] - np.repeat(running[first[:-1]], np.diff(first))
        drawable = np.flatnonzero(self.bases_per_label() > 0).astype(np.int32)
        return order, first, cum, drawable


@njit(cache=True, nogil=True, inline="always")
def _next(state):
    state = state + _GOLDEN
    return state, mix64(state)


@njit(cache=True, nogil=True, inline="always")
def _uniform(x):
    """A uint64 draw as a double in [0, 1) (its top 53 bits)."""
    return np.float64(x >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def _sample(
    values,
    offsets,
    order,
    first,
    cum,
    drawable,
    n,
    length,
    sub,
    indel,
    seed,
    code,
    acgtn,
    out,
    out_off,
    out_lab,
):
    ins_end = sub + indel * 0.5
    del_end = sub + indel
    noisy = del_end > 0.0
    base_seed = mix64(seed)
    pos = 0
    out_off[0] = 0
    for i in range(n):
        state = mix64(base_seed ^ mix64(np.uint64(i)))
        state, x = _next(state)
        lab = drawable[min(int(_uniform(x) * len(drawable)), len(drawable) - 1)]
        lo = first[lab]
        hi = first[lab + 1] - 1
        state, x = _next(state)
        target = min(int(_uniform(x) * cum[hi]), cum[hi] - 1)
        # first record of the label whose running total passes the target
        while lo < hi:
            mid = (lo + hi) // 2
            if cum[mid] > target:
                hi = mid
            else:
                lo = mid + 1
        rec = order[lo]
        a = offsets[rec]
        b = offsets[rec + 1]
        span = min(length, b - a)
        state, x = _next(state)
        start = a + min(int(_uniform(x) * (b - a - span + 1)), b - a - span)
        state, x = _next(state)
        reverse = (x >> np.uint64(63)) != 0
        if reverse:
            p = start + span - 1
            step = -1
            stop = a - 1
        else:
            p = start
            step = 1
            stop = b
        emitted = 0
        while emitted < length and p != stop:
            c = np.int64(code[values[p]])
            p += step
            if reverse and c < 4:
                c = 3 - c
            if noisy:
                state, x = _next(state)
                r = _uniform(x)
                if r < sub:
                    if c < 4:
                        state, x = _next(state)
                        c = (c + 1 + int(_uniform(x) * 3.0)) & 3
                elif r < ins_end:
                    state, x = _next(state)
                    out[pos] = acgtn[x >> np.uint64(62)]
                    pos += 1
                    emitted += 1
                    if emitted == length:
                        break
                elif r < del_end:
                    continue
            out[pos] = acgtn[c]
            pos += 1
            emitted += 1
        out_off[i + 1] = pos
        out_lab[i] = lab


def sample_fragments(
    refs: References, n: int, length: int, noise: Noise, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values uint8, offsets int64[n+1], labels int32[n]): n fragments of at most `length`
    bases drawn as the module docstring says. Raises InputError when no label has bases."""
    if n < 0:
        raise ValueError(f"the number of fragments must be >= 0 (got {n})")
    if length < 1:
        raise ConfigError(f"--fragment must be at least 1 (got {length})")
    order, first, cum, drawable = refs._index
    if len(drawable) == 0:
        names = ", ".join(refs.labels) if refs.labels else "none given"
        raise InputError(f"the references have no bases to sample fragments from ({names})")
    out = np.empty(n * length, np.uint8)
    out_off = np.zeros(n + 1, np.int64)
    out_lab = np.empty(n, np.int32)
    if n:
        _sample(
            refs.values,
            refs.offsets,
            order,
            first,
            cum,
            drawable,
            n,
            length,
            float(noise.substitution),
            float(noise.indel),
            np.uint64(seed & _U64),
            _CODE,
            _ACGTN,
            out,
            out_off,
            out_lab,
        )
    return out[: out_off[-1]].copy(), out_off, out_lab
