"""Per-mate read profile with fastp's definitions (its `Stats`), mergeable with `+=`.

fastp reports, per mate and before/after filtering, totals (reads, bases, Q20/Q30 bases,
GC) and per-cycle curves (mean quality per base letter, base content). All of them derive
from a few exact integer tallies, which is what a `QcProfile` holds:

- per cycle (0-based position in the read) and base slot A, C, G, T, N, other: the number of
  bases and the sum of their Phred scores;
- the read-length histogram and the base-quality histogram (bases per Phred score);
- fastp's 5-mer table: every window of five consecutive A/C/G/T bases (a window with any
  other byte is not counted), indexed with fastp's 2-bit code A=0, T=1, C=2, G=3.

Integers only, so profiles of chunks merge exactly in any order and the curves are computed
once, in the driver (`report_json`). Arrays grow to the longest read seen, never beyond, so
the serialised form does not depend on chunking.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit

from ..errors import SeqrayError
from ..io.buffers import values_offsets

SLOTS = ("A", "C", "G", "T", "N", "other")
N_SLOTS = len(SLOTS)
MAX_Q = 93  # '~' in Phred+33

_SLOT = np.full(256, SLOTS.index("other"), dtype=np.int64)
for _i, _b in enumerate(b"ACGTN"):
    _SLOT[_b] = _i
_SLOT[ord(".")] = SLOTS.index("N")  # fastp tallies a base by its low 3 bits: '.' as 'N'

KMER_LEN = 5
N_KMERS = 4**KMER_LEN
KMER_BASES = "ATCG"  # fastp's 2-bit code (stats.cpp base2val)
_KCODE = np.full(256, -1, dtype=np.int64)
for _i, _b in enumerate(KMER_BASES.encode()):
    _KCODE[_b] = _i


def kmer_names() -> list[str]:
    """The 5-mers in fastp's `kmer_count` order (code 0..1023, A=0 T=1 C=2 G=3)."""
    return [
        "".join(KMER_BASES[(code >> (2 * (KMER_LEN - 1 - j))) & 3] for j in range(KMER_LEN))
        for code in range(N_KMERS)
    ]


@njit(cache=True, nogil=True)
def _tally(sv, so, qv, has_qual, slot, kcode, counts, qsums, qbytes, kmers):
    """Adds every base of reads sv[so[i]:so[i+1]] to counts[cycle, slot]; with qualities
    (same offsets as the sequences) also to qsums[cycle, slot] and qbytes[quality byte];
    every window of 5 A/C/G/T bases to kmers[code]."""
    mask = N_KMERS - 1
    for i in range(len(so) - 1):
        start = so[i]
        code = 0
        run = 0  # consecutive A/C/G/T bases ending here
        for p in range(so[i + 1] - start):
            base = sv[start + p]
            k = slot[base]
            counts[p, k] += 1
            if has_qual:
                b = qv[start + p]
                qsums[p, k] += b - 33
                qbytes[b] += 1
            c = kcode[base]
            if c < 0:
                run = 0
                continue
            code = ((code << 2) | c) & mask
            run += 1
            if run >= KMER_LEN:
                kmers[code] += 1


def _grow(a: np.ndarray, rows: int) -> np.ndarray:
    if a.shape[0] >= rows:
        return a
    out = np.zeros((rows,) + a.shape[1:], dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


class QcProfile:
    """fastp's per-mate statistics as exact integer tallies (a mergeable accumulator)."""

    def __init__(self) -> None:
        self.reads = 0
        self.has_qual = False
        self.cycle_counts = np.zeros((0, N_SLOTS), np.int64)
        self.cycle_qual = np.zeros((0, N_SLOTS), np.int64)
        self.length_hist = np.zeros(0, np.int64)
        self.qual_hist = np.zeros(MAX_Q + 1, np.int64)
        self.kmers = np.zeros(N_KMERS, np.int64)

    # -- accumulation ----------------------------------------------------------------------
    def add(self, seq_col: pa.Array | pa.ChunkedArray, qual_col=None) -> None:
        """Adds a batch of reads of one mate: `seq_col` large_binary (upper case), `qual_col`
        large_binary Phred+33 of the same lengths, or None / all null (FASTA)."""
        sv, so = values_offsets(seq_col)
        n = len(so) - 1
        if n == 0:
            return
        has_qual = qual_col is not None and qual_col.null_count < len(qual_col)
        if has_qual:
            if qual_col.null_count:
                raise SeqrayError("QC profile: some reads have a quality string and some do not")
            qv, qo = values_offsets(qual_col)
            if len(qo) != len(so) or not np.array_equal(qo, so):
                raise SeqrayError("QC profile: sequence and quality lengths differ")
            if len(qv) and (qv.min() < 33 or qv.max() > 33 + MAX_Q):
                raise SeqrayError("QC profile: quality byte outside Phred+33 ('!'..'~')")
        else:
            qv = np.empty(0, np.uint8)
        lengths = np.diff(so)
        longest = int(lengths.max())
        self.cycle_counts = _grow(self.cycle_counts, longest)
        self.cycle_qual = _grow(self.cycle_qual, longest)
        qbytes = np.zeros(256, np.int64)
        _tally(
            sv, so, qv, has_qual, _SLOT, _KCODE,
            self.cycle_counts, self.cycle_qual, qbytes, self.kmers,
        )  # fmt: skip
        if has_qual:
            self.qual_hist += qbytes[33 : 34 + MAX_Q]
            self.has_qual = True
        hist = np.bincount(lengths, minlength=len(self.length_hist)).astype(np.int64)
        hist[: len(self.length_hist)] += self.length_hist
        self.length_hist = hist
        self.reads += n

    def __iadd__(self, other: QcProfile) -> QcProfile:
        rows = max(self.cycle_counts.shape[0], other.cycle_counts.shape[0])
        self.cycle_counts = _grow(self.cycle_counts, rows)
        self.cycle_qual = _grow(self.cycle_qual, rows)
        self.cycle_counts[: other.cycle_counts.shape[0]] += other.cycle_counts
        self.cycle_qual[: other.cycle_qual.shape[0]] += other.cycle_qual
        self.length_hist = _grow(self.length_hist, len(other.length_hist))
        self.length_hist[: len(other.length_hist)] += other.length_hist
        self.qual_hist += other.qual_hist
        self.kmers += other.kmers
        self.reads += other.reads
        self.has_qual |= other.has_qual
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QcProfile):
            return NotImplemented
        return self.to_json() == other.to_json()

    # -- totals (fastp's names) ------------------------------------------------------------
    @property
    def total_reads(self) -> int:
        return self.reads

    @property
    def total_bases(self) -> int:
        return int(self.cycle_counts.sum())

    @property
    def total_cycles(self) -> int:
        """The longest read (fastp: the first cycle no read reaches)."""
        return int(self.cycle_counts.shape[0])

    @property
    def q20_bases(self) -> int:
        return int(self.qual_hist[20:].sum())

    @property
    def q30_bases(self) -> int:
        return int(self.qual_hist[30:].sum())

    @property
    def gc_bases(self) -> int:
        return int(self.cycle_counts[:, [1, 2]].sum())

    def kmer_count(self) -> dict[str, int]:
        """fastp's `kmer_count`: every 5-mer (fastp's order) and its count."""
        return dict(zip(kmer_names(), self.kmers.tolist()))

    def base_count(self, letter: str) -> int:
        return int(self.cycle_counts[:, SLOTS.index(letter)].sum())

    @property
    def mean_length(self) -> int:
        """fastp's integer mean (total bases // reads)."""
        return self.total_bases // self.reads if self.reads else 0

    # -- curves (unrounded) ----------------------------------------------------------------
    def quality_curves(self) -> dict[str, np.ndarray]:
        """Mean Phred score per cycle, per base letter (A, T, C, G) and over all bases;
        a cycle with no base of a letter takes the overall mean, as fastp does."""
        total = self.cycle_counts.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = self.cycle_qual.sum(axis=1) / total
            curves = {}
            for letter in "ATCG":
                k = SLOTS.index(letter)
                n = self.cycle_counts[:, k]
                curves[letter] = np.where(n > 0, self.cycle_qual[:, k] / np.maximum(n, 1), mean)
        curves["mean"] = mean
        return curves

    def content_curves(self) -> dict[str, np.ndarray]:
        """Fraction of each base letter (and G+C) per cycle."""
        total = self.cycle_counts.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            curves = {b: self.cycle_counts[:, SLOTS.index(b)] / total for b in "ATCGN"}
            c, g = SLOTS.index("C"), SLOTS.index("G")
            curves["GC"] = (self.cycle_counts[:, c] + self.cycle_counts[:, g]) / total
        return curves

    # -- persistence -----------------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "reads": self.reads,
            "has_qual": self.has_qual,
            "slots": list(SLOTS),
            "cycle_counts": self.cycle_counts.tolist(),
            "cycle_qual": self.cycle_qual.tolist(),
            "length_hist": self.length_hist.tolist(),
            "qual_hist": self.qual_hist.tolist(),
            "kmers": self.kmers.tolist(),
        }

    @classmethod
    def from_json(cls, d: dict) -> QcProfile:
        if list(d.get("slots", ())) != list(SLOTS):
            raise SeqrayError(f"QC profile: unknown base slots {d.get('slots')!r}")
        p = cls()
        p.reads = int(d["reads"])
        p.has_qual = bool(d["has_qual"])
        p.cycle_counts = np.array(d["cycle_counts"], np.int64).reshape(-1, N_SLOTS)
        p.cycle_qual = np.array(d["cycle_qual"], np.int64).reshape(-1, N_SLOTS)
        p.length_hist = np.array(d["length_hist"], np.int64)
        p.qual_hist = np.array(d["qual_hist"], np.int64)
        if "kmers" in d:  # absent in profiles saved before the 5-mer table
            p.kmers = np.array(d["kmers"], np.int64)
        return p

    def __repr__(self) -> str:
        return (
            f"QcProfile(reads={self.reads}, bases={self.total_bases}, "
            f"cycles={self.total_cycles}, q30={self.q30_bases})"
        )
