"""Overrepresented sequences as fastp 0.23.2 finds them (`-p`, sampling `-P`, default 20).

Two steps, as in fastp:

1. **Candidates** (`find_candidates`, in the driver): the first reads of each mate's file,
   up to 151 × 10,000 bases, are cut into every substring of the lengths
   10, 20, 40, 100 and min(150, L − 2) (L: the longest of the first 1,000 reads) at every
   start before the last one; substrings seen often enough for their length are
   candidates, and a candidate inside another one with less than 10 times its count is
   dropped (fastp's evaluator, including its order of removal).
2. **Counts** (`OverrepTally`, per batch): every P-th read (fastp counts the reads of each
   section, so before filtering the P-th raw read, after filtering the P-th passed read)
   is scanned for each length in turn: at a candidate the count goes up and the scan jumps
   past it, with one more base skipped (fastp's loop). A sequence is reported when
   P × count passes fastp's bar for its length.

fastp samples by the reads one worker thread has seen, so only `fastp -w 1` has fixed
numbers; seqray samples by the read's place in the input (its `record` before filtering,
its rank among the passed reads after), which is what `fastp -w 1` does for one input file.
The rank among passed reads is not known inside a batch, so a batch counts the hits of all
its passed reads by their rank modulo P and the driver picks, per batch, the residue that
its offset makes the sampled one: the same result for any chunking or worker count.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numba import njit

BASE_LIMIT = 151 * 10000  # fastp's computeOverRepSeq: bases of the first reads it reads
SEQLEN_READS = 1000  # fastp's computeSeqLen: the longest of the first 1000 reads
_B = np.uint64(0x100000001B3)  # polynomial hash base (odd), wrapping in 64 bits


def steps_for(seqlen: int) -> list[int]:
    """fastp's substring lengths for reads whose evaluated length is `seqlen`."""
    return [10, 20, 40, 100, min(150, seqlen - 2)]


def _min_count(length: int, seqlen: int) -> float:
    """fastp's candidate bar: the count a substring of `length` needs (inf: never)."""
    if length >= seqlen - 1:
        return 3
    if length >= 100:
        return 5
    if length >= 40:
        return 20
    if length >= 20:
        return 100
    if length >= 10:
        return 500
    return float("inf")


def reported(seq: str, count: int, sampling: int) -> bool:
    """fastp's `overRepPassed`: the bar a sampled count must pass to be reported."""
    bar = {10: 500, 20: 200, 40: 100, 100: 50}.get(len(seq), 20)
    return sampling * count > bar


@njit(cache=True, nogil=True)
def _prefix_hashes(values):
    """h[i] = polynomial hash of values[:i] (wrapping uint64), so the window [j, j + s)
    hashes to h[j + s] - h[j] · B^s."""
    h = np.empty(len(values) + 1, np.uint64)
    h[0] = np.uint64(0)
    for i in range(len(values)):
        h[i + 1] = h[i] * _B + np.uint64(values[i])
    return h


def _hot_windows(
    values: np.ndarray, offsets: np.ndarray, step: int, weight: int, bar: float
) -> dict[str, int]:
    """Substrings of length `step` starting before each read's last possible start
    (`i < len - step`, as fastp) whose count × `weight` reaches `bar`, with that product.

    Windows are grouped by a 64-bit hash (a sort of integers, fast); a group too small to
    reach the bar cannot hold a string that does, and only the groups that reach it are
    counted exactly by their bytes, so a hash collision cannot change the result."""
    lengths = np.diff(offsets)
    n = np.maximum(lengths - step, 0)
    total = int(n.sum())
    if step < 1 or not total:
        return {}
    starts = np.repeat(offsets[:-1], n) + (np.arange(total) - np.repeat(np.cumsum(n) - n, n))
    prefix = _prefix_hashes(values)
    with np.errstate(over="ignore"):  # the hashes wrap, as in the scan
        power = np.uint64(1)
        for _ in range(step):
            power = power * _B
        hashes = prefix[starts + step] - prefix[starts] * power
    order = np.argsort(hashes)
    sorted_hashes = hashes[order]
    edges = np.flatnonzero(np.diff(sorted_hashes)) + 1
    bounds = np.concatenate(([0], edges, [total]))
    sizes = np.diff(bounds)
    view = np.lib.stride_tricks.sliding_window_view(values, step)
    out: dict[str, int] = {}
    for g in np.flatnonzero(sizes * weight >= bar).tolist():
        members = starts[order[bounds[g] : bounds[g + 1]]]
        rows = np.ascontiguousarray(view[members]).view(f"V{step}").ravel()
        uniq, counts = np.unique(rows, return_counts=True)
        for u, c in zip(uniq, counts.tolist()):
            if c * weight >= bar:
                out[u.tobytes().decode("latin-1")] = c * weight
    return out


def find_candidates(values: np.ndarray, offsets: np.ndarray, seqlen: int) -> dict[str, int]:
    """fastp's candidate overrepresented sequences (with their counts) among the reads
    `values[offsets[i]:offsets[i+1]]`, the first reads of a file up to BASE_LIMIT bases."""
    hot: dict[str, int] = {}
    steps = steps_for(seqlen)
    for step in sorted(set(steps)):
        # a length listed twice is counted twice, as fastp does
        hot.update(_hot_windows(values, offsets, step, steps.count(step), _min_count(step, seqlen)))
    # fastp walks its sorted map and drops a sequence found inside another one still there
    # (integer count ratio below 10); dropped ones no longer hide others
    alive = dict(sorted(hot.items()))
    for seq, count in sorted(hot.items()):
        for seq2, count2 in alive.items():
            if seq2 != seq and seq in seq2 and count // count2 < 10:
                del alive[seq]
                break
    return alive


def first_reads(
    batches: Iterable[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, int]:
    """(values, offsets, seqlen) of the reads fastp's evaluator reads from the start of a
    file: reads are taken while fewer than BASE_LIMIT bases were taken, and `seqlen` is
    the longest of the first SEQLEN_READS reads. `batches` yields (values, offsets) of
    successive reads."""
    vals, lens, seen = [], [], []
    total = 0
    n_seen = 0
    full = False
    for v, o in batches:
        ln = np.diff(o)
        if n_seen < SEQLEN_READS:
            seen.append(ln[: SEQLEN_READS - n_seen])
            n_seen += len(seen[-1])
        if not full:
            before = total + np.cumsum(ln) - ln  # bases taken before each read
            take = int(np.searchsorted(before, BASE_LIMIT, side="left"))
            vals.append(v[: o[take]])
            lens.append(ln[:take])
            total += int(ln[:take].sum())
            full = take < len(ln)
        if full and n_seen >= SEQLEN_READS:
            break
    values = np.concatenate(vals) if vals else np.empty(0, np.uint8)
    lengths = np.concatenate(lens) if lens else np.empty(0, np.int64)
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    firsts = np.concatenate(seen) if seen else np.empty(0, np.int64)
    return values, offsets, int(firsts.max()) if len(firsts) else 0


# -- the scan (Numba) -----------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _hash(values, start, n):
    h = np.uint64(0)
    for k in range(n):
        h = h * _B + np.uint64(values[start + k])
    return h


@njit(cache=True, nogil=True)
def _build_tables(cvals, coffs, steps):
    """Per step: candidates of that length sorted by hash (hash, candidate id) and where
    each step's run starts."""
    c = len(coffs) - 1
    bounds = np.zeros(len(steps) + 1, np.int64)
    total = 0
    for s in range(len(steps)):
        for j in range(c):
            if coffs[j + 1] - coffs[j] == steps[s]:
                total += 1
        bounds[s + 1] = total
    hashes = np.empty(total, np.uint64)
    ids = np.empty(total, np.int64)
    k = 0
    for s in range(len(steps)):
        lo = k
        for j in range(c):
            if coffs[j + 1] - coffs[j] == steps[s]:
                hashes[k] = _hash(cvals, coffs[j], steps[s])
                ids[k] = j
                k += 1
        order = np.argsort(hashes[lo:k])
        hashes[lo:k] = hashes[lo:k][order]
        ids[lo:k] = ids[lo:k][order]
    return hashes, ids, bounds


@njit(cache=True, nogil=True)
def _scan(sv, so, rows, steps, cvals, coffs, hashes, ids, bounds, filt):
    """Hits of candidates in reads `rows`, scanned as fastp's statRead (per step, a hit
    makes the scan jump past it and one more base): (k, candidate) per hit in rows[k].
    `filt` marks the top 16 bits of every candidate hash (most windows stop there)."""
    longest = 0
    for k in range(len(rows)):
        r = rows[k]
        longest = max(longest, so[r + 1] - so[r])
    pre = np.empty(longest + 1, np.uint64)
    pw = np.empty(151, np.uint64)  # steps are at most 150
    pw[0] = np.uint64(1)
    for k in range(1, len(pw)):
        pw[k] = pw[k - 1] * _B
    out_k = np.empty(1024, np.int64)
    out_c = np.empty(1024, np.int64)
    m = 0
    for k in range(len(rows)):
        r = rows[k]
        b = so[r]
        n = so[r + 1] - b
        pre[0] = np.uint64(0)
        for i in range(n):
            pre[i + 1] = pre[i] * _B + np.uint64(sv[b + i])
        for s in range(len(steps)):
            step = steps[s]
            lo = bounds[s]
            hi = bounds[s + 1]
            if lo == hi:
                continue
            i = 0
            while i < n - step:
                h = pre[i + step] - pre[i] * pw[step]
                hit = -1
                if filt[h >> np.uint64(48)]:
                    j = lo + np.searchsorted(hashes[lo:hi], h)
                    while j < hi and hashes[j] == h:
                        cand = ids[j]
                        same = True
                        for q in range(step):
                            if cvals[coffs[cand] + q] != sv[b + i + q]:
                                same = False
                                break
                        if same:
                            hit = cand
                            break
                        j += 1
                if hit >= 0:
                    if m == len(out_k):
                        out_k = np.concatenate((out_k, np.empty(m, np.int64)))
                        out_c = np.concatenate((out_c, np.empty(m, np.int64)))
                    out_k[m] = k
                    out_c[m] = hit
                    m += 1
                    i += step + 1
                else:
                    i += 1
    return out_k[:m], out_c[:m]


class Candidates:
    """One mate's candidate sequences (sorted) and the lengths its scan walks."""

    def __init__(self, seqs: list[str], seqlen: int):
        self.seqs = sorted(seqs)
        self.seqlen = int(seqlen)
        steps = np.array(steps_for(self.seqlen), np.int64)
        steps[(steps < 1) | (steps > 150)] = 0  # no substring of such a length is a candidate
        raw = [s.encode("latin-1") for s in self.seqs]
        self._vals = np.frombuffer(b"".join(raw), np.uint8) if raw else np.empty(0, np.uint8)
        self._offs = np.zeros(len(raw) + 1, np.int64)
        np.cumsum([len(s) for s in raw], out=self._offs[1:])
        self._tables = _build_tables(self._vals, self._offs, steps)
        self._filter = np.zeros(1 << 16, np.uint8)
        self._filter[(self._tables[0] >> np.uint64(48)).astype(np.int64)] = 1
        self._steps = steps

    def __len__(self) -> int:
        return len(self.seqs)

    def hits(
        self, sv: np.ndarray, so: np.ndarray, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The hits in the reads `rows` of a batch: (index into rows, candidate) per hit."""
        if not len(self.seqs) or not len(rows):
            return np.empty(0, np.int64), np.empty(0, np.int64)
        hashes, ids, bounds = self._tables
        return _scan(
            sv, so, rows, self._steps, self._vals, self._offs, hashes, ids, bounds, self._filter
        )

    def to_json(self) -> dict:
        return {"seqs": self.seqs, "seqlen": self.seqlen}

    @classmethod
    def from_json(cls, d: dict) -> Candidates:
        return cls(list(d["seqs"]), int(d["seqlen"]))

    def __getstate__(self) -> dict:
        return self.to_json()

    def __setstate__(self, d: dict) -> None:
        self.__init__(list(d["seqs"]), int(d["seqlen"]))  # type: ignore[misc]


class OverrepTally:
    """Sampled candidate counts of one mate, before and after filtering (mergeable).

    Before filtering the sampled reads are known in a batch (`record % P == 0`), so their
    counts are summed directly. After filtering, each batch keeps its passed reads' hits by
    rank modulo P (sparse: residue·C + candidate → count) under the batch's place in the
    input (source, first record), and `after_counts` picks the sampled residue per batch
    once every batch's number of passed reads is known."""

    def __init__(self) -> None:
        self.before = np.zeros(0, np.int64)  # sized by the first hits added
        # (source, first record) -> (passed reads, keys, counts)
        self.batches: dict[tuple[str, int], tuple[int, np.ndarray, np.ndarray]] = {}

    def add_before(self, cand: np.ndarray, n_candidates: int) -> None:
        """Hits (candidate ids) in the sampled raw reads of a batch."""
        hits = np.bincount(cand, minlength=n_candidates).astype(np.int64)
        self.before = hits if not len(self.before) else self.before + hits

    def add_after(
        self, key: tuple[str, int], passed: int, k: np.ndarray, cand: np.ndarray, p: int, c: int
    ) -> None:
        """Hits (k: rank of the passed read within the batch, candidate id) of a batch with
        `passed` passed reads, `c` candidates, sampling `p`."""
        keys, counts = np.unique((k % p) * c + cand, return_counts=True)
        self.batches[key] = (passed, keys.astype(np.int64), counts.astype(np.int64))

    def __iadd__(self, other: OverrepTally) -> OverrepTally:
        if not len(self.before):
            self.before = other.before.copy()
        elif len(other.before):
            self.before = self.before + other.before
        self.batches.update(other.batches)
        return self

    def after_counts(self, source_order: list[str], n_candidates: int, p: int) -> np.ndarray:
        """Counts of the sampled passed reads (rank % P == 0 over the whole input)."""
        rank = {s: i for i, s in enumerate(source_order)}
        out = np.zeros(n_candidates, np.int64)
        c = max(n_candidates, 1)
        offset = 0
        for key in sorted(self.batches, key=lambda k: (rank.get(k[0], len(rank)), k[0], k[1])):
            passed, keys, counts = self.batches[key]
            sel = keys // c == (-offset) % p
            np.add.at(out, keys[sel] % c, counts[sel])
            offset += passed
        return out

    def before_counts(self, n_candidates: int) -> np.ndarray:
        return self.before if len(self.before) else np.zeros(n_candidates, np.int64)

    def to_json(self) -> dict:
        return {
            "before": self.before.tolist(),
            "batches": [
                [src, first, passed, keys.tolist(), counts.tolist()]
                for (src, first), (passed, keys, counts) in self.batches.items()
            ],
        }

    @classmethod
    def from_json(cls, d: dict) -> OverrepTally:
        t = cls()
        t.before = np.asarray(d["before"], np.int64)
        for src, first, passed, keys, counts in d["batches"]:
            t.batches[(src, int(first))] = (
                int(passed),
                np.asarray(keys, np.int64),
                np.asarray(counts, np.int64),
            )
        return t


def report_section(seqs: list[str], counts: np.ndarray, sampling: int) -> dict[str, int]:
    """fastp's `overrepresented_sequences`: sorted, those whose sampled count passes."""
    return {s: int(c) for s, c in zip(seqs, counts.tolist()) if reported(s, int(c), sampling)}
