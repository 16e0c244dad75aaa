"""Parse → write round trips: normalised FASTQ comes back byte for byte, through Arrow,
gzip, Parquet and BAM."""

from __future__ import annotations

import gzip
import json
import subprocess
import tempfile
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqray.cli.common import iter_chunk_tables
from seqray.cli.main import main
from seqray.io.formats.text import format_records
from seqray.io.parse import ReadOptions
from seqray.io.schema import read_schema
from seqray.io.sources import plan_chunks

SETTINGS = settings(max_examples=100, deadline=None)


def parse(path: Path | str, phred_offset=33, options: ReadOptions | None = None) -> pa.Table:
    chunks, _ = plan_chunks(str(path), phred_offset=phred_offset)
    tables = [t for _, t in iter_chunk_tables(chunks, options or ReadOptions())]
    return pa.concat_tables(tables) if tables else read_schema().empty_table()


def to_fastq(table: pa.Table) -> bytes:
    return format_records(table, fastq=True)


# -- strategies -----------------------------------------------------------------------

printable = st.characters(min_codepoint=32, max_codepoint=126)
no_space = st.characters(min_codepoint=33, max_codepoint=126)


@st.composite
def names(draw, comments: bool = True) -> str:
    name = draw(st.text(no_space, min_size=1, max_size=20))
    if comments and draw(st.booleans()):
        name += " " + draw(st.text(printable, max_size=20))
    return name


@st.composite
def fastq_records(draw, comments: bool = True, min_len: int = 0) -> list[tuple[str, str, str]]:
    recs = []
    for _ in range(draw(st.integers(0, 20))):
        seq = draw(st.text(st.sampled_from("ACGTN"), min_size=min_len, max_size=60))
        qual = draw(st.text(no_space, min_size=len(seq), max_size=len(seq)))
        recs.append((draw(names(comments)), seq, qual))
    return recs


def fastq_bytes(recs) -> bytes:
    return "".join(f"@{n}\n{s}\n+\n{q}\n" for n, s, q in recs).encode()


# -- Arrow round trips ----------------------------------------------------------------


@SETTINGS
@given(recs=fastq_records())
def test_fastq_parse_format_is_identity(recs):
    text = fastq_bytes(recs)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "r.fq"
        path.write_bytes(text)
        table = parse(path)
    assert table.num_rows == len(recs)
    assert table.column("record").to_pylist() == list(range(len(recs)))
    assert table.column("name").to_pylist() == [n for n, _, _ in recs]
    assert to_fastq(table) == text


@SETTINGS
@given(recs=fastq_records())
def test_gzip_fastq_round_trip(recs):
    text = fastq_bytes(recs)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "r.fq.gz"
        path.write_bytes(gzip.compress(text))
        table = parse(path)
    assert to_fastq(table) == text


def test_multi_member_gzip_round_trip(tmp_path):
    # gzip members concatenate into one valid stream (what the shard writers rely on)
    a = b"@a\nACGT\n+\nIIII\n"
    b = b"@b c\nNN\n+\n!~\n"
    path = tmp_path / "r.fq.gz"
    path.write_bytes(gzip.compress(a) + gzip.compress(b))
    t = parse(path)
    assert to_fastq(t) == a + b
    assert t.column("record").to_pylist() == [0, 1]


def test_phred_auto_detection_keeps_phred33(tmp_path):
    # a '!'..'~' spread (some below '@') is Phred+33 under auto detection
    text = b"@a\nACGT\n+\n!5I~\n@b\nA\n+\nJ\n"
    path = tmp_path / "r.fq"
    path.write_bytes(text)
    assert to_fastq(parse(path, phred_offset="auto")) == text


def test_lower_case_and_dot_are_normalised(tmp_path):
    text = b"@r1 lower\nacgtn\n+\nIIIII\n@r2\nAc.gT.\n+\n!!##II\n@r3\nRYKMswbdhvu\n+\nIIIIIIIIIII\n"
    path = tmp_path / "r.fq"
    path.write_bytes(text)
    expected = (
        b"@r1 lower\nACGTN\n+\nIIIII\n@r2\nACNGTN\n+\n!!##II\n@r3\nNNNNNNNNNNN\n+\nIIIIIIIIIII\n"
    )
    assert to_fastq(parse(path)) == expected
    kept = parse(path, options=ReadOptions(keep_iupac=True))
    assert kept.column("seq").to_pylist() == [b"ACGTN", b"ACNGTN", b"RYKMSWBDHVU"]


def test_crlf_input_writes_lf(tmp_path):
    lf = b"@r1 x\nACGT\n+\nIIII\n@r2\n\n+\n\n"
    path = tmp_path / "r.fq"
    path.write_bytes(lf.replace(b"\n", b"\r\n"))
    assert to_fastq(parse(path)) == lf


def test_plus_line_with_repeated_name_is_dropped(tmp_path):
    path = tmp_path / "r.fq"
    path.write_bytes(b"@r1 c\nACGT\n+r1 c\nIIII\n")
    assert to_fastq(parse(path)) == b"@r1 c\nACGT\n+\nIIII\n"


def test_fasta_multiline_to_single_line(tmp_path):
    path = tmp_path / "r.fa"
    path.write_bytes(b">s1 desc\nACGT\nac\n>s2\n\n>s3\r\nNN\r\nnn\r\n")
    t = parse(path, phred_offset="auto")
    assert t.column("qual").null_count == 3
    assert format_records(t, fastq=False) == b">s1 desc\nACGTAC\n>s2\n\n>s3\nNNNN\n"
    # FASTA written as FASTQ gets quality 'I' for every base
    assert format_records(t, fastq=True) == (
        b"@s1 desc\nACGTAC\n+\nIIIIII\n@s2\n\n+\n\n@s3\nNNNN\n+\nIIII\n"
    )


# -- CLI convert round trips ----------------------------------------------------------


def _convert(src: Path, dst: Path, *extra: str) -> None:
    rc = main(["convert", str(src), str(dst), *extra])
    assert rc == 0
    assert dst.exists()


@SETTINGS
@given(recs=fastq_records())
def test_cli_fastq_parquet_fastq(recs):
    text = fastq_bytes(recs)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "in.fq").write_bytes(text)
        _convert(d / "in.fq", d / "mid.parquet", "--phred-offset", "33")
        _convert(d / "mid.parquet", d / "out.fq")
        assert (d / "out.fq").read_bytes() == text


@SETTINGS
@given(recs=fastq_records(comments=False, min_len=1))
def test_cli_fastq_bam_fastq(recs):
    # names without comments: QNAME alone carries them (no CO:Z, no hx:H)
    text = fastq_bytes(recs)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "in.fq").write_bytes(text)
        _convert(d / "in.fq", d / "mid.bam", "--phred-offset", "33")
        _convert(d / "mid.bam", d / "out.fq")
        assert (d / "out.fq").read_bytes() == text


def test_cli_bam_keeps_name_comment(tmp_path):
    # the comment travels in a CO:Z tag (tests/io/test_lossless_roundtrip.py has the rest)
    src = tmp_path / "in.fq"
    src.write_bytes(b"@r1 comment here\nACGT\n+\nIIII\n")
    _convert(src, tmp_path / "mid.bam")
    _convert(tmp_path / "mid.bam", tmp_path / "out.fq")
    assert (tmp_path / "out.fq").read_bytes() == src.read_bytes()


def test_cli_fastq_bam_fastq_empty_read(tmp_path):
    text = b"@r1\nACGT\n+\nIIII\n@r2\n\n+\n\n@r3\nA\n+\nI\n"
    src = tmp_path / "in.fq"
    src.write_bytes(text)
    _convert(src, tmp_path / "mid.bam")
    _convert(tmp_path / "mid.bam", tmp_path / "out.fq")
    assert (tmp_path / "out.fq").read_bytes() == text


def test_cli_fastq_gz_round_trip(tmp_path):
    text = b"@r1 a b\nACGT\n+\n!I~#\n@r2\n\n+\n\n@r3\nNNNA\n+\n@@@@\n"
    src = tmp_path / "in.fq"
    src.write_bytes(text)
    _convert(src, tmp_path / "mid.fq.gz")
    assert gzip.decompress((tmp_path / "mid.fq.gz").read_bytes()) == text
    _convert(tmp_path / "mid.fq.gz", tmp_path / "out.fastq")
    assert (tmp_path / "out.fastq").read_bytes() == text


def test_cli_convert_phred64_to_phred33(tmp_path):
    src = tmp_path / "in.fq"
    src.write_bytes(b"@r1\nACGT\n+\n@Jhb\n@r2\nAC\n+\nKh\n")
    _convert(src, tmp_path / "out.fq")
    expected_q1 = "".join(chr(ord(c) - 31) for c in "@Jhb").encode()
    expected_q2 = "".join(chr(ord(c) - 31) for c in "Kh").encode()
    assert (tmp_path / "out.fq").read_bytes() == (
        b"@r1\nACGT\n+\n" + expected_q1 + b"\n@r2\nAC\n+\n" + expected_q2 + b"\n"
    )


# -- empty results written as gzip are valid gzip (gzip -t is the independent check) ----


def _gzip_ok_and_text(path: Path) -> bytes:
    assert subprocess.run(["gzip", "-t", str(path)], capture_output=True).returncode == 0
    return subprocess.run(["gzip", "-dc", str(path)], capture_output=True, check=True).stdout


def test_cli_empty_input_to_gzip_is_a_valid_empty_gzip(tmp_path):
    src = tmp_path / "empty.fq"
    src.write_bytes(b"")
    for out in ("out.fq.gz", "out.fa.gz"):
        _convert(src, tmp_path / out)
        assert _gzip_ok_and_text(tmp_path / out) == b""


def test_cli_all_records_skipped_to_gzip_is_valid(tmp_path):
    src = tmp_path / "bad.fq"
    src.write_bytes(b"@r1\nACGT\n+\nIII\n@r2\nAZ\n+\nII\n")
    _convert(src, tmp_path / "out.fq.gz", "--on-error", "skip")
    assert _gzip_ok_and_text(tmp_path / "out.fq.gz") == b""


def test_cli_empty_pairs_to_gzip_are_valid(tmp_path):
    for name in ("a_1.fq", "a_2.fq"):
        (tmp_path / name).write_bytes(b"")
    _convert(tmp_path / "a_1.fq", tmp_path / "p.parquet", "--mate", str(tmp_path / "a_2.fq"))
    _convert(tmp_path / "p.parquet", tmp_path / "o_1.fq.gz", "--out2", str(tmp_path / "o_2.fq.gz"))
    assert _gzip_ok_and_text(tmp_path / "o_1.fq.gz") == b""
    assert _gzip_ok_and_text(tmp_path / "o_2.fq.gz") == b""


def _qc_write(tmp_path: Path, name: str, paths: list[Path], chunk_bytes: int, qc: dict):
    from seqray.pipeline.config import parse_config
    from seqray.pipeline.driver import run_pipeline

    out = tmp_path / name
    read: dict = {"paths": [str(paths[0])]}
    if len(paths) > 1:
        read["mate_paths"] = [str(p) for p in paths[1:]]
    cfg = parse_config(
        {
            "output": str(out),
            "run": {"chunk_bytes": chunk_bytes},
            "stages": [
                {"read": read},
                {"qc": qc},
                {"write": {"format": "fastq", "compression": "gzip"}},
            ],
        }
    )
    run_pipeline(cfg, runner="local", overwrite=True)
    return out


def _long_and_short_reads(path: Path, pattern: str) -> bytes:
    """Reads of 40 bp ('L') and 5 bp ('S'); qc's length filter (15) keeps only the long."""
    recs = []
    for i, kind in enumerate(pattern):
        n = 40 if kind == "L" else 5
        recs.append(f"@r{i}\n{'ACGT' * 10 if n == 40 else 'ACGTA'}\n+\n{'I' * n}\n")
    text = "".join(recs).encode()
    path.write_bytes(text)
    return b"".join(r.encode() for r, k in zip(recs, pattern) if k == "L")


@pytest.mark.parametrize(
    "pattern", ["SSSSSSSS", "SSSLLSSSSSSL", "LLLLSSSS"], ids=["none", "some", "tail_empty"]
)
def test_pipeline_gzip_output_valid_whether_all_some_or_no_chunks_are_empty(tmp_path, pattern):
    """Chunks of ~2 records: every chunk's part, some of them, or the last ones empty.
    The joined file passes gzip -t and holds exactly the long reads; where reads exist it
    holds no empty member (so it is the bytes it was before empty parts became valid
    gzip), and with no reads at all it is one empty member."""
    from seqray.io.formats.text import EMPTY_GZIP

    src = tmp_path / "r.fq"
    want = _long_and_short_reads(src, pattern)
    qc = {"trim_poly_g": False, "disable_adapter_trimming": True}
    out = _qc_write(tmp_path, "small", [src], 60, qc)
    assert len(json.loads((out / "manifest.json").read_text())["chunks"]) > 2
    data = (out / "reads.fastq.gz").read_bytes()
    assert _gzip_ok_and_text(out / "reads.fastq.gz") == want
    if want:
        assert EMPTY_GZIP not in data
    else:
        assert data == EMPTY_GZIP


def test_pipeline_paired_gzip_output_valid_when_nothing_passes(tmp_path):
    r1, r2 = tmp_path / "a_1.fq", tmp_path / "a_2.fq"
    _long_and_short_reads(r1, "SSSS")
    _long_and_short_reads(r2, "SSSS")
    out = _qc_write(tmp_path, "o", [r1, r2], 60, {"trim_poly_g": False})
    for mate in ("R1", "R2"):
        assert _gzip_ok_and_text(out / f"reads_{mate}.fastq.gz") == b""


def test_text_shard_with_no_reads_is_valid_gzip_alone(tmp_path):
    from seqray.io.formats.text import TextShardWriter

    w = TextShardWriter(str(tmp_path / "part.fastq.gz"), fastq=True, compression="gzip")
    w.write(read_schema().empty_table())
    f = w.commit()
    assert (f.rows, f.bytes) == (0, 20)
    assert _gzip_ok_and_text(tmp_path / "part.fastq.gz") == b""
    w = TextShardWriter(str(tmp_path / "part.fastq"), fastq=True, compression="none")
    assert w.commit().bytes == 0  # plain text: nothing to write


def test_concatenate_leaves_out_empty_gzip_members_only(tmp_path):
    from seqray.io.formats.text import EMPTY_GZIP, concatenate

    a, b = gzip.compress(b"@a\nA\n+\nI\n", mtime=0), gzip.compress(b"@b\nC\n+\nI\n", mtime=0)
    parts = []
    for i, data in enumerate([EMPTY_GZIP, a, EMPTY_GZIP, b, EMPTY_GZIP]):
        parts.append(tmp_path / f"p{i}.gz")
        parts[-1].write_bytes(data)
    concatenate([str(p) for p in parts], str(tmp_path / "some.gz"))
    assert (tmp_path / "some.gz").read_bytes() == a + b
    concatenate([str(parts[0]), str(parts[2])], str(tmp_path / "none.gz"))
    assert _gzip_ok_and_text(tmp_path / "none.gz") == b""
    (tmp_path / "zero.gz").write_bytes(b"")  # a 0-byte part (written before this fix)
    concatenate([str(tmp_path / "zero.gz")], str(tmp_path / "from_zero.fq.gz"))
    assert _gzip_ok_and_text(tmp_path / "from_zero.fq.gz") == b""
    (tmp_path / "t.fq").write_bytes(b"")  # plain text stays 0 bytes
    concatenate([str(tmp_path / "t.fq")], str(tmp_path / "plain.fq"))
    assert (tmp_path / "plain.fq").read_bytes() == b""
