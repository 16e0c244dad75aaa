"""Split pairs: R1 cut by byte ranges, R2 read from the record with the same ordinal.

Whatever the cut points, the compression of each mate (plain or BGZF) and the record
lengths of each mate, a split read gives exactly the pairs of a whole-file read.
"""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqray.cli.common import iter_chunk_tables
from seqray.errors import FormatError, PairingError
from seqray.io.parse import ReadOptions
from seqray.io.readers import open_chunk
from seqray.io.sources import number_chunks, plan_chunks

from .test_split import HUGE, SETTINGS, write_bgzf

PAIR_COLS = ["name", "seq", "qual", "name2", "seq2", "qual2", "record"]


def pair_texts(rng: random.Random, n: int, max1: int = 40, max2: int = 90) -> tuple[bytes, bytes]:
    """Mates of different lengths, so R1 and R2 byte offsets drift apart; quality lines
    may start with '@' or '+' (what can fool a resync)."""
    r1, r2 = [], []
    for i in range(n):
        for out, hi, tag in ((r1, max1, 1), (r2, max2, 2)):
            L = rng.randint(0, hi)
            seq = "".join(rng.choice("ACGTN") for _ in range(L))
            qual = "".join(rng.choice("@+#5?IJ") for _ in range(L))
            out.append(f"@p{i}/{tag} x={rng.randint(0, 9)}\n{seq}\n+\n{qual}\n")
    return "".join(r1).encode(), "".join(r2).encode()


def write_mate(path: Path, text: bytes, bgzf: bool, rng: random.Random) -> Path:
    if bgzf:
        write_bgzf(path, text, [rng.randrange(len(text) + 1) for _ in range(8)])
    else:
        path.write_bytes(text)
    return path


def read_pairs(r1: Path, r2: Path, chunk_bytes: int, options: ReadOptions | None = None):
    chunks, _ = plan_chunks(str(r1), str(r2), chunk_bytes=chunk_bytes)
    tables = [t for _, t in iter_chunk_tables(chunks, options or ReadOptions(block_bases=300))]
    t = pa.concat_tables(tables)
    return chunks, {c: t.column(c).to_pylist() for c in PAIR_COLS}


@SETTINGS
@given(
    n=st.integers(1, 40),
    seed=st.integers(0, 1 << 30),
    chunk_bytes=st.integers(1, 600),
    bgzf1=st.booleans(),
    bgzf2=st.booleans(),
)
def test_split_pairs_equal_whole_pairs(tmp_path_factory, n, seed, chunk_bytes, bgzf1, bgzf2):
    rng = random.Random(seed)
    d = tmp_path_factory.mktemp("sp")
    t1, t2 = pair_texts(rng, n)
    r1 = write_mate(d / "r1.fq", t1, bgzf1, rng)
    r2 = write_mate(d / "r2.fq", t2, bgzf2, rng)
    whole_chunks, whole = read_pairs(r1, r2, HUGE)
    assert len(whole_chunks) == 1 and whole["record"] == list(range(n))
    chunks, split = read_pairs(r1, r2, chunk_bytes)
    if not bgzf1 and len(t1) > chunk_bytes:
        assert len(chunks) > 1 and all(c.mate_ranges for c in chunks)
    assert split == whole


def test_split_pair_chunks_start_r2_at_their_first_record(tmp_path):
    rng = random.Random(3)
    t1, t2 = pair_texts(rng, 400, max1=20, max2=200)  # R2 ~10x longer than R1
    (tmp_path / "a_1.fq").write_bytes(t1)
    (tmp_path / "a_2.fq").write_bytes(t2)
    chunks, rows = read_pairs(tmp_path / "a_1.fq", tmp_path / "a_2.fq", 2000)
    assert len(chunks) > 5 and len(chunks[0].mate_ranges) > 5 * len(chunks)
    assert rows["record"] == list(range(400))
    assert [n.split("/")[0] for n in rows["name2"]] == [f"p{i}" for i in range(400)]


@pytest.mark.parametrize("extra_in", ["r1", "r2"])
def test_split_pair_count_mismatch_is_found_when_planning(tmp_path, extra_in):
    rng = random.Random(5)
    t1, t2 = pair_texts(rng, 300)
    extra = b"@q/1\nAC\n+\nII\n"
    (tmp_path / "a_1.fq").write_bytes(t1 + (extra if extra_in == "r1" else b""))
    (tmp_path / "a_2.fq").write_bytes(t2 + (extra if extra_in == "r2" else b""))
    with pytest.raises(PairingError, match="different numbers of records") as e:
        read_pairs(tmp_path / "a_1.fq", tmp_path / "a_2.fq", 1000)
    short = "a_2.fq" if extra_in == "r1" else "a_1.fq"
    assert e.value.record == 301 and f"{short} ends first" in str(e.value)


def test_split_pair_name_mismatch_in_a_later_chunk_is_located(tmp_path):
    rng = random.Random(7)
    t1, t2 = pair_texts(rng, 300)
    t2 = t2.replace(b"@p250/2", b"@z250/2")
    (tmp_path / "a_1.fq").write_bytes(t1)
    (tmp_path / "a_2.fq").write_bytes(t2)
    with pytest.raises(PairingError, match="mate names differ") as e:
        read_pairs(tmp_path / "a_1.fq", tmp_path / "a_2.fq", 1000)
    assert e.value.record == 251


def test_split_pair_bad_r2_record_is_located(tmp_path):
    rng = random.Random(9)
    t1, t2 = pair_texts(rng, 300)
    lines = t2.split(b"\n")
    lines[4 * 200 + 2] = b"-"  # record 201 of R2 loses its '+' line
    (tmp_path / "a_1.fq").write_bytes(t1)
    (tmp_path / "a_2.fq").write_bytes(b"\n".join(lines))
    with pytest.raises(FormatError, match=r"'\+' separator") as e:
        read_pairs(tmp_path / "a_1.fq", tmp_path / "a_2.fq", 1000)
    assert e.value.record == 201 and "a_2.fq" in str(e.value)


def test_every_chunk_that_meets_a_bad_r2_record_names_it(tmp_path):
    """On Ray chunks run in any order: a chunk that skips over R2's bad record (it lies
    before the chunk's own records) must report the same record as the chunk owning it."""
    rng = random.Random(9)
    t1, t2 = pair_texts(rng, 300, max1=20, max2=20)
    lines = t2.split(b"\n")
    lines[4 * 200 + 2] = b"-"
    (tmp_path / "a_1.fq").write_bytes(t1)
    (tmp_path / "a_2.fq").write_bytes(b"\n".join(lines))
    chunks, _ = plan_chunks(str(tmp_path / "a_1.fq"), str(tmp_path / "a_2.fq"), chunk_bytes=900)
    numbered = number_chunks(chunks, ReadOptions(block_bases=30))
    records = set()
    for ch in numbered:
        try:
            for _ in open_chunk(ch, ReadOptions(block_bases=30)):
                pass
        except FormatError as e:
            records.add(e.record)
    skippers = [c for c in numbered if c.first_record > 200 and c.mate_start.skip > 0]
    assert skippers and records == {201}


@pytest.mark.parametrize(
    "bad",
    [b"@p5/2\nACGTACGTAC\n+\n", b"@p5/2\nACGTACGTAC\n+\nIIIIIIIIII\nIIIIIIIIII\n"],
    ids=["quality line missing", "two quality lines"],
)
def test_malformed_r2_record_is_located_not_a_count_mismatch(tmp_path, bad):
    """A malformed record can change R2's (lenient) record count: a strict read still
    names the record, as the whole-file read does, not a mismatch of counts."""
    r1 = b"".join(b"@p%d/1\nACGTACGT\n+\nIIIIIIII\n" % i for i in range(40))
    r2 = [b"@p%d/2\nACGTACGTAC\n+\nIIIIIIIIII\n" % i for i in range(40)]
    r2[5] = bad
    (tmp_path / "a_1.fq").write_bytes(r1)
    (tmp_path / "a_2.fq").write_bytes(b"".join(r2))
    errors = []
    for chunk_bytes in (HUGE, 200):
        with pytest.raises(FormatError) as e:
            read_pairs(tmp_path / "a_1.fq", tmp_path / "a_2.fq", chunk_bytes)
        errors.append(str(e.value))
    assert errors[0] == errors[1] and "a_2.fq, record" in errors[0]
