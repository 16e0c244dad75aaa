"""Malformed input: every error names the file and the record (and the FASTQ line), from the
library and from the CLI; lenient mode skips bad records; Phred+64 detection."""

from __future__ import annotations

import gzip
import random
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pytest

from seqray.cli.common import iter_chunk_tables
from seqray.cli.main import main
from seqray.errors import FormatError, InputError
from seqray.io.parse import ChunkReader, ReadOptions
from seqray.io.schema import read_schema
from seqray.io.sources import plan_chunks

HUGE = 1 << 40

GOOD1 = b"@r1\nACGT\n+\nIIII\n"  # lines 1-4; record 2 starts at line 5


def read(
    path: Path | str,
    chunk_bytes: int = HUGE,
    phred_offset="auto",
    options: ReadOptions | None = None,
) -> pa.Table:
    chunks, _ = plan_chunks(str(path), chunk_bytes=chunk_bytes, phred_offset=phred_offset)
    tables = [t for _, t in iter_chunk_tables(chunks, options or ReadOptions())]
    return pa.concat_tables(tables) if tables else read_schema().empty_table()


def read_lenient(path: Path, chunk_bytes: int = HUGE):
    """All good rows and all rejects, chunk by chunk, ordinals carried across chunks."""
    chunks, _ = plan_chunks(str(path), chunk_bytes=chunk_bytes)
    tables, rejects, first = [], [], 0
    for ch in chunks:
        reader = ChunkReader(replace(ch, first_record=first), ReadOptions(lenient=True))
        tables += list(reader)
        rejects += reader.result.rejects
        first += reader.result.records
    t = pa.concat_tables(tables) if tables else read_schema().empty_table()
    return t, rejects


def write(tmp_path: Path, data: bytes, name: str = "x.fq") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def format_error(path: Path, **kw) -> FormatError:
    with pytest.raises(FormatError) as ei:
        read(path, **kw)
    e = ei.value
    assert e.path == str(path)
    assert str(e).startswith(str(path))
    return e


# -- FASTQ errors: (data, record, line, message fragment) ------------------------------
# Hand-counted: record 2 is lines 5 (header), 6 (seq), 7 ('+'), 8 (quality).

FASTQ_ERRORS = {
    "truncated_after_seq": (GOOD1 + b"@r2\nACGT\n", 2, 7, "truncated record"),
    "truncated_after_plus": (GOOD1 + b"@r2\nACGT\n+\n", 2, 8, "truncated record"),
    "truncated_after_plus_no_newline": (GOOD1 + b"@r2\nACGT\n+", 2, 8, "truncated record"),
    "truncated_after_header": (GOOD1 + b"@r2\n", 2, 6, "truncated record"),
    "truncated_inside_quality": (GOOD1 + b"@r2\nACGT\n+\nII", 2, 8, "truncated record"),
    "qual_shorter": (
        GOOD1 + b"@r2\nACGT\n+\nIII\n@r3\nA\n+\nI\n",
        2,
        8,
        "sequence and quality lengths differ",
    ),
    "qual_longer": (
        GOOD1 + b"@r2\nACGT\n+\nIIIII\n@r3\nA\n+\nI\n",
        2,
        8,
        "sequence and quality lengths differ",
    ),
    "space_in_qual": (GOOD1 + b"@r2\nACGT\n+\nII I\n", 2, 8, "outside Phred+33 range"),
    "missing_plus": (
        GOOD1 + b"@r2\nACGT\nIIII\n@r3\nA\n+\nI\n",
        2,
        7,
        "expected a '+' separator line",
    ),
    "header_without_at": (
        GOOD1 + b"Xr2\nACGT\n+\nIIII\n",
        2,
        5,
        "expected a record header starting with '@'",
    ),
    "invalid_seq_Z": (GOOD1 + b"@r2\nACZT\n+\nIIII\n", 2, 6, "invalid character 'Z' in sequence"),
    "invalid_seq_1": (
        GOOD1 + b"@r2\nAC1T\n+\nIIII\n@r3\nA\n+\nI\n",
        2,
        6,
        "invalid character '1' in sequence",
    ),
    "qual_below_bang": (GOOD1 + b"@r2\nACGT\n+\nII\x1fI\n", 2, 8, "outside Phred+33 range"),
    "nul_in_seq": (b"@r1\nAC\x00T\n+\nIIII\n", 1, 2, "in sequence"),
    "nul_in_header": (GOOD1 + GOOD1 + b"@r3\x00\nA\n+\nI\n", 3, 9, "in header"),
    "third_record_missing_plus": (
        GOOD1 * 2 + b"@r3\nA\n-\nI\n",
        3,
        11,
        "expected a '+' separator line",
    ),
}


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
@pytest.mark.parametrize("case", list(FASTQ_ERRORS))
def test_fastq_error_located(tmp_path, case, crlf):
    data, record, line, fragment = FASTQ_ERRORS[case]
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    path = write(tmp_path, data)
    e = format_error(path)
    assert (e.record, e.line) == (record, line)
    assert fragment in e.message
    assert f"{path}, record {record}, line {line}: " in str(e)


def test_message_format_of_truncated_record(tmp_path):
    path = write(tmp_path, GOOD1 + b"@r2\nACGT\n+\nII")
    e = format_error(path)
    assert str(e) == f"{path}, record 2, line 8: truncated record: file ends inside the record"


def test_missing_plus_message_format(tmp_path):
    path = write(tmp_path, GOOD1 * 2 + b"@r3\nA\nI\n")
    e = format_error(path)
    assert str(e) == f"{path}, record 3, line 11: expected a '+' separator line"


def test_binary_garbage_file(tmp_path):
    rng = random.Random(0)
    data = b"\x00" + rng.randbytes(4096) + b"\x00\x00"
    path = write(tmp_path, data)
    with pytest.raises(FormatError) as ei:
        plan_chunks(str(path))
    e = ei.value
    assert e.path == str(path)
    assert e.record is None  # not a record format at all: located at byte 0
    assert str(e).startswith(f"{path}, byte 0: ")


def test_binary_garbage_after_good_record(tmp_path):
    rng = random.Random(1)
    path = write(tmp_path, GOOD1 + b"\x00" + rng.randbytes(2000))
    e = format_error(path)
    assert (e.record, e.line) == (2, 5)


def first_owned_record_is(chunks, record_start: int, starts: list[int]) -> bool:
    """Whether `record_start` is the first record a later chunk owns: a chunk owns the
    records whose preceding newline lies in its byte range, and finds the first by a resync.
    `starts` are the byte offsets of all record starts in the file."""
    for c in chunks:
        if c.index:
            owned = [s for s in starts if c.start < s <= c.end]
            if owned and owned[0] == record_start:
                return True
    return False


def record_starts(*parts: bytes) -> list[int]:
    """Record start offsets of a file made of whole FASTQ records (4 lines each)."""
    data = b"".join(parts)
    lines = data.split(b"\n")
    out, pos = [], 0
    for i, line in enumerate(lines):
        if i % 4 == 0 and pos < len(data):
            out.append(pos)
        pos += len(line) + 1
    return out


GOOD40 = b"".join(b"@r%d\nACGTACGT\n+\nIIIIIIII\n" % i for i in range(40))
BAD41 = b"@r40\nACGT\n+\nIII\n"  # record 41, quality line 164


def test_binary_garbage_split_file(tmp_path):
    # the bad record lies in a later chunk: the record number still counts from the start
    rng = random.Random(2)
    path = write(tmp_path, GOOD40 + b"\x00" + rng.randbytes(200))
    starts = record_starts(GOOD40) + [len(GOOD40)]
    tested = 0
    for cb in range(30, 400, 7):
        chunks, _ = plan_chunks(str(path), chunk_bytes=cb)
        if first_owned_record_is(chunks, len(GOOD40), starts):
            continue  # see test_bad_first_record_of_a_chunk_is_reported
        e = format_error(path, chunk_bytes=cb)
        assert e.record == 41
        tested += 1
    assert tested > 30


def test_error_in_later_chunk_keeps_record_number(tmp_path):
    path = write(tmp_path, GOOD40 + BAD41 + GOOD40)
    starts = record_starts(GOOD40, BAD41, GOOD40)
    whole = format_error(path)
    assert (whole.record, whole.line) == (41, 164)
    tested = 0
    for cb in range(20, 500, 11):
        chunks, _ = plan_chunks(str(path), chunk_bytes=cb)
        if first_owned_record_is(chunks, len(GOOD40), starts):
            continue  # see test_bad_first_record_of_a_chunk_is_reported
        e = format_error(path, chunk_bytes=cb)
        assert e.record == 41
        # lines are only counted in the first chunk
        assert e.line == (164 if chunks[0].end >= len(GOOD40) else None)
        tested += 1
    assert tested > 30


@pytest.mark.parametrize(
    "bad",
    [
        BAD41,  # quality shorter than sequence
        b"@r40\nACGT\nIIII\n",  # missing '+'
        b"Xr40\nACGT\n+\nIIII\n",  # header without '@'
    ],
    ids=["length", "plus", "header"],
)
def test_bad_first_record_of_a_chunk_is_reported(tmp_path, bad):
    path = write(tmp_path, GOOD40 + bad + GOOD40)
    starts = record_starts(GOOD40, bad, GOOD40)
    cuts = [
        cb
        for cb in range(20, 500)
        if first_owned_record_is(plan_chunks(str(path), chunk_bytes=cb)[0], len(GOOD40), starts)
    ]
    assert cuts
    for cb in cuts:
        e = format_error(path, chunk_bytes=cb)
        assert e.record == 41


def test_bad_first_record_of_a_chunk_minimal(tmp_path):
    # chunk_bytes=16 cuts at 14 (inside r1's quality line), so r2 is chunk 2's first record
    path = write(tmp_path, b"@r1\nACGT\n+\nIIII\n@r2\nACGT\n+\nIII\n@r3\nA\n+\nI\n")
    e = format_error(path)
    assert e.record == 2
    e = format_error(path, chunk_bytes=16)  # DID NOT RAISE: rows r1 (0) and r3 (1)
    assert e.record == 2


# -- gzip, missing and empty files --------------------------------------------------


def test_corrupt_gzip_garbage_after_header(tmp_path):
    gz = gzip.compress(GOOD1 * 100)
    path = write(tmp_path, gz[:10] + random.Random(3).randbytes(500), "x.fq.gz")
    e = format_error(path)
    assert "corrupt compressed data" in e.message


def test_truncated_gzip(tmp_path):
    gz = gzip.compress(GOOD1 * 1000)
    path = write(tmp_path, gz[: len(gz) // 2], "x.fq.gz")
    e = format_error(path)
    assert "corrupt compressed data" in e.message


def test_truncated_gzip_past_the_sniffed_head(tmp_path):
    # large enough that format sniffing succeeds and the stream breaks while parsing
    rng = random.Random(4)
    recs = []
    for i in range(12000):
        s = "".join(rng.choice("ACGT") for _ in range(150))
        q = "".join(rng.choice("!#5?IJ") for _ in range(150))
        recs.append(f"@r{i}\n{s}\n+\n{q}\n")
    gz = gzip.compress("".join(recs).encode(), compresslevel=1)
    path = write(tmp_path, gz[: int(len(gz) * 0.7)], "x.fq.gz")
    plan_chunks(str(path))  # the head is fine
    e = format_error(path)
    assert "corrupt compressed data" in e.message


def test_missing_file(tmp_path):
    path = tmp_path / "nope.fq"
    with pytest.raises(InputError) as ei:
        plan_chunks(str(path))
    assert str(path) in str(ei.value)


@pytest.mark.parametrize("data", [b"", b"\n", b"\r\n\r\n"], ids=["empty", "lf", "crlf"])
def test_empty_file_has_no_reads(tmp_path, data):
    path = write(tmp_path, data)
    assert read(path).num_rows == 0
    assert main(["inspect", str(path), "--json"]) == 0


# -- accepted inputs -------------------------------------------------------------------


def test_empty_read_in_the_middle(tmp_path):
    path = write(tmp_path, GOOD1 + b"@r2\n\n+\n\n@r3\nA\n+\nI\n")
    t = read(path)
    assert t.column("name").to_pylist() == ["r1", "r2", "r3"]
    assert t.column("seq").to_pylist() == [b"ACGT", b"", b"A"]
    assert t.column("qual").to_pylist() == [b"IIII", b"", b"I"]
    assert t.column("record").to_pylist() == [0, 1, 2]


def test_crlf_gives_same_records_as_lf(tmp_path):
    lf = b"@r1 c=1\nACGT\n+\n!I~#\n@r2\n\n+\n\n@r3\nacgn\n+r3\nIIII\n"
    a = read(write(tmp_path, lf, "lf.fq"))
    b = read(write(tmp_path, lf.replace(b"\n", b"\r\n"), "crlf.fq"))
    cols = ["name", "seq", "qual", "record"]
    assert a.select(cols).to_pylist() == b.select(cols).to_pylist()
    assert a.column("name").to_pylist() == ["r1 c=1", "r2", "r3"]
    assert a.column("seq").to_pylist() == [b"ACGT", b"", b"ACGN"]


def test_fasta_cr_and_multiline(tmp_path):
    lf = b">s1 desc\nACGT\nacgt\nNN\n>s2\n>s3\nA\n\nC\n"
    a = read(write(tmp_path, lf, "lf.fa"))
    b = read(write(tmp_path, lf.replace(b"\n", b"\r\n"), "crlf.fa"))
    assert a.column("name").to_pylist() == ["s1 desc", "s2", "s3"]
    assert a.column("seq").to_pylist() == [b"ACGTACGTNN", b"", b"AC"]
    assert a.column("qual").null_count == 3
    assert a.column("record").to_pylist() == [0, 1, 2]
    cols = ["name", "seq", "qual", "record"]
    assert a.select(cols).to_pylist() == b.select(cols).to_pylist()


def test_fasta_errors_located(tmp_path):
    p = write(tmp_path, b">s1\nACGT\n>s2\nACGT\nAC1T\n", "a.fa")
    e = format_error(p)
    assert (e.record, e.line) == (2, 5)  # the line of the bad byte in a multi-line body
    assert "invalid character '1' in sequence" in e.message
    p = write(tmp_path, b">s1\nACGT\n>s2\nACGT\n>s3\nACZ\n", "b.fa")
    e = format_error(p)
    assert (e.record, e.line) == (3, 6)
    p = write(tmp_path, b";comment\nACGT\n>s1\nAC\n", "c.fa")
    e = format_error(p)
    assert e.record == 1
    assert "expected a record header starting with '>'" in e.message


def _random_bytes(n: int, seed: int, alphabet: bytes) -> bytes:
    table = bytes(alphabet[i % len(alphabet)] for i in range(256))
    return random.Random(seed).randbytes(n).translate(table)


def _random_seq(n: int, seed: int) -> bytes:
    return _random_bytes(n, seed, b"ACGT")


@pytest.mark.parametrize("block_bases", [None, 10_000])
def test_very_long_fastq_read(tmp_path, block_bases):
    s = _random_seq(1_500_000, 5)
    q = _random_bytes(len(s), 6, b"!#5?IJ")
    path = write(tmp_path, b"@a\nAC\n+\nII\n@long read\n" + s + b"\n+\n" + q + b"\n@b\nA\n+\nI\n")
    opts = ReadOptions(block_bases=block_bases) if block_bases else None
    t = read(path, options=opts)
    assert t.column("name").to_pylist() == ["a", "long read", "b"]
    assert t.column("seq")[1].as_py() == s
    assert t.column("qual")[1].as_py() == q
    assert t.column("record").to_pylist() == [0, 1, 2]
    # split into chunks that all fall inside the long read
    t2 = read(path, chunk_bytes=100_000, options=opts)
    assert t2.select(["name", "seq", "qual", "record"]).equals(
        t.select(["name", "seq", "qual", "record"])
    )


def test_very_long_fasta_read(tmp_path):
    s = _random_seq(1_200_000, 7)
    body = b"\n".join(s[i : i + 60] for i in range(0, len(s), 60))
    path = write(tmp_path, b">a\nAC\n>long\n" + body + b"\n>b\nA\n", "x.fa")
    t = read(path)
    assert [len(x) for x in t.column("seq").to_pylist()] == [2, 1_200_000, 1]
    assert t.column("seq")[1].as_py() == s
    t2 = read(path, chunk_bytes=50_000)
    assert t2.column("seq").to_pylist() == t.column("seq").to_pylist()
    assert t2.column("record").to_pylist() == [0, 1, 2]


def test_long_read_error_after_it(tmp_path):
    s = _random_seq(1_100_000, 8)
    path = write(
        tmp_path, GOOD1 + b"@long\n" + s + b"\n+\n" + b"I" * len(s) + b"\n" + b"@r3\nAC\n+\nI\n"
    )
    e = format_error(path)
    assert (e.record, e.line) == (3, 12)


# -- the same errors through the CLI ----------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        "truncated_after_plus",
        "qual_shorter",
        "missing_plus",
        "header_without_at",
        "invalid_seq_Z",
        "qual_below_bang",
    ],
)
def test_cli_inspect_reports_error(tmp_path, capsys, case):
    data, record, line, fragment = FASTQ_ERRORS[case]
    path = write(tmp_path, data)
    assert main(["inspect", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}, record {record}, line {line}: " in err
    assert fragment in err


def test_cli_inspect_json_error(tmp_path, capsys):
    path = write(tmp_path, GOOD1 + b"Xr2\nACGT\n+\nIIII\n")
    assert main(["inspect", str(path), "--json"]) == 1
    err = capsys.readouterr().err
    assert f"{path}, record 2, line 5: " in err


def test_cli_inspect_error_in_later_chunk(tmp_path, capsys):
    path = write(tmp_path, GOOD40 + BAD41 + GOOD40)
    chunks, _ = plan_chunks(str(path), chunk_bytes=100)
    starts = record_starts(GOOD40, BAD41, GOOD40)
    assert len(chunks) > 10 and not first_owned_record_is(chunks, len(GOOD40), starts)
    assert main(["inspect", str(path), "--chunk-bytes", "100", "--threads", "4"]) == 1
    err = capsys.readouterr().err
    assert f"{path}, record 41" in err


def test_cli_inspect_missing_file(tmp_path, capsys):
    path = tmp_path / "nope.fq"
    assert main(["inspect", str(path)]) == 1
    assert str(path) in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["garbage_after_header", "truncated"])
def test_cli_inspect_corrupt_gzip(tmp_path, capsys, kind):
    gz = gzip.compress(GOOD1 * 1000)
    data = gz[:10] + b"\x00garbage" * 50 if kind == "garbage_after_header" else gz[:-20]
    path = write(tmp_path, data, "x.fq.gz")
    assert main(["inspect", str(path)]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and "corrupt compressed data" in err


def test_cli_inspect_binary_garbage(tmp_path, capsys):
    path = write(tmp_path, b"\x00" + random.Random(9).randbytes(1000))
    assert main(["inspect", str(path)]) == 1
    assert str(path) in capsys.readouterr().err


# -- lenient mode --------------------------------------------------------------------

TAIL = b"@r3\nA\n+\nI\n@r4\nAA\n+\nII\n"
LENIENT_CASES = {
    "length": (b"@r2\nACGT\n+\nIII\n", "sequence and quality lengths differ"),
    "plus": (b"@r2\nACGT\nIIII\n", "expected a '+' separator line"),
    "header": (b"Xr2\nACGT\n+\nIIII\n", "expected a record header starting with '@'"),
}


@pytest.mark.parametrize("case", list(LENIENT_CASES))
def test_lenient_skips_bad_record(tmp_path, case):
    bad, reason = LENIENT_CASES[case]
    path = write(tmp_path, GOOD1 + bad + TAIL)
    t, rejects = read_lenient(path)
    assert t.column("name").to_pylist() == ["r1", "r3", "r4"]
    assert t.column("record").to_pylist() == [0, 2, 3]
    assert len(rejects) == 1
    r = rejects[0]
    assert (r.source, r.record, r.reason) == (str(path), 1, reason)
    assert r.text == bad
    # the same through iter_chunk_tables
    t2 = read(path, options=ReadOptions(lenient=True))
    assert t2.column("record").to_pylist() == [0, 2, 3]


def test_lenient_truncated_last_record(tmp_path):
    path = write(tmp_path, GOOD1 + b"@r2\nAC\n+\nII\n@r3\nA\n+\n")
    t, rejects = read_lenient(path)
    assert t.column("record").to_pylist() == [0, 1]
    assert [(r.record, r.reason) for r in rejects] == [
        (2, "truncated record: file ends inside the record")
    ]


def test_lenient_bad_record_in_later_chunk(tmp_path):
    good = b"".join(b"@g%d\nACGTACGT\n+\nIIIIIIII\n" % i for i in range(30))
    path = write(tmp_path, good + b"@bad\nACGT\n+\nIII\n" + good)
    for cb in (HUGE, 90, 257):
        t, rejects = read_lenient(path, chunk_bytes=cb)
        assert t.column("record").to_pylist() == list(range(30)) + list(range(31, 61))
        assert [(r.record, r.reason) for r in rejects] == [
            (30, "sequence and quality lengths differ")
        ]


def test_cli_convert_on_error_skip(tmp_path):
    path = write(tmp_path, GOOD1 + b"@r2\nACGT\n+\nIII\n" + TAIL)
    out = tmp_path / "out.fq"
    assert main(["convert", str(path), str(out)]) == 1
    assert not out.exists()
    assert main(["convert", str(path), str(out), "--on-error", "skip"]) == 0
    assert out.read_bytes() == GOOD1 + TAIL


@pytest.mark.parametrize(
    "bad", [b"@r2\nACZT\n+\nIIII\n", b"@r2\nACGT\n+\nII\x1fI\n"], ids=["seq_char", "qual_char"]
)
def test_lenient_skips_bad_character(tmp_path, bad):
    path = write(tmp_path, GOOD1 + bad + TAIL)
    t, rejects = read_lenient(path)
    assert t.column("record").to_pylist() == [0, 2, 3]
    assert [r.record for r in rejects] == [1]


@pytest.mark.parametrize(
    "data",
    [
        GOOD1 + b"\n" + b"@r2\nACGT\n+\nIII\n",  # bad quality is line 9
        b"\n" + GOOD1 + b"@r2\nACGT\n+\nIII\n",  # bad quality is line 9
    ],
    ids=["blank_between", "blank_first"],
)
def test_line_number_with_blank_lines(tmp_path, data):
    e = format_error(write(tmp_path, data))
    assert (e.record, e.line) == (2, 9)


def test_nonprintable_byte_shown_once_escaped(tmp_path):
    e = format_error(write(tmp_path, GOOD1 + b"@r2\nACGT\n+\nII\x1fI\n"))
    assert "character '\\x1f' outside" in e.message


# -- Phred+64 ------------------------------------------------------------------------


def test_phred64_auto_detected_and_stored_as_33(tmp_path):
    q1, q2 = "@Jhb", "Kh"  # all >= '@', some above 'J'
    path = write(tmp_path, f"@r1\nACGT\n+\n{q1}\n@r2\nAC\n+\n{q2}\n".encode())
    chunks, inputs = plan_chunks(str(path))
    assert inputs[0].phred_offset == 64
    assert all(c.phred_offset == 64 for c in chunks)
    t = read(path)
    assert t.column("qual").to_pylist() == [
        "".join(chr(ord(c) - 31) for c in q).encode() for q in (q1, q2)
    ]
    assert t.column("qual").to_pylist() == [b"!+IC", b",I"]


def test_phred33_not_mistaken_for_64(tmp_path):
    # all >= '@' but none above 'J': ambiguous, stays Phred+33
    path = write(tmp_path, b"@r1\nACGT\n+\n@AIJ\n")
    assert plan_chunks(str(path))[1][0].phred_offset == 33
    assert read(path).column("qual").to_pylist() == [b"@AIJ"]


def test_phred64_forced_on_file_with_low_quality_char(tmp_path):
    path = write(tmp_path, b"@r1\nACGT\n+\n@Jhb\n@r2\nAC\n+\n?h\n")
    e = format_error(path, phred_offset=64)
    assert (e.record, e.line) == (2, 8)
    assert "outside Phred+64 range" in e.message
    # auto detection sees the '?' and reads it as Phred+33
    assert read(path).column("qual").to_pylist() == [b"@Jhb", b"?h"]


def test_phred64_forced_converts(tmp_path):
    path = write(tmp_path, b"@r1\nACGT\n+\n@AIJ\n")
    assert read(path, phred_offset=64).column("qual").to_pylist() == [b'!"*+']
