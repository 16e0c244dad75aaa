"""k-mer hashing for embeddings against slow Python references written from the definitions
(LSHvec's complex projection, FNV-1a, canonical codes), by hand, and by its invariants."""

from __future__ import annotations

import io
import json
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqray.embed.hashing import (
    ExactHasher,
    FnvHasher,
    KmerHasher,
    LshHasher,
    fit_lsh,
    hasher_from,
    make_hasher,
    sample_kmers,
)
from seqray.errors import ConfigError
from seqray.kmers.encode import encode_kmers

COMP = str.maketrans("ACGTNacgtn", "TGCANtgcan")
COMPLEX = {"A": -1, "T": 1, "C": -1j, "G": 1j}


def buffers(reads: list[str]) -> tuple[np.ndarray, np.ndarray]:
    raw = "".join(reads).encode()
    offsets = np.zeros(len(reads) + 1, np.int64)
    np.cumsum([len(r) for r in reads], out=offsets[1:])
    return np.frombuffer(raw, np.uint8), offsets


def revcomp(s: str) -> str:
    return s.translate(COMP)[::-1]


def valid_windows(read: str, k: int) -> list[str]:
    w = [read[p : p + k].upper() for p in range(len(read) - k + 1)]
    return [x for x in w if set(x) <= set("ACGT")]


def ref_code(s: str) -> int:
    c = 0
    for b in s:
        c = c * 4 + "ACGT".index(b)
    return c


def ref_canonical(s: str) -> int:
    return min(ref_code(s), ref_code(revcomp(s)))


def ref_fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) % 2**64
    return h


def ref_lsh(s: str, normals: np.ndarray, offsets: np.ndarray) -> tuple[int, float]:
    """(bucket, smallest |margin|) of one k-mer: bits Re(n . x) > Re(c) of it and its rc."""
    ids, margins = [], []
    for strand in (s, revcomp(s)):
        x = np.array([COMPLEX[b] for b in strand], dtype=complex)
        margin = (normals @ x).real - offsets.real
        ids.append(sum(1 << i for i in range(len(margin)) if margin[i] > 0))
        margins.append(np.abs(margin).min())
    return min(ids), min(margins)


def random_reads(rng: np.random.Generator, n: int, lo: int, hi: int, n_rate=0.0) -> list[str]:
    out = []
    for _ in range(n):
        r = rng.choice(list("ACGT"), size=int(rng.integers(lo, hi + 1)))
        r[rng.random(len(r)) < n_rate] = "N"
        out.append("".join(r))
    return out


@cache
def lsh_for(k: int, bits: int, seed: int = 0) -> LshHasher:
    reads = random_reads(np.random.default_rng(100 + k), 20, 200, 200)
    return fit_lsh(k, bits, sample_kmers(*buffers(reads), k, 2 * bits * k, seed), seed)


def hashers(k: int) -> list[KmerHasher]:
    out: list[KmerHasher] = [lsh_for(k, 12), FnvHasher(k, 1000)]
    if k <= 16:
        out.append(ExactHasher(k))
    return out


# --- LSH against the complex-vector reference -------------------------------------------


@pytest.mark.parametrize("k,bits", [(3, 3), (5, 9), (9, 16), (15, 22), (31, 32), (32, 17)])
def test_lsh_matches_complex_reference(k, bits):
    rng = np.random.default_rng(k)
    reads = random_reads(rng, 12, 0, 90, n_rate=0.03)
    h = lsh_for(k, bits)
    ids, offs = h.hash_reads(*buffers(reads))
    expect, close = [], 0
    for r in reads:
        for w in valid_windows(r, k):
            bucket, margin = ref_lsh(w, h.normals, h.offsets)
            # a projection within rounding of its threshold may go either way (LSHvec's too):
            # the sampled k-mers lie on their planes, and for small k so do many other
            # k-mers (the planes of a {±1, ±i} lattice are proportional to Gaussian integers)
            expect.append(bucket if margin > 1e-9 else -1)
            close += margin <= 1e-9
    got = ids.astype(np.int64)
    expect_arr = np.array(expect, np.int64)
    assert len(got) == len(expect_arr) > 0
    tie = expect_arr < 0
    assert (~tie).sum() >= 50
    if k >= 9:
        assert close < 0.02 * len(expect_arr)
    np.testing.assert_array_equal(got[~tie], expect_arr[~tie])
    assert (got < 2**bits).all()


def test_lsh_planes_pass_through_their_sampled_kmers():
    """LSHvec's affine hull: every sampled k-mer lies on each plane it was drawn for, so
    some sample k-mer sits on (numerically) zero margin for every plane."""
    k, bits = 9, 6
    reads = random_reads(np.random.default_rng(3), 10, 100, 100)
    sample = sample_kmers(*buffers(reads), k, bits * k, 5)
    h = fit_lsh(k, bits, sample, 5)
    x = np.array([[COMPLEX[b] for b in s] for s in _decode(sample, k)])
    resid = np.abs(x @ h.normals.T - h.offsets[None, :])  # complex x . n - c, [n, bits]
    on_plane = (resid < 1e-9).sum(axis=0)
    assert (on_plane >= k).all()  # k distinct points per plane (more if repeated in sample)
    assert np.allclose(np.linalg.norm(np.c_[h.normals, h.offsets], axis=1), 1.0)


def _decode(codes: np.ndarray, k: int) -> list[str]:
    return ["".join("ACGT"[(int(c) >> (2 * (k - 1 - j))) & 3] for j in range(k)) for c in codes]


# --- canonical: reverse-complement symmetry ------------------------------------------------


@pytest.mark.parametrize("k", [1, 4, 11, 15, 16, 21, 32])
def test_reverse_complement_gives_reversed_ids(k):
    rng = np.random.default_rng(50 + k)
    reads = random_reads(rng, 30, 0, 120, n_rate=0.02)
    for h in hashers(k):
        ids, offs = h.hash_reads(*buffers(reads))
        rids, roffs = h.hash_reads(*buffers([revcomp(r) for r in reads]))
        np.testing.assert_array_equal(offs, roffs)
        for i in range(len(reads)):
            a = ids[offs[i] : offs[i + 1]]
            b = rids[roffs[i] : roffs[i + 1]]
            np.testing.assert_array_equal(a, b[::-1], err_msg=f"{h.scheme} k={k} read {i}")


# --- LSH locality ---------------------------------------------------------------------------


def _neighbour_and_random_rates(h: KmerHasher, k: int) -> tuple[float, float]:
    rng = np.random.default_rng(11)
    n = 6000
    digits = rng.integers(0, 4, (n, k))
    subst = digits.copy()
    pos = rng.integers(0, k, n)
    subst[np.arange(n), pos] = (subst[np.arange(n), pos] + rng.integers(1, 4, n)) % 4
    letters = np.frombuffer(b"ACGT", np.uint8)
    offs = np.arange(0, n * k + 1, k, dtype=np.int64)
    a = h.hash_reads(letters[digits].ravel(), offs)[0]
    b = h.hash_reads(letters[subst].ravel(), offs)[0]
    assert len(a) == len(b) == n
    pairs = rng.integers(0, n, (60000, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return float((a == b).mean()), float((a[pairs[:, 0]] == a[pairs[:, 1]]).mean())


def test_lsh_neighbours_share_buckets_far_more_than_random_kmers():
    k, bits = 15, 8  # 256 buckets: random collisions are frequent enough to measure
    rates = [_neighbour_and_random_rates(lsh_for(k, bits, seed), k) for seed in range(3)]
    for neighbour, rand in rates:
        assert rand > 0.001  # measured, not zero
        assert neighbour > 10 * rand, rates
    # the plain hash has no locality: a neighbour is a random k-mer to it
    neighbour, rand = _neighbour_and_random_rates(FnvHasher(k, 256), k)
    assert neighbour < 3 * rand + 0.01


# --- baselines by hand and against references ---------------------------------------------


def test_exact_ids_are_canonical_codes():
    ids, offs = ExactHasher(3).hash_reads(*buffers(["ACGT", "TTT", "aaNcgc"]))
    # ACG=6 (rc CGT=27), CGT=27 (rc ACG=6), TTT=63 (rc AAA=0), CGC=25 (rc GCG=38)
    assert ids.tolist() == [6, 6, 0, 25]
    assert offs.tolist() == [0, 2, 3, 4]
    reads = random_reads(np.random.default_rng(2), 20, 10, 60, n_rate=0.05)
    for k in (1, 7, 16):
        ids, _ = ExactHasher(k).hash_reads(*buffers(reads))
        kmers = [w for r in reads for w in valid_windows(r, k)]
        fwd = encode_kmers(kmers, k)
        assert ids.tolist() == [ref_canonical(w) for w in kmers]
        assert ids.tolist() == [min(int(c), ref_code(revcomp(w))) for c, w in zip(fwd, kmers)]
    assert ExactHasher(16).id_space() == 2**32


def test_fnv_matches_python_fnv1a():
    # published FNV-1a 64 test vectors: "" and "a"
    assert ref_fnv1a64(b"") == 0xCBF29CE484222325
    assert ref_fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    reads = random_reads(np.random.default_rng(4), 20, 10, 80, n_rate=0.05)
    for k, buckets in [(3, 7), (15, 2**22), (31, 2**32), (32, 1)]:
        ids, _ = FnvHasher(k, buckets).hash_reads(*buffers(reads))
        expect = [
            ref_fnv1a64(ref_canonical(w).to_bytes(8, "little")) % buckets
            for r in reads
            for w in valid_windows(r, k)
        ]
        assert ids.tolist() == expect


# --- N, short reads, empty input ------------------------------------------------------------


@pytest.mark.parametrize("k", [3, 15])
def test_n_short_and_empty(k):
    for h in hashers(k):
        ids, offs = h.hash_reads(np.empty(0, np.uint8), np.zeros(1, np.int64))
        assert ids.dtype == np.uint32 and len(ids) == 0 and offs.tolist() == [0]
        reads = ["", "A" * (k - 1), "N" * (k + 3), "A" * k + "N" + "C" * (k - 1), "G" * (k + 1)]
        ids, offs = h.hash_reads(*buffers(reads))
        assert offs.tolist() == [0, 0, 0, 0, 1, 3]
        assert ids[1] == ids[2]  # the same k-mer twice
        with pytest.raises(ValueError, match="offsets"):
            h.hash_reads(np.empty(0, np.uint8), np.empty(0, np.int64))


# --- save / load, determinism ----------------------------------------------------------------


def test_round_trip_is_bit_identical():
    reads = random_reads(np.random.default_rng(8), 40, 0, 150, n_rate=0.02)
    values, offsets = buffers(reads)
    for h in hashers(15) + [lsh_for(32, 32), FnvHasher(21, 2**32)]:
        meta = json.loads(json.dumps(h.to_json()))
        assert meta["version"] == 1 and meta["scheme"] == h.scheme and meta["k"] == h.k
        buf = io.BytesIO()
        np.savez(buf, allow_pickle=False, **h.arrays())
        buf.seek(0)
        with np.load(buf) as npz:
            back = hasher_from(meta, {name: npz[name] for name in npz.files})
        assert type(back) is type(h) and back.to_json() == h.to_json()
        assert back.id_space() == h.id_space()
        a, b = h.hash_reads(values, offsets), back.hash_reads(values, offsets)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_fit_lsh_is_deterministic_for_a_seed():
    reads = random_reads(np.random.default_rng(9), 30, 100, 100)
    values, offsets = buffers(reads)
    s1 = sample_kmers(values, offsets, 13, 400, seed=3)
    s2 = sample_kmers(values, offsets, 13, 400, seed=3)
    np.testing.assert_array_equal(s1, s2)
    assert len(s1) == 400 and not np.array_equal(s1, sample_kmers(values, offsets, 13, 400, 4))
    h1, h2, h3 = fit_lsh(13, 20, s1, 1), fit_lsh(13, 20, s1, 1), fit_lsh(13, 20, s1, 2)
    np.testing.assert_array_equal(h1.normals, h2.normals)
    np.testing.assert_array_equal(h1.offsets, h2.offsets)
    assert not np.array_equal(h1.normals, h3.normals)
    np.testing.assert_array_equal(
        h1.hash_reads(values, offsets)[0], h2.hash_reads(values, offsets)[0]
    )
    assert make_hasher("lsh", 13, hash_bits=20, sample=s1, seed=1).to_json() == h1.to_json()


def test_sample_kmers_are_forward_codes_from_the_reads():
    reads = ["ACGTNACGTTGCA", "NN", "TTTTT"]
    values, offsets = buffers(reads)
    truth = sorted(ref_code(w) for r in reads for w in valid_windows(r, 4))
    assert sorted(sample_kmers(values, offsets, 4, 100, 0).tolist()) == truth
    few = sample_kmers(values, offsets, 4, 3, 0)
    assert len(few) == 3 and set(few.tolist()) <= set(truth)


# --- errors -----------------------------------------------------------------------------------


def test_bad_parameters_are_clear_errors():
    with pytest.raises(ConfigError, match="k must be between 1 and 16"):
        ExactHasher(17)
    with pytest.raises(ConfigError, match="k must be between 1 and 32"):
        FnvHasher(33, 10)
    with pytest.raises(ConfigError, match="k must be between 1 and 32"):
        make_hasher("fnv", 0)
    with pytest.raises(ConfigError, match="buckets must be between 1 and 2\\^32"):
        FnvHasher(5, 0)
    with pytest.raises(ConfigError, match="buckets"):
        FnvHasher(5, 2**32 + 1)
    codes = np.arange(1000, dtype=np.uint64)
    for bits in (0, 33):
        with pytest.raises(ConfigError, match="hash_bits must be between 1 and 32"):
            fit_lsh(5, bits, codes, 0)
    with pytest.raises(ConfigError, match="needs at least 60 sampled k-mers, got 59"):
        fit_lsh(6, 10, codes[:59], 0)
    with pytest.raises(ConfigError, match="needs a sample"):
        make_hasher("lsh", 15)
    with pytest.raises(ConfigError, match="unknown hash 'md5'"):
        make_hasher("md5", 15)
    meta = FnvHasher(5, 10).to_json()
    with pytest.raises(ConfigError, match="version 2 is not supported"):
        hasher_from({**meta, "version": 2}, {})
    with pytest.raises(ConfigError, match="lacks"):
        hasher_from(lsh_for(5, 4).to_json(), {})
    assert make_hasher("fnv", 5, hash_bits=10).id_space() == 1024
    assert make_hasher("fnv", 5).id_space() == 2**22


# --- property: sentence offsets and lengths -----------------------------------------------------


@cache
def _prop_hashers(k: int) -> tuple[KmerHasher, ...]:
    return (lsh_for(k, 5), FnvHasher(k, 97)) + ((ExactHasher(k),) if k <= 16 else ())


@settings(max_examples=120, deadline=None)
@given(
    reads=st.lists(st.text(alphabet="ACGTNacgtR.", min_size=0, max_size=60), max_size=10),
    k=st.integers(1, 32),
)
def test_sentence_offsets_property(reads, k):
    values, offsets = buffers(reads)
    for h in _prop_hashers(k):
        ids, offs = h.hash_reads(values, offsets)
        assert ids.dtype == np.uint32 and offs.dtype == np.int64
        assert len(offs) == len(reads) + 1 and offs[0] == 0 and offs[-1] == len(ids)
        assert np.diff(offs).tolist() == [len(valid_windows(r, k)) for r in reads]
        assert (ids.astype(np.int64) < h.id_space()).all()
        if h.scheme == "exact":
            assert ids.tolist() == [ref_canonical(w) for r in reads for w in valid_windows(r, k)]
