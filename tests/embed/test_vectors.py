"""Read vectors and per-token arrays against hand computation: k-mers listed in Python,
their canonical ids by hand, the mean of the normalised rows in float64; unknown buckets
and reads without a k-mer counted; positional encodings against the Transformer formula."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqray.embed.hashing import ExactHasher
from seqray.embed.model import EmbeddingModel
from seqray.embed.table import EmbeddingTable
from seqray.embed.vectors import positional_encoding, read_vectors, token_arrays

from .exact_hasher import kmer_id, tiny_model

READS = [b"ACGTTGCAAC", b"AC", b"", b"NNNNNN", b"ACGNTTGCA", b"acgtac", b"GGGCCCAAATTT"]


def _arrays(reads: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(reads) + 1, np.int64)
    np.cumsum([len(r) for r in reads], out=offsets[1:])
    return np.frombuffer(b"".join(reads), np.uint8).copy(), offsets


def _kmers(read: bytes, k: int) -> list[str]:
    s = read.decode().upper()
    return [s[i : i + k] for i in range(len(s) - k + 1) if set(s[i : i + k]) <= set("ACGT")]


def _expected(model, reads: list[bytes]):
    """float64 means of normalised rows, unknown k-mers, reads without a k-mer."""
    buckets = model.table.buckets.tolist()
    m = model.table.as_float32().astype(np.float64)
    out = np.zeros((len(reads), model.dim))
    unknown = empty = 0
    for i, r in enumerate(reads):
        kmers = _kmers(r, model.hasher.k)
        empty += not kmers
        rows = []
        for km in kmers:
            b = kmer_id(km)
            if b in buckets:
                rows.append(m[buckets.index(b)] / np.linalg.norm(m[buckets.index(b)]))
            else:
                unknown += 1
        if rows:
            out[i] = np.mean(rows, axis=0)
    return out, unknown, empty


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_read_vectors_are_means_of_normalised_rows(dtype):
    model = tiny_model(dtype=dtype)
    values, offsets = _arrays(READS)
    got, unknown, empty = read_vectors(model, values, offsets)
    want, want_unknown, want_empty = _expected(model, READS)
    assert got.dtype == np.float32 and got.shape == (len(READS), 4)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert (unknown, empty) == (want_unknown, want_empty)
    assert want_unknown > 0 and want_empty == 3  # "AC", "", "NNNNNN"
    assert not got[[1, 2, 3]].any()


def test_reads_whose_kmers_are_all_unknown_get_zero_vectors():
    # the table knows only AAA (canonical id 0); ACGTACGT has none of it
    table = EmbeddingTable.from_float32(np.array([0], np.uint32), np.ones((1, 4), np.float32))
    model = EmbeddingModel(ExactHasher(3), table)
    values, offsets = _arrays([b"ACGTACGT", b"TTTAAA"])
    got, unknown, empty = read_vectors(model, values, offsets)
    assert not got[0].any() and np.allclose(got[1], 0.5)  # TTT, AAA known; TTA, TAA not
    assert (unknown, empty) == (6 + 2, 0)


def test_pairs_are_embedded_together():
    model = tiny_model()
    r1 = [b"ACGTTGCAAC", b"A", b"", b"GGGCCC"]
    r2 = [b"TTGACA", b"CCCGGGA", b"NN", b""]
    v1, o1 = _arrays(r1)
    v2, o2 = _arrays(r2)
    got, unknown, empty = read_vectors(model, v1, o1, v2, o2)
    want, want_unknown, want_empty = _expected(model, [a + b"N" + b for a, b in zip(r1, r2)])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert (unknown, empty) == (want_unknown, want_empty) and empty == 1


def test_positional_encoding_is_the_transformer_formula():
    dim = 7
    pe = positional_encoding(np.array([0, 1, 5, 1000]), dim)
    for r, pos in enumerate([0, 1, 5, 1000]):
        for j in range(dim):
            angle = pos / 10000 ** ((j - j % 2) / dim)
            want = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert pe[r, j] == pytest.approx(want, abs=1e-6)


@pytest.mark.parametrize("positional", [True, False])
def test_token_arrays(positional):
    model = tiny_model()
    reads = [b"ACGTTG", b"AC", b"TTNGCAT"]
    values, offsets = _arrays(reads)
    arrays, tok_offsets, unknown, empty = token_arrays(model, values, offsets, positional)
    buckets = model.table.buckets.tolist()
    m = model.table.as_float32().astype(np.float64)
    assert tok_offsets.tolist() == [0, 4, 4, 6]
    rows, want_unknown = [], 0
    for r in reads:
        for pos, km in enumerate(_kmers(r, 3)):
            b = kmer_id(km)
            v = np.zeros(4)
            if b in buckets:
                v = m[buckets.index(b)] / np.linalg.norm(m[buckets.index(b)])
            else:
                want_unknown += 1
            if positional:
                v = v + [
                    math.sin(pos),
                    math.cos(pos),
                    math.sin(pos / 10000**0.5),
                    math.cos(pos / 10000**0.5),
                ]
            rows.append(v)
    np.testing.assert_allclose(arrays, np.array(rows), rtol=1e-5, atol=1e-6)
    assert (unknown, empty) == (want_unknown, 1)


def test_token_arrays_of_pairs_put_the_mate_after_read_1():
    model = tiny_model()
    v1, o1 = _arrays([b"ACGT", b"GG"])
    v2, o2 = _arrays([b"TTGCA", b"CATG"])
    arrays, tok_offsets, _, empty = token_arrays(model, v1, o1, False, v2, o2)
    assert tok_offsets.tolist() == [0, 5, 7] and empty == 0
    single, _, _, _ = token_arrays(model, *_arrays([b"ACGT", b"TTGCA", b"CATG"]), False)
    np.testing.assert_array_equal(arrays, single)
    with_pe, _, _, _ = token_arrays(model, v1, o1, True, v2, o2)
    np.testing.assert_allclose(
        with_pe - arrays, positional_encoding(np.array([0, 1, 2, 3, 4, 0, 1]), 4), atol=1e-6
    )
