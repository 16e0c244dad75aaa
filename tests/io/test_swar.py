"""Word-at-a-time byte counts equal plain per-byte counting, for any bytes and any span."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from seqray.io._swar import FLUSH, SHORT, dna_span, qual_span, words_of

# mostly the bytes that matter (bases, quality characters), some of anything else
byte = st.one_of(
    st.sampled_from(b"ACGTNacgtn"),
    st.integers(33, 126),
    st.sampled_from([0, 9, 10, 13, 32, 127, 128, 0xC3, 0xDF, 0xFF]),
)
spans = st.lists(byte, max_size=8 * FLUSH * 2 + 40).flatmap(
    lambda b: st.tuples(
        st.just(bytes(b)),
        st.integers(0, len(b)),
        st.integers(0, len(b)),
    )
)


def _view(data: bytes, shift: int) -> np.ndarray:
    """The bytes at an address `shift` past a word boundary (spans start anywhere)."""
    return np.frombuffer(b"\0" * shift + data, dtype=np.uint8)[shift:]


@settings(max_examples=300, deadline=None)
@given(spans, st.integers(0, 7))
def test_dna_span_equals_byte_counts(span, shift):
    data, a, b = span
    s, e = min(a, b), max(a, b)
    buf = _view(data, shift)
    ok, gc, nn = dna_span(buf, words_of(buf), s, e)
    part = data[s:e]
    assert ok == all(c in b"ACGTNacgtn" for c in part)
    assert gc == sum(c in b"GCgc" for c in part)
    assert nn == sum(c in b"Nn" for c in part)


@settings(max_examples=300, deadline=None)
@given(spans, st.integers(0, 7), st.sampled_from([33, 64]))
def test_qual_span_equals_byte_counts(span, shift, offset):
    data, a, b = span
    s, e = min(a, b), max(a, b)
    buf = _view(data, shift)
    bad, q20, q30 = qual_span(buf, words_of(buf), s, e, offset)
    part = data[s:e]
    assert bool(bad) == any(c < offset or c > 126 for c in part)
    assert q20 == sum(c >= offset + 20 for c in part)
    assert q30 == sum(c >= offset + 30 for c in part)


def test_long_spans_cross_counter_flushes():
    """Spans of many flushes of the per-lane counters (each lane at most 255 a flush)."""
    rng = np.random.default_rng(0)
    data = rng.choice(np.frombuffer(b"GGGGCN", dtype=np.uint8), 8 * FLUSH * 5 + 3)
    q = np.full(len(data), ord("J"), dtype=np.uint8)
    for s in (0, 1, 7, SHORT):
        ok, gc, nn = dna_span(data, words_of(data), s, len(data))
        assert ok and gc == int(np.isin(data[s:], list(b"GC")).sum())
        assert nn == int((data[s:] == ord("N")).sum())
        assert qual_span(q, words_of(q), s, len(q), 33) == (0, len(q) - s, len(q) - s)
