"""BAM and Parquet inputs held to the text readers' rules; Parquet round trips compared
value by value with the FASTQ parsed independently (plain Python); globs; UTF-8 headers."""

from __future__ import annotations

import gzip

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqray.cli.common import iter_chunk_tables
from seqray.cli.main import main
from seqray.errors import FormatError
from seqray.io.fs import expand_paths
from seqray.io.parse import ReadOptions
from seqray.io.sources import plan_chunks


def read_all(path, **kw) -> pa.Table:
    chunks, _ = plan_chunks(str(path))
    return pa.concat_tables([t for _, t in iter_chunk_tables(chunks, ReadOptions(**kw))])


def test_sam_sequences_are_normalised(tmp_path):
    sam = tmp_path / "x.sam"
    sam.write_text("@HD\tVN:1.6\nr1\t4\t*\t0\t0\t*\t*\t0\t0\tACRYN\tIIIII\n")
    t = read_all(sam)
    assert t.column("seq").to_pylist() == [b"ACNNN"]
    assert read_all(sam, keep_iupac=True).column("seq").to_pylist() == [b"ACRYN"]


def _parquet(path, seq, qual, name="r1"):
    pq.write_table(pa.table({"name": [name], "seq": [seq], "qual": [qual]}), path)
    return path


def test_parquet_quality_must_match_sequence(tmp_path):
    p = _parquet(tmp_path / "x.parquet", b"ACGT", b"IIIIII")
    with pytest.raises(FormatError, match="lengths differ") as e:
        read_all(p)
    assert e.value.record == 1 and str(p) in str(e.value)
    assert read_all(_parquet(tmp_path / "y.parquet", b"acg.", b"II#I")).column(
        "seq"
    ).to_pylist() == [b"ACGN"]
    with pytest.raises(FormatError, match="invalid character 'Z'"):
        read_all(_parquet(tmp_path / "z.parquet", b"AZ", b"II"))


def test_truncated_parquet_is_a_format_error(tmp_path, capsys):
    good = _parquet(tmp_path / "x.parquet", b"ACGT", b"IIII")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(good.read_bytes()[:-20])
    assert main(["convert", str(bad), str(tmp_path / "o.fq")]) == 1
    err = capsys.readouterr().err
    assert "bad.parquet" in err and "internal error" not in err


def parse_fastq(text: bytes) -> list[tuple[str, bytes, bytes]]:
    """The reference parser: four lines a record, no checks (the inputs are well formed)."""
    lines = text.split(b"\n")
    assert lines[-1] == b"" and len(lines) % 4 == 1
    return [
        (lines[i][1:].decode(), lines[i + 1], lines[i + 3]) for i in range(0, len(lines) - 1, 4)
    ]


def test_paired_parquet_round_trip(tmp_path, examples, capsys):
    r1, r2 = examples / "phix_R1.fastq.gz", examples / "phix_R2.fastq.gz"
    assert main(["convert", str(r1), str(tmp_path / "p.parquet"), "--mate", str(r2)]) == 0
    assert main(["convert", str(tmp_path / "p.parquet"), str(tmp_path / "q.parquet")]) == 0
    mates = [parse_fastq(gzip.decompress(r.read_bytes())) for r in (r1, r2)]
    assert len(mates[0]) == len(mates[1]) == 2000
    for name in ("p.parquet", "q.parquet"):
        t = pq.read_table(tmp_path / name).to_pydict()
        assert t["record"] == list(range(2000)), name
        for cols, records in (
            (("name", "seq", "qual"), mates[0]),
            (("name2", "seq2", "qual2"), mates[1]),
        ):
            got = list(zip(*(t[c] for c in cols)))
            assert got == records, (name, cols)
    assert main(["convert", str(tmp_path / "p.parquet"), str(tmp_path / "q.fq")]) == 1
    assert "paired input" in capsys.readouterr().err
    assert not (tmp_path / "q.fq").exists()


_header = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x17F, exclude_characters="\x7f"), max_size=30
)
_record = st.integers(0, 40).flatmap(
    lambda n: st.tuples(
        _header.filter(lambda h: not h.startswith(("@", "+"))),
        st.text("ACGTN", min_size=n, max_size=n),
        # any Phred+33 byte; the offset is given (its detection is tested elsewhere)
        st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=n, max_size=n),
    )
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_record, min_size=1, max_size=30))
def test_fastq_to_parquet_keeps_every_value(tmp_path, records):
    """Random headers (UTF-8, spaces), sequences (empty ones too) and Phred+33 qualities:
    the Parquet rows are the records, value by value, in order."""
    text = "".join(f"@{h}\n{s}\n+\n{q}\n" for h, s, q in records).encode()
    src = tmp_path / "in.fq"
    src.write_bytes(text)
    dst = tmp_path / "out.parquet"
    dst.unlink(missing_ok=True)
    assert main(["convert", str(src), str(dst), "--phred-offset", "33"]) == 0
    t = pq.read_table(dst).to_pydict()
    assert list(zip(t["name"], t["seq"], t["qual"])) == parse_fastq(text)
    assert t["record"] == list(range(len(records)))


def test_non_utf8_header_is_located(tmp_path):
    f = tmp_path / "x.fq"
    f.write_bytes(b"@ok\nA\n+\nI\n@r\xe9ad\nA\n+\nI\n")
    with pytest.raises(FormatError, match="not valid UTF-8") as e:
        read_all(f)
    assert (e.value.record, e.value.line) == (2, 5)
    f.write_bytes("@ok φX174\nA\n+\nI\n".encode())
    assert read_all(f).column("name").to_pylist() == ["ok φX174"]


def test_glob_star_stays_in_one_directory(tmp_path):
    (tmp_path / "sub").mkdir()
    for p in ("a_R1.fq", "b_R1.fq", "sub/old_R1.fq"):
        (tmp_path / p).write_bytes(b"@r\nA\n+\nI\n")
    names = [i.uri.rsplit("/", 1)[1] for i in expand_paths(str(tmp_path / "*_R1.fq"))]
    assert names == ["a_R1.fq", "b_R1.fq"]
    deep = [i.uri for i in expand_paths(str(tmp_path / "**" / "*_R1.fq"))]
    assert any(u.endswith("sub/old_R1.fq") for u in deep)


def test_a_read_named_like_a_sam_header_line_is_still_fastq():
    """`@CO<TAB>...` opens a SAM header, but with a '+' line two lines below and a quality
    line as long as the sequence it is a FASTQ record (found by hypothesis)."""
    from seqray.io.compression import Format, detect_format

    fastq = b"@CO\tx\nACGT\n+\nIIII\n"
    assert detect_format(fastq, fastq) == Format.FASTQ
    empty_read = b"@CO\t\n\n+\n\n"
    assert detect_format(empty_read, empty_read) == Format.FASTQ
    sam = b"@HD\tVN:1.6\n@CO\tnote\nr1\t4\t*\t0\t0\t*\t*\t0\t0\tACGT\tIIII\n"
    assert detect_format(sam, sam) == Format.SAM
