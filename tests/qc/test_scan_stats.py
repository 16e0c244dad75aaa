"""The statistics fast path (no columns built) equals statistics of the Arrow batches."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from seqray.io.parse import ReadOptions
from seqray.io.readers import open_chunk
from seqray.io.sources import plan_chunks
from seqray.qc.scan_stats import chunk_stats
from seqray.qc.stats import ReadStats

record = st.tuples(
    st.text("ACGTNacgtn.RY", max_size=40),
    st.sampled_from(["", "\r"]),  # CRLF makes the fast path hand over
    st.booleans(),  # a blank line after the record
    st.sampled_from(["+", "+name"]),
)


def _text(recs) -> bytes:
    out = []
    for i, (seq, cr, blank, plus) in enumerate(recs):
        qual = "".join("#5?@IJ"[(i + j) % 6] for j in range(len(seq)))
        out.append(f"@r{i} c\n{seq}{cr}\n{plus}{cr}\n{qual}{cr}\n" + ("\n" if blank else ""))
    return "".join(out).encode()


def _arrow_stats(chunks, options) -> ReadStats:
    st_ = ReadStats()
    for ch in chunks:
        for t in open_chunk(replace(ch, first_record=0), options):
            st_.add_table(t)
    return st_


def _assert_fast_equals_arrow(path, chunk_bytes: int) -> None:
    chunks, _ = plan_chunks(str(path), chunk_bytes=chunk_bytes, phred_offset=33)
    options = ReadOptions(digest=False)
    fast = ReadStats()
    for ch in chunks:
        fast += chunk_stats(replace(ch, first_record=0), options)
    assert fast.to_json() == _arrow_stats(chunks, options).to_json()


@settings(max_examples=60, deadline=None)
@given(st.lists(record, max_size=30), st.integers(20, 400))
def test_fast_statistics_equal_arrow_statistics(tmp_path_factory, recs, chunk_bytes):
    path = tmp_path_factory.mktemp("s") / "x.fq"
    path.write_bytes(_text(recs))
    _assert_fast_equals_arrow(path, chunk_bytes)


# records made to hit and miss the scanner's guess of the line ends (the previous record's
# header and sequence lengths): few lengths, mostly plain bases, a line shorter by one or two
guessy_record = st.tuples(
    st.sampled_from(["r", "r1", "r1 c", "r12 c"]),
    st.sampled_from(["", "A", "AC", "ACGTN", "ACGTA", "ACRTA", "acgtn", "ACGT.", "ACG"]),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(guessy_record, max_size=40), st.integers(20, 400))
def test_line_end_guesses_never_change_statistics(tmp_path_factory, recs, chunk_bytes):
    text = "".join(f"@{name}\n{seq}\n+\n{'#5?@IJ'[: len(seq)]}\n" for name, seq in recs).encode()
    path = tmp_path_factory.mktemp("g") / "g.fq"
    path.write_bytes(text)
    _assert_fast_equals_arrow(path, chunk_bytes)


def test_fasta_fast_statistics(examples):
    chunks, _ = plan_chunks(str(examples / "phix174.fa"), chunk_bytes=1000)
    options = ReadOptions(digest=False)
    fast = ReadStats()
    for ch in chunks:
        fast += chunk_stats(replace(ch, first_record=0), options)
    assert fast.to_json() == _arrow_stats(chunks, options).to_json()
    assert fast.as_dict()["sum_len"] == 5386
