"""Chunked parsing gives exactly the records of a whole-file parse, whatever the cut points.

Plain-text FASTQ/FASTA files are cut into byte ranges and BGZF files into runs of blocks;
every record must be read once, by the chunk that owns it, with its ordinal in the file.
"""

from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqray.cli.common import iter_chunk_tables
from seqray.io.compression import Compression
from seqray.io.parse import ChunkReader, ReadOptions
from seqray.io.sources import count_here, number_chunks, plan_chunks

HUGE = 1 << 40
SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
COLS = ["name", "seq", "qual", "record"]


# -- helpers --------------------------------------------------------------------------


def read_all(path: Path, chunk_bytes: int, options: ReadOptions | None = None):
    chunks, inputs = plan_chunks(str(path), chunk_bytes=chunk_bytes)
    tables = [t for _, t in iter_chunk_tables(chunks, options or ReadOptions())]
    return chunks, inputs, tables


def rows(tables: list[pa.Table]) -> dict[str, list]:
    if not tables:
        return {c: [] for c in COLS}
    t = pa.concat_tables(tables)
    return {c: t.column(c).to_pylist() for c in COLS}


def parse_rows(path: Path, chunk_bytes: int) -> tuple[int, dict[str, list]]:
    chunks, _, tables = read_all(path, chunk_bytes)
    return len(chunks), rows(tables)


def check_split_equals_whole(
    path: Path, chunk_bytes: int, expected_n: int | None = None, expect_split: bool | None = None
):
    n_whole, whole = parse_rows(path, HUGE)
    assert n_whole == 1
    n_split, split = parse_rows(path, chunk_bytes)
    if expect_split is None:  # plain text: any file larger than a chunk is split
        expect_split = path.stat().st_size > chunk_bytes
    if expect_split:
        assert n_split > 1
    assert split == whole
    assert whole["record"] == list(range(len(whole["record"])))
    if expected_n is not None:
        assert len(whole["record"]) == expected_n
    return whole


def bgzf_block(data: bytes) -> bytes:
    """One BGZF block (SAM spec 4.1): a gzip member with the 'BC' extra subfield."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    cdata = c.compress(data) + c.flush()
    bsize = 12 + 6 + len(cdata) + 8  # header + extra + deflate + crc/isize
    header = b"\x1f\x8b\x08\x04" + b"\x00\x00\x00\x00" + b"\x00\xff" + struct.pack("<H", 6)
    extra = b"BC" + struct.pack("<HH", 2, bsize - 1)
    trailer = struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data))
    return header + extra + cdata + trailer


BGZF_EOF = bgzf_block(b"")


def write_bgzf(path: Path, data: bytes, cuts: list[int]) -> None:
    """BGZF with block boundaries at the given offsets of the text (anywhere, mid-line too)."""
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(data)}), len(data)]
    with open(path, "wb") as f:
        for a, b in zip(bounds[:-1], bounds[1:]):
            f.write(bgzf_block(data[a:b]))
        f.write(BGZF_EOF)


# -- strategies -----------------------------------------------------------------------

name_char = st.characters(min_codepoint=33, max_codepoint=126)
# quality lines that start with '@' or '+' are what can fool a resync
qual_char = st.one_of(st.sampled_from("@+"), st.characters(min_codepoint=33, max_codepoint=126))


@st.composite
def fastq_record(draw) -> tuple[str, str, str, str]:
    name = draw(st.text(name_char, min_size=1, max_size=12))
    if draw(st.booleans()):
        name += " " + draw(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=10))
    seq = draw(st.text(st.sampled_from("ACGTNacgtn."), max_size=30))
    qual = "".join(draw(st.lists(qual_char, min_size=len(seq), max_size=len(seq))))
    plus = "+" + (name if draw(st.integers(0, 4)) == 0 else "")
    return name, seq, plus, qual


@st.composite
def fastq_text(draw) -> tuple[bytes, int]:
    recs = draw(st.lists(fastq_record(), max_size=25))
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    text = "".join(nl.join([f"@{n}", s, p, q]) + nl for n, s, p, q in recs)
    if recs and draw(st.booleans()):
        text = text[: -len(nl)]  # no final newline
    return text.encode(), len(recs)


@st.composite
def fasta_text(draw) -> tuple[bytes, int]:
    n = draw(st.integers(0, 20))
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    parts = []
    for _ in range(n):
        name = draw(st.text(name_char, min_size=1, max_size=12))
        if draw(st.booleans()):
            name += " " + draw(
                st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=10)
            )
        seq = draw(st.text(st.sampled_from("ACGTNacgtn"), max_size=120))
        width = draw(st.integers(1, 70))
        lines = [seq[i : i + width] for i in range(0, len(seq), width)]
        parts.append(f">{name}{nl}" + "".join(line + nl for line in lines))
    text = "".join(parts)
    if text and draw(st.booleans()):
        text = text[: -len(nl)]
    return text.encode(), n


# -- plain FASTQ / FASTA --------------------------------------------------------------


@SETTINGS
@given(data=fastq_text(), chunk_bytes=st.integers(1, 200))
def test_fastq_split_equals_whole(tmp_path_factory, data, chunk_bytes):
    text, n = data
    path = tmp_path_factory.mktemp("split") / "r.fq"
    path.write_bytes(text)
    check_split_equals_whole(path, chunk_bytes, expected_n=n)


@SETTINGS
@given(data=fasta_text(), chunk_bytes=st.integers(1, 200))
def test_fasta_split_equals_whole(tmp_path_factory, data, chunk_bytes):
    text, n = data
    path = tmp_path_factory.mktemp("split") / "r.fa"
    path.write_bytes(text)
    check_split_equals_whole(path, chunk_bytes, expected_n=n)


def test_fastq_split_known_content(tmp_path):
    # hand-written: quality lines that look like headers and separators, an empty read
    text = (
        b"@r0\nACGT\n+\n@@@@\n@r1\nAC\n+r1\n+@\n@r2\n\n+\n\n@+r3\nGG\n+\n@I\n@r4 c\nNNN\n+\n+++\n"
    )
    path = tmp_path / "k.fq"
    path.write_bytes(text)
    for cb in range(1, len(text) + 2):
        whole = check_split_equals_whole(path, cb, expected_n=5)
    assert whole["name"] == ["r0", "r1", "r2", "+r3", "r4 c"]
    assert whole["seq"] == [b"ACGT", b"AC", b"", b"GG", b"NNN"]
    assert whole["qual"] == [b"@@@@", b"+@", b"", b"@I", b"+++"]


@SETTINGS
@given(data=fastq_text(), chunk_bytes=st.integers(1, 120))
def test_split_chunks_tile_the_file(tmp_path_factory, data, chunk_bytes):
    """Each chunk, read on its own from ordinal 0, owns a run of records; the runs, offset
    by the counts of the chunks before, are 0..n-1 with no gap or repeat."""
    text, n = data
    path = tmp_path_factory.mktemp("tile") / "r.fq"
    path.write_bytes(text)
    chunks, _ = plan_chunks(str(path), chunk_bytes=chunk_bytes)
    assert all(c.compression == Compression.NONE for c in chunks)
    # the byte ranges tile the file
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    assert all(a.end == b.start for a, b in zip(chunks[:-1], chunks[1:]))
    counts = count_here(chunks, ReadOptions())
    assert sum(counts) == n
    ordinals: list[int] = []
    first = 0
    for ch, cnt in zip(chunks, counts):
        reader = ChunkReader(ch, ReadOptions(), first_record=0)
        local = [r for t in reader for r in t.column("record").to_pylist()]
        assert local == list(range(cnt))
        assert reader.result.records == cnt
        ordinals += [first + r for r in local]
        first += cnt
    assert ordinals == list(range(n))
    # the numbering the Ray datasource uses agrees with the sequential reader's
    numbered = number_chunks(chunks)
    firsts = [c.first_record for c in numbered]
    assert firsts == [sum(counts[:i]) for i in range(len(chunks))]


def test_split_many_chunks_larger_file(tmp_path):
    rng = random.Random(7)
    recs = []
    for i in range(2000):
        L = rng.randint(0, 200)
        s = "".join(rng.choice("ACGTN") for _ in range(L))
        q = "".join(rng.choice("@+!#5?IJ~") for _ in range(L))
        recs.append(f"@read{i} c={i % 5}\n{s}\n+\n{q}\n")
    path = tmp_path / "big.fq"
    path.write_text("".join(recs))
    for cb in (997, 4096, 65536):
        check_split_equals_whole(path, cb, expected_n=2000)


# -- BGZF -----------------------------------------------------------------------------


def _random_fastq_bytes(n: int, seed: int) -> bytes:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        L = rng.randint(0, 250)
        s = "".join(rng.choice("ACGTN") for _ in range(L))
        q = "".join(rng.choice("@+!#5?IJ~") for _ in range(L))
        out.append(f"@r{i} x={rng.random():.6f}\n{s}\n+\n{q}\n")
    return "".join(out).encode()


@pytest.fixture(scope="module")
def bgzf_fastq(tmp_path_factory):
    """A few hundred KB of FASTQ in BGZF (pysam), written in many small writes."""
    import pysam

    text = _random_fastq_bytes(3000, seed=11)
    path = tmp_path_factory.mktemp("bgzf") / "r.fq.gz"
    with pysam.BGZFile(str(path), "wb") as f:
        for i in range(0, len(text), 7919):
            f.write(text[i : i + 7919])
    return path, text


def test_bgzf_is_planned_in_several_chunks(bgzf_fastq):
    path, text = bgzf_fastq
    assert len(text) > 300_000
    chunks, inputs = plan_chunks(str(path), chunk_bytes=20_000)
    assert inputs[0].compression == Compression.BGZF
    assert len(chunks) > 1
    assert chunks[0].start == 0 and chunks[-1].end == path.stat().st_size
    assert all(a.end == b.start for a, b in zip(chunks[:-1], chunks[1:]))
    # every cut is a block start
    raw = path.read_bytes()
    for c in chunks[1:]:
        assert raw[c.start : c.start + 4] == b"\x1f\x8b\x08\x04"


@pytest.mark.parametrize("chunk_bytes", [1_000, 5_000, 20_000, 65_536, 100_000])
def test_bgzf_split_equals_whole(bgzf_fastq, chunk_bytes):
    path, text = bgzf_fastq
    whole = check_split_equals_whole(
        path, chunk_bytes, expected_n=3000, expect_split=chunk_bytes < 100_000
    )
    assert b"".join(whole["seq"]) == b"".join(
        text.split(b"\n")[1::4]
    )  # sanity: the content is the text's


def test_bgzf_tabix_compress_split(tmp_path):
    import pysam

    text = _random_fastq_bytes(2500, seed=12)
    plain = tmp_path / "r.fq"
    plain.write_bytes(text)
    gz = tmp_path / "r.fq.gz"
    pysam.tabix_compress(str(plain), str(gz), force=True)
    chunks, _ = plan_chunks(str(gz), chunk_bytes=30_000)
    assert len(chunks) > 1
    whole = check_split_equals_whole(gz, 30_000, expected_n=2500, expect_split=True)
    assert whole == check_split_equals_whole(plain, 30_000, expected_n=2500)


@SETTINGS
@given(
    data=fastq_text(),
    cuts=st.lists(st.integers(1, 4000), max_size=12),
    chunk_bytes=st.integers(1, 300),
)
def test_bgzf_small_blocks_split_equals_whole(tmp_path_factory, data, cuts, chunk_bytes):
    """Hand-made BGZF blocks cut anywhere in the text (mid-line, mid-record)."""
    text, n = data
    d = tmp_path_factory.mktemp("bgzf")
    path = d / "r.fq.gz"
    write_bgzf(path, text, cuts)
    plain = d / "r.fq"
    plain.write_bytes(text)
    chunks, inputs = plan_chunks(str(path), chunk_bytes=chunk_bytes)
    if not text:
        return
    assert inputs[0].compression == Compression.BGZF
    blocks = len({c for c in cuts if 0 < c < len(text)}) + 1
    whole = check_split_equals_whole(
        path, chunk_bytes, expected_n=n, expect_split=False if blocks == 1 else None
    )
    assert whole == parse_rows(plain, HUGE)[1]


@SETTINGS
@given(
    data=fasta_text(),
    cuts=st.lists(st.integers(1, 3000), max_size=12),
    chunk_bytes=st.integers(1, 300),
)
def test_bgzf_fasta_split_equals_whole(tmp_path_factory, data, cuts, chunk_bytes):
    text, n = data
    if not text:
        return
    path = tmp_path_factory.mktemp("bgzf") / "r.fa.gz"
    write_bgzf(path, text, cuts)
    blocks = len({c for c in cuts if 0 < c < len(text)}) + 1
    check_split_equals_whole(
        path, chunk_bytes, expected_n=n, expect_split=False if blocks == 1 else None
    )


# -- lenient parsing of split files -----------------------------------------------------


def _lenient_rows_and_rejects(path: Path, chunk_bytes: int):
    from dataclasses import replace

    chunks, _ = plan_chunks(str(path), chunk_bytes=chunk_bytes)
    tables, rejects, first = [], [], 0
    for ch in chunks:
        reader = ChunkReader(replace(ch, first_record=first), ReadOptions(lenient=True))
        tables += list(reader)
        rejects += [(r.record, r.reason) for r in reader.result.rejects]
        first += reader.result.records
    return rows(tables), rejects


def test_lenient_split_equals_whole_when_bad_record_is_not_first_of_chunk(tmp_path):
    path = tmp_path / "bad.fq"
    path.write_bytes(b"@r1\nACGT\n+\nIIII\n@r2\nACGT\n+\nIII\n@r3\nA\n+\nI\n")
    whole, rej = _lenient_rows_and_rejects(path, HUGE)
    assert whole["record"] == [0, 2]
    assert rej == [(1, "sequence and quality lengths differ")]
    # chunk_bytes=25 cuts at 21: chunk 1 owns r1 and r2 (its newline is at 15), chunk 2 r3
    assert [(c.start, c.end) for c in plan_chunks(str(path), chunk_bytes=25)[0]] == [
        (0, 21),
        (21, 41),
    ]
    assert _lenient_rows_and_rejects(path, 25) == (whole, rej)


def test_lenient_split_equals_whole_bad_record_first_of_chunk(tmp_path):
    path = tmp_path / "bad.fq"
    path.write_bytes(b"@r1\nACGT\n+\nIIII\n@r2\nACGT\n+\nIII\n@r3\nA\n+\nI\n")
    whole = _lenient_rows_and_rejects(path, HUGE)
    assert [(c.start, c.end) for c in plan_chunks(str(path), chunk_bytes=16)[0]] == [
        (0, 14),
        (14, 28),
        (28, 41),
    ]
    # chunk_bytes=16 cuts at 14, inside r1's quality line: r2 is chunk 2's first record
    assert _lenient_rows_and_rejects(path, 16) == whole  # got records [0, 1], no reject
