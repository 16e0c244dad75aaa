"""Random reads for tests, fast: the bytes `random.Random(seed)` would give, drawn in bulk.

The tests' reads were written by a loop of `rng.randint` and `rng.choice` calls, one per
base; tens of thousands of reads took seconds each time a test made them. Here the same
Mersenne Twister stream is read from NumPy's MT19937, started from `random.Random(seed)`'s
state, and CPython's draws are replayed on it: `getrandbits(k)` (k <= 32) is the top k bits
of one 32-bit output, and `_randbelow(n)` draws `n.bit_length()` bits until the value is
below n (CPython 3.8+; `choice`, `randrange` and `randint` all go through it). The files are
byte for byte those of the per-base loop (tests/test_randreads.py checks it against that
loop), so every seed keeps the reads it always had.
"""

from __future__ import annotations

import random

import numpy as np

BASES = np.frombuffer(b"ACGTN", np.uint8)
QUALS = np.frombuffer(b"#5?@+IJ", np.uint8)


class MtStream:
    """CPython's `random.Random(seed)` draws, from a buffer of its raw 32-bit outputs."""

    def __init__(self, seed: int):
        state = random.Random(seed).getstate()[1]
        self.gen = np.random.MT19937()
        self.gen.state = {
            "bit_generator": "MT19937",
            "state": {"key": np.array(state[:624], np.uint32), "pos": state[624]},
        }
        self.words = np.empty(0, np.uint32)
        self.at = 0

    def _more(self, n: int) -> None:
        fresh = self.gen.random_raw(max(n, 1 << 16)).astype(np.uint32)
        self.words = np.concatenate([self.words[self.at :], fresh])
        self.at = 0

    def below(self, n: int) -> int:
        """`rng._randbelow(n)`: randrange(n), randint(0, n - 1), the index of choice()."""
        if n <= 0:
            raise ValueError("empty range")
        shift = 32 - n.bit_length()
        while True:
            if self.at >= len(self.words):
                self._more(1)
            r = int(self.words[self.at]) >> shift
            self.at += 1
            if r < n:
                return r

    def many_below(self, n: int, count: int) -> np.ndarray:
        """`count` successive `_randbelow(n)` draws, as an array."""
        if count == 0:
            return np.empty(0, np.int64)
        shift = np.uint32(32 - n.bit_length())
        need = 2 * count + 64
        while True:
            if len(self.words) - self.at < need:
                self._more(need)
            values = self.words[self.at : self.at + need] >> shift
            kept = np.flatnonzero(values < n)
            if len(kept) >= count:
                self.at += int(kept[count - 1]) + 1
                return values[kept[:count]].astype(np.int64)
            need *= 2

    def text(self, alphabet: np.ndarray, count: int) -> bytes:
        """''.join(rng.choice(alphabet) for _ in range(count)), as bytes."""
        return alphabet[self.many_below(len(alphabet), count)].tobytes()


def random_fastq(n: int, seed: int = 1, max_len: int = 300) -> bytes:
    """Records `@read{i} c={i % 7}` of 0..max_len random bases (N included), random
    qualities."""
    rng = MtStream(seed)
    out = []
    for i in range(n):
        length = rng.below(max_len + 1)
        s = rng.text(BASES, length)
        q = rng.text(QUALS, length)
        out.append(b"@read%d c=%d\n%s\n+\n%s\n" % (i, i % 7, s, q))
    return b"".join(out)


def random_pairs(n: int, seed: int = 1, dup_every: int = 0) -> tuple[bytes, bytes]:
    """Mates `@pair{i}/1`, `/2` of 0..100 and 0..300 bases; with `dup_every`, every such
    pair repeats an earlier pair's sequences."""
    rng = MtStream(seed)
    seqs: list[tuple[bytes, bytes, bytes, bytes]] = []
    out1, out2 = [], []
    for i in range(n):
        if dup_every and i % dup_every == dup_every - 1:
            s1, q1, s2, q2 = seqs[rng.below(len(seqs))]
        else:
            s1 = rng.text(BASES, rng.below(101))
            s2 = rng.text(BASES, rng.below(301))
            q1, q2 = rng.text(QUALS, len(s1)), rng.text(QUALS, len(s2))
            seqs.append((s1, q1, s2, q2))
        out1.append(b"@pair%d/1\n%s\n+\n%s\n" % (i, s1, q1))
        out2.append(b"@pair%d/2\n%s\n+\n%s\n" % (i, s2, q2))
    return b"".join(out1), b"".join(out2)
