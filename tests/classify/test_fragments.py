"""Fragment sampling: exact substrings without noise, flat label prior, length-weighted
records, both strands, measured mutation rates, determinism, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqray.classify.fragments import Noise, References, sample_fragments
from seqray.errors import ConfigError, InputError

COMPLEMENT = bytes.maketrans(b"ACGTN", b"TGCAN")


def revcomp(seq: bytes) -> bytes:
    return seq.translate(COMPLEMENT)[::-1]


def random_seq(rng, n: int) -> bytes:
    return bytes(rng.choice(np.frombuffer(b"ACGT", np.uint8), n))


def fragments(values, offsets):
    return [values[offsets[i] : offsets[i + 1]].tobytes() for i in range(len(offsets) - 1)]


def test_build_normalises_and_groups():
    refs = References.build([("x", [b"acgtRY", b"GG"]), ("y", []), ("x", [b"n-T"])])
    assert refs.labels == ["x", "y"]
    assert refs.values.tobytes() == b"ACGTNNGGNNT"
    assert refs.offsets.tolist() == [0, 6, 8, 11]
    assert refs.record_labels.tolist() == [0, 0, 0]
    assert refs.bases_per_label().tolist() == [11, 0]
    with pytest.raises(ValueError, match="upper-case"):
        References(np.frombuffer(b"acgt", np.uint8), np.array([0, 4]), np.array([0]), ["x"])
    with pytest.raises(ValueError, match="record labels"):
        References(np.frombuffer(b"ACGT", np.uint8), np.array([0, 4]), np.array([1]), ["x"])


def test_noise_free_fragments_are_substrings_with_their_label():
    rng = np.random.default_rng(0)
    records = {"a": [random_seq(rng, 300), random_seq(rng, 50)], "b": [random_seq(rng, 1000)]}
    refs = References.build(records.items())
    values, offsets, labels = sample_fragments(refs, 600, 100, Noise(), seed=3)
    assert offsets[0] == 0 and offsets[-1] == len(values)
    strands = {"+": 0, "-": 0}
    for frag, lab in zip(fragments(values, offsets), labels):
        own = records[refs.labels[lab]]
        forward = [r for r in own if frag in r]
        reverse = [r for r in own if frag in revcomp(r)]
        assert forward or reverse
        strands["+" if forward else "-"] += 1
        # a record shorter than the fragment length comes whole
        source = (forward or reverse)[0]
        assert len(frag) == min(100, len(source))
    assert strands["+"] > 200 and strands["-"] > 200


def test_labels_are_uniform_and_records_weighted_by_length():
    rng = np.random.default_rng(1)
    small, big1, big2 = random_seq(rng, 200), random_seq(rng, 1000), random_seq(rng, 3000)
    refs = References.build(
        [("small", [small]), ("empty", [b""]), ("big", [big1, big2]), ("mid", [small[:120]])]
    )
    n = 6000
    values, offsets, labels = sample_fragments(refs, n, 40, Noise(), seed=7)
    counts = np.bincount(labels, minlength=4)
    assert counts[1] == 0  # a label without bases is never drawn
    # flat prior over the 3 drawable labels: ~2000 each, sd ~37; 6 sd never flakes
    assert np.all(np.abs(counts[[0, 2, 3]] - n / 3) < 6 * np.sqrt(n / 3 * 2 / 3))
    # within "big", records by length: 3/4 of its fragments from big2 (sd ~ 0.01)
    frags = [f for f, lab in zip(fragments(values, offsets), labels) if lab == 2]
    from_big2 = np.mean([f in big2 or f in revcomp(big2) for f in frags])
    assert abs(from_big2 - 0.75) < 0.05


def test_no_bases_is_an_error():
    refs = References.build([("a", [b""]), ("b", [])])
    with pytest.raises(InputError, match="no bases.*a, b"):
        sample_fragments(refs, 5, 10, Noise(), 0)
    with pytest.raises(ConfigError, match="--fragment"):
        sample_fragments(References.build([("a", [b"ACGT"])]), 5, 0, Noise(), 0)


def test_substitution_rate_and_uniform_other_bases():
    # records exactly `length` long: the source window is the whole record (either strand)
    rng = np.random.default_rng(2)
    length, rate = 100, 0.1
    record = random_seq(rng, length)
    refs = References.build([("a", [record])])
    values, offsets, _ = sample_fragments(refs, 2000, length, Noise(rate), seed=5)
    assert np.all(np.diff(offsets) == length)  # no indels: lengths stay
    frags = values.reshape(-1, length)
    fwd = np.frombuffer(record, np.uint8)
    rev = np.frombuffer(revcomp(record), np.uint8)
    d_fwd = (frags != fwd).sum(axis=1)
    d_rev = (frags != rev).sum(axis=1)
    assert np.all(np.minimum(d_fwd, d_rev) < 40)  # the wrong strand differs at ~75 %
    source = np.where((d_fwd <= d_rev)[:, None], fwd, rev)
    changed = frags != source
    assert abs(changed.mean() - rate) < 0.004  # 200k bases: sd 0.0007
    # substituted bases are the 3 others, uniformly
    subs = frags[changed & (source == ord("A"))]
    assert ord("A") not in subs
    shares = np.array([(subs == ord(b)).mean() for b in "CGT"])
    assert np.all(np.abs(shares - 1 / 3) < 0.05)


def test_n_stays_n_under_substitution():
    refs = References.build([("a", [b"NNNNNNNNNN"])])
    values, _, _ = sample_fragments(refs, 200, 10, Noise(0.5), seed=1)
    assert values.tobytes() == b"N" * 2000


def test_indel_rates_from_homopolymers():
    # a record of M A's sampled whole (length > M + insertions): output length is
    # M + I - D, and an inserted base is not the record's base 3 times out of 4, so
    # I = 4/3 * (non-A bases) and D = I - (length - M) in expectation
    m, indel = 100, 0.1
    refs = References.build([("a", [b"A" * m])])
    values, offsets, _ = sample_fragments(refs, 4000, 400, Noise(0.0, indel), seed=9)
    frags = fragments(values, offsets)
    foreign = sum(len(f) - max(f.count(b"A"), f.count(b"T")) for f in frags)
    grown = sum(len(f) - m for f in frags)
    bases = m * len(frags)
    ins = foreign * 4 / 3
    assert abs(ins / bases - indel / 2) < 0.003  # sd ~0.0004
    assert abs((ins - grown) / bases - indel / 2) < 0.003  # sd ~0.0006
    # each fragment is one strand: A's or T's (the complement), plus insertions
    forward = np.array([f.count(b"A") > f.count(b"T") for f in frags])
    assert all(max(f.count(b"A"), f.count(b"T")) > 0.7 * m for f in frags)
    assert 0.45 < forward.mean() < 0.55


def test_deletions_read_past_the_window():
    # a long record: fragments stay `length` long despite deletions (all but those
    # starting within a few bases of the record's end)
    rng = np.random.default_rng(3)
    refs = References.build([("a", [random_seq(rng, 5000)])])
    _, offsets, _ = sample_fragments(refs, 2000, 100, Noise(0.0, 0.2), seed=2)
    lengths = np.diff(offsets)
    assert lengths.max() == 100 and (lengths == 100).mean() > 0.98


def test_deterministic_and_seeded():
    rng = np.random.default_rng(4)
    refs = References.build([("a", [random_seq(rng, 500)]), ("b", [random_seq(rng, 800)])])
    noise = Noise(0.05, 0.05)
    first = sample_fragments(refs, 300, 60, noise, seed=11)
    again = sample_fragments(refs, 300, 60, noise, seed=11)
    other = sample_fragments(refs, 300, 60, noise, seed=12)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0][: len(other[0])], other[0][: len(first[0])])
    # the first k fragments do not depend on how many are asked for
    head = sample_fragments(refs, 100, 60, noise, seed=11)
    assert np.array_equal(head[1], first[1][:101])
    assert np.array_equal(head[0], first[0][: first[1][100]])
    assert np.array_equal(head[2], first[2][:100])


def test_noise_parse():
    assert Noise.parse("0.02") == Noise(0.02, 0.0)
    assert Noise.parse("0.08,0.04") == Noise(0.08, 0.04)
    assert Noise.parse("0") == Noise()
    assert Noise(0.1, 0.2).to_json() == {"substitution": 0.1, "indel": 0.2}
    for bad, why in [
        ("abc", "numbers"),
        ("0.1,0.1,0.1", "SUB or SUB,INDEL"),
        ("1.0", "in \\[0, 1\\)"),
        ("-0.1", "in \\[0, 1\\)"),
        ("0.1,", "numbers"),
        ("nan", "finite"),
        ("0.6,0.5", "below 1"),
    ]:
        with pytest.raises(ConfigError, match=f"--noise.*{why}"):
            Noise.parse(bad)


@settings(max_examples=60, deadline=None)
@given(
    records=st.lists(
        st.tuples(
            st.integers(0, 2),
            st.binary(max_size=40).map(lambda b: bytes(b"ACGTNacgx"[x % 9] for x in b)),
        ),
        min_size=1,
        max_size=6,
    ),
    n=st.integers(0, 20),
    length=st.integers(1, 50),
    sub=st.floats(0, 0.5),
    indel=st.floats(0, 0.45),
    seed=st.integers(0, 2**64 - 1),
)
def test_fragments_property(records, n, length, sub, indel, seed):
    refs = References.build([(f"l{lab}", [seq]) for lab, seq in records])
    bases = refs.bases_per_label()
    if bases.sum() == 0:
        with pytest.raises(InputError):
            sample_fragments(refs, n, length, Noise(sub, indel), seed)
        return
    values, offsets, labels = sample_fragments(refs, n, length, Noise(sub, indel), seed)
    assert offsets.shape == (n + 1,) and labels.shape == (n,)
    assert offsets[0] == 0 and offsets[-1] == len(values)
    lengths = np.diff(offsets)
    assert np.all(lengths >= 0) and np.all(lengths <= length)
    assert set(values.tobytes()) <= set(b"ACGTN")
    assert np.all(bases[labels] > 0)
    if sub == 0 and indel == 0:  # noise-free: a stretch of one of its label's records
        for frag, lab in zip(fragments(values, offsets), labels):
            sources = [
                refs.values[refs.offsets[r] : refs.offsets[r + 1]].tobytes()
                for r in np.flatnonzero(refs.record_labels == lab)
            ]
            assert any(frag in s or frag in revcomp(s) for s in sources)
