"""Phred offset detection: Phred+64 only on unambiguous evidence, decided from a sample of
up to 8 MiB (the whole file when smaller), and the decision visible on the InputFile.

Independent truths: how the qualities were generated (Phred+33 bytes must come back
unchanged), the real Phred+64 reads of Debian's seqprep-data and velvet-tests (their Q
values are byte - 64, read here straight from the files with Python's gzip), a plain
line-by-line walk for the vectorised quality-line finder, and fastp's passed-read count."""

from __future__ import annotations

import gzip
import json
import random
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqray.cli.common import iter_chunk_tables
from seqray.cli.main import main
from seqray.errors import FormatError
from seqray.io.fs import expand_paths
from seqray.io.parse import ReadOptions
from seqray.io.sources import (
    HEAD_BYTES,
    SAMPLE_BYTES,
    decide_phred,
    inspect_input,
    plan_chunks,
    quality_bytes,
)

from ..debdata import debian_file
from ..peers import require_tool
from ..qc.conftest import needs_fastp

SETTINGS = settings(max_examples=100, deadline=None)


def fastq_text(quals: list[str]) -> bytes:
    bases = "ACGTTGCAAGCT" * 100
    return "".join(
        f"@r{i} 1:N:0:ACGT\n{bases[i % 7 : i % 7 + len(q)]}\n+\n{q}\n" for i, q in enumerate(quals)
    ).encode()


def write(path: Path, text: bytes) -> Path:
    path.write_bytes(gzip.compress(text, compresslevel=1) if path.suffix == ".gz" else text)
    return path


def inspect(path: Path, phred_offset="auto"):
    return inspect_input(expand_paths([str(path)])[0], phred_offset)


def read_quals(path: Path, phred_offset="auto") -> list[bytes]:
    chunks, _ = plan_chunks(str(path), phred_offset=phred_offset)
    return [q for _, t in iter_chunk_tables(chunks, ReadOptions()) for q in t["qual"].to_pylist()]


def rand_quals(rng: random.Random, n: int, lo: str, hi: str, length: int = 100) -> list[str]:
    """n uniform random quality strings with bytes in [lo, hi]."""
    g = np.random.default_rng(rng.randrange(1 << 30))
    arr = g.integers(ord(lo), ord(hi) + 1, size=(n, length), dtype=np.uint8)
    return [row.tobytes().decode() for row in arr]


# -- all-high-quality Phred+33 stays Phred+33 ---------------------------------------


def _high_phred33() -> dict[str, list[str]]:
    rng = random.Random(7)
    hifi = []
    for _ in range(300):  # PacBio HiFi: mostly '~' (Q93), the rest Q31..Q92
        hifi.append("".join("~" if rng.random() < 0.7 else chr(rng.randint(64, 125))
                            for _ in range(150)))  # fmt: skip
    return {
        "q35_q60": rand_quals(rng, 300, "D", "]"),
        "all_q42_K": ["K" * 150] * 300,
        "hifi_to_tilde": hifi,
        # NovaSeq's four bins are '#', ',', ':', 'F'; a high-quality run can be all 'F'
        "novaseq_binned_F": ["F" * 150] * 300,
        "hiseqx_binned_high": ["".join(rng.choice("<AFJ") for _ in range(150))] * 300,
        "q60_capped": ["]" * 150] * 300,
    }


HIGH33 = _high_phred33()


@pytest.mark.parametrize("suffix", [".fq", ".fq.gz"])
@pytest.mark.parametrize("kind", list(HIGH33))
def test_high_quality_phred33_is_not_mistaken_for_phred64(tmp_path, kind, suffix):
    quals = HIGH33[kind]
    path = write(tmp_path / f"r{suffix}", fastq_text(quals))
    f = inspect(path)
    assert (f.phred_offset, f.phred_source) == (33, "auto")
    assert "whole file" in f.phred_evidence
    # the qualities come back as they were written
    assert read_quals(path) == [q.encode() for q in quals]


def test_old_rule_would_have_taken_all_K_as_phred64(tmp_path):
    # the case from the issue: no byte below '@', some above 'J' -> was Phred+64
    path = write(tmp_path / "k.fq", fastq_text(["K" * 150] * 10))
    f = inspect(path)
    assert f.phred_offset == 33
    assert f.phred_evidence.startswith("qualities 'K'..'K' in the whole file (")
    assert f.phred_evidence.endswith("0.0% >= '^': too few for Phred+64, read as Phred+33")


# -- real Phred+64 reads ---------------------------------------------------------------

REAL64 = [
    ("seqprep-data", "usr/share/doc/seqprep/examples/data/multiplex_bad_contam_1.fq.gz"),
    ("seqprep-data", "usr/share/doc/seqprep/examples/data/multiplex_bad_contam_2.fq.gz"),
    ("velvet-tests", "usr/share/doc/velvet/tests/read1.fq.gz"),
    ("velvet-tests", "usr/share/doc/velvet/tests/read2.fq.gz"),
]


@pytest.mark.parametrize("package,member", REAL64, ids=[m.split("/")[-1] for _, m in REAL64])
def test_real_phred64_reads_are_detected(tmp_path, package, member):
    src = debian_file(package, member)
    f = inspect(src)
    assert (f.phred_offset, f.phred_source) == (64, "auto")
    assert f.phred_evidence.startswith("qualities 'B'..")
    # independent truth: Q = byte - 64 in the file, so seqray's Phred+33 is byte - 31
    with gzip.open(src, "rb") as fh:
        raw = fh.read().split(b"\n")[3::4][:20000]
    got = read_quals(src)[:20000]
    assert len(got) == len(raw) > 0
    want = [(np.frombuffer(q, np.uint8) - 64 + 33).tobytes() for q in raw]
    assert got == want


def test_real_phred64_detected_from_a_plain_copy_and_a_small_slice(tmp_path):
    src = debian_file("velvet-tests", "usr/share/doc/velvet/tests/read2.fq.gz")
    with gzip.open(src, "rb") as fh:
        lines = fh.read().split(b"\n")
    plain = write(tmp_path / "v.fq", b"\n".join(lines[: 4 * 200]) + b"\n")
    f = inspect(plain)
    assert f.phred_offset == 64 and "whole file" in f.phred_evidence


# -- the sample is larger than the first MiB ---------------------------------------


@pytest.mark.parametrize("suffix", [".fq", ".fq.gz"])
def test_lows_after_the_first_mib_are_seen(tmp_path, suffix):
    """Phred+33 whose first 2 MiB look like Phred+64 (Q35..Q72, a quarter >= '^'), with
    lows later: the old 1 MiB look chose Phred+64; the 8 MiB sample sees the lows."""
    rng = random.Random(3)
    high = rand_quals(rng, 12000, "D", "i", 150)  # ~3.8 MiB of records
    low = rand_quals(rng, 200, "#", "J", 150)
    text = fastq_text(high + low)
    assert HEAD_BYTES < len(text) < SAMPLE_BYTES
    path = write(tmp_path / f"r{suffix}", text)
    f = inspect(path)
    assert f.phred_offset == 33
    assert f.phred_evidence.startswith("qualities '#'..'i' in the whole file")
    assert read_quals(path)[-1] == low[-1].encode()


def test_lows_beyond_the_sample_fail_loudly(tmp_path):
    """Past 8 MiB the decision can be wrong, but never silently: reading as Phred+64
    meets the low byte and stops with a located error."""
    rng = random.Random(4)
    high = rand_quals(rng, 30000, "D", "i", 150)  # ~9.5 MiB
    text = fastq_text(high + ["#" * 150])
    assert len(text) > SAMPLE_BYTES
    path = write(tmp_path / "r.fq", text)
    f = inspect(path)
    assert f.phred_offset == 64
    assert "in the first 8.0 MiB" in f.phred_evidence
    with pytest.raises(FormatError) as e:
        read_quals(path)
    assert e.value.record == 30001
    assert "outside Phred+64 range" in e.value.message


def test_a_low_byte_in_the_first_mib_decides_without_reading_more(tmp_path):
    text = fastq_text(["#" + "I" * 99] + ["K" * 100] * 20000)
    path = write(tmp_path / "r.fq.gz", text)
    f = inspect(path)
    assert f.phred_offset == 33
    assert f.phred_evidence == "qualities '#'..'K' in the first 1.0 MiB"


# -- small files, explicit offsets, other formats --------------------------------------


@pytest.mark.parametrize("suffix", [".fq", ".fq.gz"])
def test_small_file_is_read_whole_even_without_final_newline(tmp_path, suffix):
    path = write(tmp_path / f"r{suffix}", b"@r1\nACGT\n+\nhhBB\n@r2\nAC\n+\nh^")
    f = inspect(path)
    assert f.phred_offset == 64
    assert f.phred_evidence == "qualities 'B'..'h' in the whole file (27 bytes), 66.7% >= '^'"
    assert read_quals(path) == [b"II##", b"I?"]  # Q = byte - 64, written + 33


def test_explicit_offset_overrides_and_says_so(tmp_path):
    path = write(tmp_path / "r.fq", fastq_text(["hhhh"]))
    f = inspect(path, 33)
    assert (f.phred_offset, f.phred_source, f.phred_evidence) == (33, "set", "Phred+33 as set")
    assert read_quals(path, 33) == [b"hhhh"]
    assert inspect(path).phred_source == "auto"


def test_non_fastq_has_no_phred_decision(tmp_path):
    path = write(tmp_path / "r.fa", b">s1\nACGT\n")
    f = inspect(path)
    assert (f.phred_source, f.phred_evidence) == (None, None)


def test_fastq_without_qualities_is_phred33(tmp_path):
    path = write(tmp_path / "r.fq", b"@r1\n\n+\n\n")
    f = inspect(path)
    assert (f.phred_offset, f.phred_evidence) == (
        33,
        "no quality bytes in the whole file (8 bytes)",
    )


# -- the vectorised quality-line finder against a plain walk ---------------------------


def walk_quality_bytes(text: bytes, complete: bool) -> bytes:
    lines = text.split(b"\n")
    if not complete or text.endswith(b"\n"):
        lines = lines[:-1]
    out = []
    i = 0
    while i + 3 < len(lines):
        if lines[i][:1] == b"@" and lines[i + 2][:1] == b"+":
            q = lines[i + 3]
            out.append(q[:-1] if q.endswith(b"\r") else q)
            i += 4
        else:
            i += 1
    return b"".join(out)


qual_text = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=30)


@st.composite
def fastq_like(draw) -> bytes:
    parts = []
    for _ in range(draw(st.integers(0, 12))):
        q = draw(qual_text)
        eol = draw(st.sampled_from(["\n", "\r\n"]))
        blank = draw(st.sampled_from(["", "", "\n"]))
        name = draw(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=8))
        plus = draw(st.sampled_from(["+", "+" + name]))
        parts.append(f"{blank}@{name}{eol}{'A' * len(q)}{eol}{plus}{eol}{q}{eol}")
    text = "".join(parts)
    cut = draw(st.integers(0, len(text)))
    return text[: len(text) - cut if draw(st.booleans()) else len(text)].encode()


@SETTINGS
@given(text=fastq_like(), complete=st.booleans())
def test_quality_bytes_match_a_line_walk(text, complete):
    assert quality_bytes(text, complete).tobytes() == walk_quality_bytes(text, complete)


# -- the decision rule as a property ---------------------------------------------------


@st.composite
def phred33_with_a_low(draw) -> list[str]:
    quals = draw(st.lists(qual_text, min_size=1, max_size=10))
    low = chr(draw(st.integers(33, 63)))
    i = draw(st.integers(0, len(quals) - 1))
    quals[i] = quals[i] + low
    return quals


@SETTINGS
@given(quals=phred33_with_a_low())
def test_any_byte_below_at_sign_means_phred33(quals):
    assert detect(quals) == 33


in_64 = st.characters(min_codepoint=64, max_codepoint=105)


@st.composite
def phred64_evidence(draw) -> list[str]:
    """Bytes in [64, 105] with at least 5% at '^' (94) or above."""
    quals = draw(st.lists(st.text(in_64, max_size=40), min_size=1, max_size=10))
    n = sum(map(len, quals))
    high = sum(q.count(c) for q in quals for c in map(chr, range(94, 106)))
    need = max(0, -(-(n - 20 * high) // 19))  # more high bytes until high >= 5% of n
    extra = draw(st.text(st.characters(min_codepoint=94, max_codepoint=105),
                         min_size=max(need, 1), max_size=max(need, 1) + 5))  # fmt: skip
    return [*quals, extra]


def detect(quals: list[str]) -> int:
    return decide_phred(quality_bytes(fastq_text(quals), True), "test")[0]


@SETTINGS
@given(quals=phred64_evidence())
def test_phred64_range_with_high_evidence_means_phred64(quals):
    assert detect(quals) == 64


@SETTINGS
@given(quals=st.lists(st.text(st.characters(min_codepoint=64, max_codepoint=93)), min_size=1))
def test_no_byte_at_q30_as_phred64_means_phred33(quals):
    assert detect(quals) == 33


@SETTINGS
@given(quals=st.lists(st.text(in_64), min_size=1), high=st.text(st.sampled_from("jz~"), min_size=1))
def test_a_byte_above_i_means_phred33(quals, high):
    assert detect([*quals, high]) == 33


# -- end to end: qc keeps an all-'K' Phred+33 file, as fastp does ----------------------


@needs_fastp
def test_qc_keeps_all_K_reads_as_fastp(tmp_path):
    rng = random.Random(5)
    n = 500
    text = "".join(
        f"@r{i}\n{''.join(rng.choice('ACGT') for _ in range(100))}\n+\n{'K' * 100}\n"
        for i in range(n)
    ).encode()
    src = write(tmp_path / "k.fq.gz", text)
    fastp = require_tool("fastp")
    subprocess.run(
        [fastp, "-i", str(src), "-o", str(tmp_path / "fp.fq"), "-j", str(tmp_path / "fp.json"),
         "-h", str(tmp_path / "fp.html"), "-w", "1"],
        check=True, capture_output=True,
    )  # fmt: skip
    fastp_passed = json.loads((tmp_path / "fp.json").read_text())["filtering_result"][
        "passed_filter_reads"
    ]
    rc = main(["qc", "-i", str(src), "-o", str(tmp_path / "sq.fq"), "-j", str(tmp_path / "sq.json"),
               "--outdir", str(tmp_path / "run"), "--runner", "local"])  # fmt: skip
    assert rc == 0
    ours = json.loads((tmp_path / "sq.json").read_text())["filtering_result"]
    assert fastp_passed == n
    assert ours["passed_filter_reads"] == fastp_passed
    assert (tmp_path / "sq.fq").read_bytes() == (tmp_path / "fp.fq").read_bytes()
