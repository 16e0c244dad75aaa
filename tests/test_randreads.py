"""The fast random reads (tests/randreads.py) are the bytes of the per-base loop they
replace, for every seed, length limit and duplicate spacing the tests use and more."""

from __future__ import annotations

import random

import pytest

from .randreads import random_fastq, random_pairs


def _loop_fastq(n: int, seed: int, max_len: int) -> bytes:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        L = rng.randint(0, max_len)
        s = "".join(rng.choice("ACGTN") for _ in range(L))
        q = "".join(rng.choice("#5?@+IJ") for _ in range(L))
        out.append(f"@read{i} c={i % 7}\n{s}\n+\n{q}\n")
    return "".join(out).encode()


def _loop_pairs(n: int, seed: int, dup_every: int) -> tuple[bytes, bytes]:
    rng = random.Random(seed)
    seqs: list[tuple[str, str, str, str]] = []
    f1, f2 = [], []
    for i in range(n):
        if dup_every and i % dup_every == dup_every - 1:
            s1, q1, s2, q2 = seqs[rng.randrange(len(seqs))]
        else:
            s1, s2 = (
                "".join(rng.choice("ACGTN") for _ in range(rng.randint(0, hi))) for hi in (100, 300)
            )
            q1, q2 = ("".join(rng.choice("#5?@+IJ") for _ in s) for s in (s1, s2))
            seqs.append((s1, q1, s2, q2))
        f1.append(f"@pair{i}/1\n{s1}\n+\n{q1}\n")
        f2.append(f"@pair{i}/2\n{s2}\n+\n{q2}\n")
    return "".join(f1).encode(), "".join(f2).encode()


@pytest.mark.parametrize("seed", [1, 2, 5, 9, 11, 12345])
@pytest.mark.parametrize("max_len", [0, 1, 20, 40, 120, 300])
def test_fastq_equals_the_loop(seed, max_len):
    assert random_fastq(150, seed, max_len) == _loop_fastq(150, seed, max_len)


@pytest.mark.parametrize("seed", [1, 4, 6, 8, 11])
@pytest.mark.parametrize("dup_every", [0, 2, 3, 4, 5])
def test_pairs_equal_the_loop(seed, dup_every):
    assert random_pairs(120, seed, dup_every) == _loop_pairs(120, seed, dup_every)


def test_a_long_run_stays_in_step():
    # past the first buffer of raw outputs, many times over
    assert random_fastq(3000, 3) == _loop_fastq(3000, 3, 300)
