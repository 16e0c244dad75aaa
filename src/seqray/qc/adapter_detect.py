"""Single-end adapter detection, as fastp 0.23.2 does it before trimming (its
`Evaluator::evalAdapterAndReadNum`), with seqray's own table of known adapters.

From the first reads of the file (up to 256 Ki reads or 151 × 256 Ki bases; fewer than
10,000 reads: nothing is detected), every 10-mer of A/C/G/T that starts at base 20 or
later and ends before the last `max(1, trim_tail1)` bases is counted. The ten most
frequent 10-mers (ties: the larger code first; A, T, C, G = 0..3) that are not low
complexity (no base six times or more, fewer than eight G/C, not starting GGGG) are
tried as seeds in that order, while a seed's count is at least 10 and at least 20 times
the mean count of such 10-mers; a seed whose sequence changes base fewer than three
times is passed over. For a seed, the read tails after each of its occurrences and the
(reversed) read heads before it are walked as two prefix trees (`dominant_path`), and
the adapter is head path + seed + tail path, cut to 60 bases. If one of the known
adapters is its prefix, that known adapter is the result; else the assembled sequence
is, if both walks reached a leaf; else the next seed is tried.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

import numpy as np
from numba import njit

KEY_LEN = 10  # fastp's keylen
FIRST_POS = 20  # the first base a counted 10-mer may start at
READ_LIMIT = 256 * 1024
BASE_LIMIT = 151 * READ_LIMIT
MIN_READS = 10_000
TOP = 10
FOLD = 20
MIN_SEED_COUNT = 10
MAX_LEN = 60
DOMINANT_RATIO = 0.95
MIN_BRANCH = 50
_N = ord("N")
_BASES = "ATCG"  # fastp's 2-bit codes 0..3


@dataclass(frozen=True)
class DetectedAdapter:
    """The outcome of detection: `sequence` is "" when nothing was detected; `known_as`
    names the known adapter it matched (also when that one is too long to be used)."""

    sequence: str
    known_as: str | None = None
    reads: int = 0  # reads looked at

    def to_json(self) -> dict:
        return {"sequence": self.sequence or None, "known_as": self.known_as, "reads": self.reads}


@functools.cache
def known_adapters() -> tuple[tuple[str, str], ...]:
    """(sequence, name) of the known adapters, in the order they are tried (sorted by
    sequence, as fastp's map is); see the data file's header for the sources."""
    text = resources.files(__package__).joinpath("data/known_adapters.fa").read_text()
    table: dict[str, str] = {}
    name = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(">"):
            name = line[1:].strip()
        else:
            table.setdefault(line.upper(), name)
    return tuple(sorted(table.items()))


def match_known(seq: str, table: Iterable[tuple[str, str]] | None = None) -> tuple[str, str] | None:
    """The first known adapter (sequence order) that `seq` starts with."""
    for known, name in known_adapters() if table is None else table:
        if len(known) <= len(seq) and seq.startswith(known):
            return known, name
    return None


def kmer_code(seq: str) -> int:
    code = 0
    for c in seq:
        code = (code << 2) | _BASES.index(c)
    return code


def kmer_seq(code: int, k: int = KEY_LEN) -> str:
    return "".join(_BASES[(code >> (2 * (k - 1 - i))) & 3] for i in range(k))


@functools.cache
def _base_codes() -> np.ndarray:
    t = np.full(256, -1, np.int64)
    for i, c in enumerate(_BASES):
        t[ord(c)] = i
    return t


@njit(cache=True, nogil=True)
def _scan(values, offsets, shift, codes, seed, counts, hits_read, hits_pos):  # pragma: no cover
    """Every valid 10-mer starting at FIRST_POS..len-10-shift: counted into `counts`
    (when it has room), and where it equals `seed` its (read, start) recorded into the
    hits arrays (when they have room). Returns the number of seed hits."""
    mask = (1 << (2 * KEY_LEN)) - 1
    nh = 0
    for r in range(len(offsets) - 1):
        b = offsets[r]
        last = offsets[r + 1] - b - KEY_LEN - shift  # the last start
        key = 0
        run = 0
        for i in range(FIRST_POS, last + KEY_LEN):
            c = codes[values[b + i]]
            if c < 0:
                run = 0
                key = 0
                continue
            key = ((key << 2) | c) & mask
            run += 1
            if run >= KEY_LEN:
                if len(counts):
                    counts[key] += 1
                if key == seed:
                    if nh < len(hits_read):
                        hits_read[nh] = r
                        hits_pos[nh] = i - KEY_LEN + 1
                    nh += 1
    return nh


def count_kmers(values: np.ndarray, offsets: np.ndarray, shift: int) -> np.ndarray:
    counts = np.zeros(1 << (2 * KEY_LEN), np.uint32)
    none = np.zeros(0, np.int64)
    _scan(values, offsets, shift, _base_codes(), -1, counts, none, none)
    return counts


def seed_hits(
    values: np.ndarray, offsets: np.ndarray, shift: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(read, start) of every occurrence of `seed`, in read order then position order."""
    none = np.zeros(0, np.int64)
    codes = _base_codes()
    no_counts = np.zeros(0, np.uint32)
    n = _scan(values, offsets, shift, codes, seed, no_counts, none, none)
    reads, pos = np.zeros(n, np.int64), np.zeros(n, np.int64)
    _scan(values, offsets, shift, codes, seed, no_counts, reads, pos)
    return reads, pos


@functools.cache
def _eligible() -> np.ndarray:
    """10-mers fastp may take as seeds: no base ≥ 6 times, < 8 G/C, not GGGG…"""
    k = np.arange(1 << (2 * KEY_LEN), dtype=np.int64)
    per_base = np.zeros((4, len(k)), np.int8)
    for i in range(KEY_LEN):
        b = (k >> (2 * i)) & 3
        for c in range(4):
            per_base[c] += b == c
    low = (per_base >= KEY_LEN - 4).any(axis=0)
    gc = per_base[2].astype(np.int64) + per_base[3] >= KEY_LEN - 2
    gggg = (k >> 12) == 0xFF
    return ~(low | gc | gggg)


def seeds(counts: np.ndarray) -> list[int]:
    """The seeds to try, in order (fastp's top ten and its thresholds)."""
    counts = counts.astype(np.int64)
    counts[0] = 0
    keys = np.flatnonzero(_eligible())
    vals = counts[keys]
    total = int(vals.sum())
    top = keys[np.lexsort((-keys, -vals))[:TOP]]  # count descending, then code descending
    out = []
    for key in top.tolist():
        count = int(counts[key])
        if count < MIN_SEED_COUNT or count * len(counts) < total * FOLD:
            break
        s = kmer_seq(key)
        if sum(a != b for a, b in zip(s, s[1:])) < 3:
            continue
        out.append(key)
    return out


def dominant_path(
    values: np.ndarray, starts: np.ndarray, lengths: np.ndarray, step: int = 1
) -> tuple[str, bool]:
    """fastp's `NucleotideTree::getDominantPath` over the sequences `values[starts[i] +
    step * d]` for d < lengths[i] (step -1: read backwards), inserted in index order.

    A sequence stops at its first N. From the root, while at least 50 sequences go on
    past the current node, the child that at least 95 % of them take (children keyed by
    `byte & 7`, named by the first sequence that made them) is appended; the walk ends
    at a node fewer than 50 go past (a leaf: True) or one with no such child (False)."""
    active = np.arange(len(starts))
    path = bytearray()
    depth = 0
    while True:
        live = active[lengths[active] > depth]
        b = values[starts[live] + step * depth]
        on = b != _N
        live, b = live[on], b[on]
        total = len(live)
        if total < MIN_BRANCH:
            return path.decode("latin-1"), True
        slot = b & 7
        per_slot = np.bincount(slot, minlength=8)
        dominant = np.flatnonzero(per_slot / total >= DOMINANT_RATIO)
        if not len(dominant):
            return path.decode("latin-1"), False
        take = slot == dominant[0]
        path.append(int(b[take][0]))
        active = live[take]
        depth += 1


def tree_path(seqs: list[str]) -> tuple[str, bool]:
    """`dominant_path` over plain strings (tests, small inputs)."""
    data = "".join(seqs).encode("latin-1")
    lengths = np.array([len(s) for s in seqs], np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return dominant_path(np.frombuffer(data, np.uint8), starts, lengths)


def adapter_with_seed(
    values: np.ndarray, offsets: np.ndarray, shift: int, seed: int
) -> DetectedAdapter | None:
    """fastp's `getAdapterWithSeed`: the adapter grown from `seed`, or None."""
    reads, pos = seed_hits(values, offsets, shift, seed)
    base = offsets[reads].astype(np.int64)
    rlen = offsets[reads + 1].astype(np.int64) - base
    tail, leaf1 = dominant_path(values, base + pos + KEY_LEN, rlen - KEY_LEN - shift - pos)
    head, leaf2 = dominant_path(values, base + pos - 1, pos, step=-1)
    adapter = (head[::-1] + kmer_seq(seed) + tail)[:MAX_LEN]
    known = match_known(adapter)
    if known is not None:
        return DetectedAdapter(known[0], known[1])
    if leaf1 and leaf2:
        return DetectedAdapter(adapter)
    return None


def first_reads(batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The reads fastp looks at: from the start, while fewer than READ_LIMIT reads and
    fewer than BASE_LIMIT bases were taken (the read that passes the base limit is in)."""
    vals: list[np.ndarray] = []
    lens: list[np.ndarray] = []
    reads = bases = 0
    for values, offsets in batches:
        n = np.diff(offsets).astype(np.int64)
        before = bases + np.concatenate([[0], np.cumsum(n)[:-1]])
        take = int(np.count_nonzero(before < BASE_LIMIT))  # `before` is non-decreasing
        take = min(take, READ_LIMIT - reads)
        if take:
            vals.append(np.asarray(values[offsets[0] : offsets[take]]))
            lens.append(n[:take])
            reads += take
            bases += int(n[:take].sum())
        if take < len(n) or reads >= READ_LIMIT or bases >= BASE_LIMIT:
            break
    lengths = np.concatenate(lens) if lens else np.zeros(0, np.int64)
    offs = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    values = np.concatenate(vals) if vals else np.zeros(0, np.uint8)
    return values, offs


def detect_adapter(values: np.ndarray, offsets: np.ndarray, trim_tail: int = 0) -> DetectedAdapter:
    """The adapter of single-end reads (`first_reads`' output), as fastp 0.23.2 detects it
    (`trim_tail`: fastp's -t, whose last bases the scan leaves out). A known adapter longer
    than 60 bases counts as nothing detected, as in fastp."""
    reads = len(offsets) - 1
    if reads < MIN_READS:
        return DetectedAdapter("", reads=reads)
    shift = max(1, trim_tail)
    for seed in seeds(count_kmers(values, offsets, shift)):
        found = adapter_with_seed(values, offsets, shift, seed)
        if found is not None:
            seq = found.sequence if len(found.sequence) <= MAX_LEN else ""
            return DetectedAdapter(seq, found.known_as, reads)
    return DetectedAdapter("", reads=reads)
