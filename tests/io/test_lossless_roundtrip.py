"""Round trips through seqray's own formats give FASTQ back byte for byte: FASTQ → BAM →
FASTQ and FASTQ → Parquet → FASTQ, single and paired, through the CLI, with any header
the FASTQ reader accepts (comments, tabs, '@', empty names, names over BAM's 254 bytes,
UTF-8). The input is in seqray's normal form: upper-case ACGTN, Phred+33, '\\n' line ends,
a bare '+' line; other FASTQ is first normalised (see test_normal_form_then_lossless).

The BAM seqray writes is also read by samtools, the independent reader: `samtools view`
must accept it, every QNAME must be valid SAM, and the headers rebuilt from samtools'
text by the documented scheme (hx:H hex, else QNAME + ' ' + CO:Z, else QNAME) must equal
the input's."""

from __future__ import annotations

import gzip
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqray.cli.main import main

from ..peers import require_tool

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
needs_samtools = pytest.mark.peers("samtools")


def samtools() -> str:
    return require_tool("samtools")


ILLUMINA = "ST-E00493:276:HGWK2CCXY:5:1101:10450:1379 1:N:0:NACAACCA"
QNAME = re.compile(r"^[!-?A-~]{1,254}$")  # SAM spec 1.4, QNAME


# -- strategies -----------------------------------------------------------------------

# what the FASTQ reader takes in a header: tab, printable ASCII, any UTF-8 text
name_chars = st.one_of(
    st.sampled_from(list(":/#@_.-|=*+")),
    st.characters(min_codepoint=33, max_codepoint=126),
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters=" "),
)
comment_chars = st.one_of(name_chars, st.just("\t"), st.just(" "))


@st.composite
def names(draw) -> str:
    """A header's first word: maybe empty, maybe longer than BAM's 254 bytes."""
    name = draw(st.text(name_chars, max_size=12))
    if draw(st.integers(0, 9)) == 0:
        name += draw(st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=250,
                             max_size=300))  # fmt: skip
    return name


@st.composite
def comments(draw) -> str:
    """Nothing, or a space or tab and a comment (maybe empty, with spaces and tabs)."""
    if draw(st.booleans()):
        return draw(st.sampled_from([" ", " ", "\t"])) + draw(st.text(comment_chars, max_size=20))
    return ""


@st.composite
def record(draw, header: str) -> tuple[str, str, str]:
    seq = draw(st.text(st.sampled_from("ACGTN"), max_size=40))
    qual = draw(
        st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=len(seq),
                max_size=len(seq))
    )  # fmt: skip
    return header, seq, qual


@st.composite
def reads(draw) -> list[tuple[str, str, str]]:
    n = draw(st.integers(0, 8))
    return [draw(record(draw(names()) + draw(comments()))) for _ in range(n)]


@st.composite
def pairs(draw) -> tuple[list, list]:
    """Mates share their first word up to an optional /1, /2 (the readers check it)."""
    r1, r2 = [], []
    for _ in range(draw(st.integers(0, 6))):
        name = draw(names()).replace("\t", "")
        tag = draw(st.booleans())
        r1.append(draw(record(name + ("/1" if tag else "") + draw(comments()))))
        r2.append(draw(record(name + ("/2" if tag else "") + draw(comments()))))
    return r1, r2


def fastq(recs) -> bytes:
    return "".join(f"@{h}\n{s}\n+\n{q}\n" for h, s, q in recs).encode()


def convert(*args: str) -> None:
    assert main(["convert", *map(str, args)]) == 0


# -- single-end -----------------------------------------------------------------------


@pytest.mark.parametrize("mid", ["mid.bam", "mid.parquet"])
def test_illumina_header_comes_back(tmp_path, mid):
    text = f"@{ILLUMINA}\nACGTN\n+\nAAF#J\n".encode()
    (tmp_path / "in.fq.gz").write_bytes(gzip.compress(text))
    convert(tmp_path / "in.fq.gz", tmp_path / mid)
    convert(tmp_path / mid, tmp_path / "back.fastq")
    assert (tmp_path / "back.fastq").read_bytes() == text


@SETTINGS
@given(recs=reads(), mid=st.sampled_from(["mid.bam", "mid.parquet"]))
def test_fastq_through_bam_or_parquet_is_lossless(recs, mid):
    text = fastq(recs)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "in.fq").write_bytes(text)
        convert(d / "in.fq", d / mid, "--phred-offset", "33")
        convert(d / mid, d / "out.fq")
        assert (d / "out.fq").read_bytes() == text


@SETTINGS
@given(recs=reads())
def test_bam_to_parquet_to_bam_to_gzip_fastq_is_lossless(recs):
    text = fastq(recs)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "in.fq").write_bytes(text)
        convert(d / "in.fq", d / "a.bam", "--phred-offset", "33")
        convert(d / "a.bam", d / "b.parquet")
        convert(d / "b.parquet", d / "c.bam")
        convert(d / "c.bam", d / "out.fq.gz")
        assert gzip.decompress((d / "out.fq.gz").read_bytes()) == text


# -- paired ---------------------------------------------------------------------------


@SETTINGS
@given(mates=pairs(), mid=st.sampled_from(["mid.bam", "mid.parquet"]))
def test_pairs_through_bam_or_parquet_are_lossless(mates, mid):
    r1, r2 = fastq(mates[0]), fastq(mates[1])
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "in_1.fq").write_bytes(r1)
        (d / "in_2.fq").write_bytes(r2)
        convert(d / "in_1.fq", d / mid, "--mate", d / "in_2.fq", "--phred-offset", "33")
        convert(d / mid, d / "out_1.fq", "--out2", d / "out_2.fq")
        assert (d / "out_1.fq").read_bytes() == r1
        assert (d / "out_2.fq").read_bytes() == r2


def test_paired_bam_to_single_fastq_asks_for_out2(tmp_path, capsys):
    (tmp_path / "a_1.fq").write_bytes(b"@p1 1:N\nAC\n+\nII\n")
    (tmp_path / "a_2.fq").write_bytes(b"@p1 2:N\nGT\n+\nII\n")
    convert(tmp_path / "a_1.fq", tmp_path / "p.bam", "--mate", tmp_path / "a_2.fq")
    assert main(["convert", str(tmp_path / "p.bam"), str(tmp_path / "x.fq")]) == 1
    assert "--out2" in capsys.readouterr().err
    assert not (tmp_path / "x.fq").exists()


@needs_samtools
def test_samtools_import_pairs_are_read_as_pairs(tmp_path):
    """An unaligned paired BAM from another tool (samtools import) comes back as pairs."""
    r1, r2 = b"@p1\nACGT\n+\nII#I\n@p2\nA\n+\n~\n", b"@p1\nTT\n+\nI!\n@p2\n\n+\n\n"
    (tmp_path / "a_1.fq").write_bytes(r1)
    (tmp_path / "a_2.fq").write_bytes(r2)
    bam = tmp_path / "imp.bam"
    subprocess.run(
        [
            require_tool("samtools"),
            "import",
            "-1",
            tmp_path / "a_1.fq",
            "-2",
            tmp_path / "a_2.fq",
            "-o",
            bam,
        ],
        check=True,
        capture_output=True,
    )
    convert(bam, tmp_path / "o_1.fq", "--out2", tmp_path / "o_2.fq")
    assert (tmp_path / "o_1.fq").read_bytes() == r1
    assert (tmp_path / "o_2.fq").read_bytes() == r2


# -- samtools reads what seqray writes ------------------------------------------------


def rebuild_header(sam_line: str) -> str:
    """A header line from samtools' SAM text, by the scheme seqray documents."""
    fields = sam_line.split("\t")
    tags = {f[:2]: f[5:] for f in fields[11:]}
    if "hx" in tags:
        assert sam_line.split("\t")[11:][-1].startswith("hx:H:")
        return bytes.fromhex(tags["hx"]).decode()
    return fields[0] + (" " + tags["CO"] if "CO" in tags else "")


@needs_samtools
@SETTINGS
@given(recs=reads())
def test_samtools_reads_seqray_bam_and_sees_the_headers(recs):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "in.fq").write_bytes(fastq(recs))
        convert(d / "in.fq", d / "r.bam", "--phred-offset", "33")
        assert subprocess.run([samtools(), "quickcheck", "-u", d / "r.bam"]).returncode == 0
        got = subprocess.run([samtools(), "view", d / "r.bam"], capture_output=True, check=True)
    assert got.stderr == b""
    lines = got.stdout.decode().splitlines()
    assert len(lines) == len(recs)
    for line, (header, seq, qual) in zip(lines, recs):
        f = line.split("\t")
        assert QNAME.match(f[0]), f[0]
        assert f[1] == "4"
        assert (f[9], f[10]) == (seq or "*", qual or "*")
        assert rebuild_header(line) == header


@needs_samtools
def test_samtools_fastq_gives_the_comment_back_with_T_CO(tmp_path):
    text = f"@{ILLUMINA}\nACGT\n+\nIIII\n@r2\nA\n+\n#\n".encode()
    (tmp_path / "in.fq").write_bytes(text)
    convert(tmp_path / "in.fq", tmp_path / "r.bam")
    got = subprocess.run(
        [samtools(), "fastq", "-T", "CO", tmp_path / "r.bam"],
        capture_output=True,
        check=True,
    ).stdout
    name, comment = ILLUMINA.split(" ", 1)
    assert got == f"@{name}\tCO:Z:{comment}\nACGT\n+\nIIII\n@r2\nA\n+\n#\n".encode()


# -- normal form, FASTA ---------------------------------------------------------------


def test_normal_form_then_lossless(tmp_path):
    """Lower case, '.', Phred+64, CRLF and a repeated name on '+' are normalised on the
    first read (that is the normal form); from then on every round trip is exact."""
    raw = b"@r1 x\r\nacg.t\r\n+r1 x\r\nhhhBh\r\n@r2\r\nNN\r\n+\r\n^^\r\n"
    normal = b"@r1 x\nACGNT\n+\nIII#I\n@r2\nNN\n+\n??\n"  # Q = byte - 64, written + 33
    (tmp_path / "raw.fq").write_bytes(raw)
    convert(tmp_path / "raw.fq", tmp_path / "n.fq")
    assert (tmp_path / "n.fq").read_bytes() == normal
    for mid in ("m.bam", "m.parquet"):
        convert(tmp_path / "n.fq", tmp_path / mid)
        convert(tmp_path / mid, tmp_path / f"{mid}.fq")
        assert (tmp_path / f"{mid}.fq").read_bytes() == normal


def test_fastq_to_fasta_and_back_keeps_headers_and_bases_not_qualities(tmp_path):
    (tmp_path / "in.fq").write_bytes(f"@{ILLUMINA}\nACGTN\n+\n#####\n@r2\n\n+\n\n".encode())
    convert(tmp_path / "in.fq", tmp_path / "a.fa")
    assert (tmp_path / "a.fa").read_bytes() == f">{ILLUMINA}\nACGTN\n>r2\n\n".encode()
    convert(tmp_path / "a.fa", tmp_path / "back.fq")
    # FASTA has no qualities: FASTQ written from it gets 'I' (Q40) for every base
    assert (tmp_path / "back.fq").read_bytes() == (
        f"@{ILLUMINA}\nACGTN\n+\nIIIII\n@r2\n\n+\n\n".encode()
    )


@pytest.mark.parametrize("mid", [None, "m.bam", "m.parquet"])
def test_fasta_keeps_headers_and_sequences_multi_line_becomes_single(tmp_path, mid):
    (tmp_path / "in.fa").write_bytes(
        b">chr1 some description\tx\nACGT\nACGT\nAC\n>@odd\xc3\xa9 name\nNNNN\n>\n\n"
    )
    want = b">chr1 some description\tx\nACGTACGTAC\n>@odd\xc3\xa9 name\nNNNN\n>\n\n"
    src = tmp_path / "in.fa"
    if mid is not None:
        convert(src, tmp_path / mid)
        src = tmp_path / mid
    convert(src, tmp_path / "out.fa")
    assert (tmp_path / "out.fa").read_bytes() == want


def test_iupac_codes_through_bam_and_a_base_bam_cannot_hold(tmp_path, capsys):
    """With --keep-iupac, BAM's 4-bit alphabet (=ACMGRSVTWYHKDBN) carries the IUPAC codes;
    'U' it cannot, which is a located error and no output, never a silent N."""
    text = b"@r1\nRYKMSWBDHVN\n+\nIIIIIIIIIII\n"
    (tmp_path / "in.fq").write_bytes(text)
    convert(tmp_path / "in.fq", tmp_path / "m.bam", "--keep-iupac")
    convert(tmp_path / "m.bam", tmp_path / "out.fq", "--keep-iupac")
    assert (tmp_path / "out.fq").read_bytes() == text
    (tmp_path / "u.fq").write_bytes(text + b"@r2\nACU\n+\nIII\n")
    assert main(["convert", str(tmp_path / "u.fq"), str(tmp_path / "u.bam"), "--keep-iupac"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "u.fq, record 2: cannot write BAM: base 'U'" in err
    assert not list(tmp_path.glob("*u.bam*"))
