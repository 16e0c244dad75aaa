"""QcProfile against fastp 0.23.2's JSON (same reads), a pure-Python tally, and itself
(merge order, batch sizes, JSON round trip)."""

from __future__ import annotations

import gzip
import json
import random
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqray.errors import SeqrayError
from seqray.io.parse import ReadOptions
from seqray.io.readers import open_chunk
from seqray.io.sources import plan_chunks
from seqray.qc.profile import QcProfile
from seqray.qc.report_json import fastp_report, report_bytes

from ..peers import require_tool

needs_fastp = pytest.mark.peers("fastp")

# fields fastp writes that a bare profile does not have (`overrepresented_sequences` needs
# the qc stage's candidates: tests/qc/test_report_sections.py)
NOT_COMPARED = {"overrepresented_sequences", "fastp_version"}


def profiles_of(r1: Path, r2: Path | None = None, block_bases: int | None = None):
    """[read1] or [read1, read2] profiles of files read by seqray's own reader."""
    chunks, _ = plan_chunks([str(r1)], [str(r2)] if r2 else None)
    options = ReadOptions(block_bases=block_bases) if block_bases else ReadOptions()
    ps = [QcProfile() for _ in range(2 if r2 else 1)]
    for ch in chunks:
        for t in open_chunk(ch, options):
            ps[0].add(t.column("seq"), t.column("qual"))
            if r2:
                ps[1].add(t.column("seq2"), t.column("qual2"))
    return ps


def run_fastp(out: Path, r1: Path, r2: Path | None = None, *args: str) -> dict:
    cmd = [
        require_tool("fastp"),
        "-i",
        str(r1),
        "-w",
        "1",
        "-j",
        str(out),
        "-h",
        str(out.with_suffix(".html")),
    ]
    if r2:
        cmd += ["-I", str(r2)]
    subprocess.run(cmd + list(args), check=True, capture_output=True)
    return json.loads(out.read_text())


def phred64_to_33(src: Path, dst: Path) -> Path:
    """Phred+64 → Phred+33 (quality lines only), independent of seqray's reader."""
    lines = gzip.open(src, "rb").read().split(b"\n")
    shift = bytes((max(b - 31, 33) if b >= 64 else b) for b in range(256))
    for i in range(3, len(lines), 4):
        lines[i] = lines[i].translate(shift)
    dst.write_bytes(b"\n".join(lines))
    return dst


def variable_length_fastq(src: Path, dst: Path, seed: int = 7) -> Path:
    """phiX reads cut to varied lengths (0 to 151), with N (Q2) and lower-case bases."""
    rng = random.Random(seed)
    lines = gzip.open(src, "rt").read().split("\n")
    out = []
    for i in range(0, len(lines) - 3, 4):
        choice = rng.choice([0, 1, 5, 35, 75, 100, 149, 150, 151])
        n = choice if rng.random() < 0.5 else rng.randint(1, 150)
        s, q = list((lines[i + 1] * 2)[:n]), list((lines[i + 3] * 2)[:n])
        for j in range(n):
            if rng.random() < 0.02:
                s[j], q[j] = "N", "#"
            elif rng.random() < 0.01:
                s[j] = s[j].lower()
        out += [lines[i], "".join(s), "+", "".join(q)]
    dst.write_text("\n".join(out) + "\n")
    return dst


def assert_matches_fastp(ours, theirs, path: str = "", skip=NOT_COMPARED) -> None:
    """Every key fastp writes (except `skip`) is present and equal."""
    if isinstance(theirs, dict):
        for k, v in theirs.items():
            if k in skip:
                continue
            assert k in ours, f"{path}.{k} missing"
            assert_matches_fastp(ours[k], v, f"{path}.{k}", skip)
    else:
        assert ours == theirs, path


def seqray_report(before, after=None) -> dict:
    report = fastp_report(before, after or before, {}, None, "seqray qc")
    return json.loads(report_bytes(report))


@pytest.fixture(scope="module")
def parity_inputs(tmp_path_factory, examples):
    d = tmp_path_factory.mktemp("parity")
    real33 = [
        phred64_to_33(examples / f"real_R{m}.fastq.gz", d / f"real33_R{m}.fq") for m in (1, 2)
    ]
    return {
        "phix-se": (examples / "phix_R1.fastq.gz", None),
        "phix-pe": (examples / "phix_R1.fastq.gz", examples / "phix_R2.fastq.gz"),
        "real-pe": tuple(real33),
        "varlen-se": (variable_length_fastq(examples / "phix_R1.fastq.gz", d / "var.fq"), None),
    }


@needs_fastp
@pytest.mark.integration
@pytest.mark.parametrize("name", ["phix-se", "phix-pe", "real-pe", "varlen-se"])
def test_raw_reads_equal_fastp(name, parity_inputs, tmp_path, examples):
    r1, r2 = parity_inputs[name]
    fp = run_fastp(tmp_path / "fastp.json", r1, r2, "-A", "-G", "-Q", "-L")
    # seqray reads the original Phred+64 real reads itself (stored as Phred+33)
    ours = profiles_of(
        *(
            (examples / "real_R1.fastq.gz", examples / "real_R2.fastq.gz")
            if name == "real-pe"
            else (r1, r2)
        )
    )
    report = seqray_report(ours)
    assert_matches_fastp(report["summary"]["before_filtering"], fp["summary"]["before_filtering"])
    assert report["summary"]["sequencing"] == fp["summary"]["sequencing"]
    # seqray's reader upper-cases bases; fastp leaves a lower-case base out of its 5-mers
    skip = NOT_COMPARED | {"kmer_count"} if name == "varlen-se" else NOT_COMPARED
    for m in range(1, len(ours) + 1):
        key = f"read{m}_before_filtering"
        assert_matches_fastp(report[key], fp[key], key, skip)
    if name != "varlen-se":
        # nothing trimmed or filtered: fastp's after == before == ours
        assert_matches_fastp(report["summary"]["after_filtering"], fp["summary"]["after_filtering"])
        for m in range(1, len(ours) + 1):
            key = f"read{m}_after_filtering"
            assert_matches_fastp(report[key], fp[key], key, skip)


@needs_fastp
@pytest.mark.integration
def test_after_filtering_equals_fastp_without_empty_reads(parity_inputs, tmp_path):
    """Even with -L fastp drops empty reads (too_short); the profile of the others is its
    after_filtering."""
    r1, _ = parity_inputs["varlen-se"]
    fp = run_fastp(tmp_path / "fastp.json", r1, None, "-A", "-G", "-Q", "-L")
    kept = QcProfile()
    chunks, _ = plan_chunks([str(r1)])
    for t in open_chunk(chunks[0]):
        keep = pa.compute.greater(pa.compute.binary_length(t.column("seq")), 0)
        t = t.filter(keep)
        kept.add(t.column("seq"), t.column("qual"))
    assert fp["filtering_result"]["too_short_reads"] > 0
    report = seqray_report(profiles_of(r1), [kept])
    assert_matches_fastp(report["summary"]["after_filtering"], fp["summary"]["after_filtering"])
    skip = NOT_COMPARED | {"kmer_count"}  # lower-case bases (see test_raw_reads_equal_fastp)
    assert_matches_fastp(report["read1_after_filtering"], fp["read1_after_filtering"], "", skip)


# -- against a plain Python tally ------------------------------------------------------------

SLOT = {"A": 0, "C": 1, "G": 2, "T": 3, "N": 4}


def python_tally(reads: list[tuple[bytes, bytes]]) -> dict:
    longest = max((len(s) for s, _ in reads), default=0)
    counts = [[0] * 6 for _ in range(longest)]
    quals = [[0] * 6 for _ in range(longest)]
    lengths = [0] * (longest + 1) if reads else []
    qhist = [0] * 94
    kmers = [0] * 1024
    code = {"A": 0, "T": 1, "C": 2, "G": 3}  # fastp's 2-bit code
    for s, _ in reads:
        text = s.decode()
        for i in range(len(text) - 4):
            if all(b in code for b in text[i : i + 5]):
                kmers[sum(code[b] << 2 * (4 - j) for j, b in enumerate(text[i : i + 5]))] += 1
    for s, q in reads:
        lengths[len(s)] += 1
        for i, (b, c) in enumerate(zip(s.decode(), q)):
            k = SLOT.get(b, 5)
            counts[i][k] += 1
            quals[i][k] += c - 33
            qhist[c - 33] += 1
    return {
        "reads": len(reads),
        "has_qual": bool(reads),
        "slots": ["A", "C", "G", "T", "N", "other"],
        "cycle_counts": counts,
        "cycle_qual": quals,
        "length_hist": lengths,
        "qual_hist": qhist,
        "kmers": kmers,
    }


def batch(reads: list[tuple[bytes, bytes]]) -> tuple[pa.Array, pa.Array]:
    return (
        pa.array([s for s, _ in reads], pa.large_binary()),
        pa.array([q for _, q in reads], pa.large_binary()),
    )


read_st = st.integers(0, 40).flatmap(
    lambda n: st.tuples(
        st.binary(min_size=n, max_size=n).map(lambda b: bytes(b"ACGTNR"[x % 6] for x in b)),
        st.binary(min_size=n, max_size=n).map(lambda b: bytes(33 + x % 94 for x in b)),
    )
)


@settings(max_examples=60, deadline=None)
@given(st.lists(read_st, max_size=30), st.lists(st.integers(0, 30), max_size=4))
def test_profile_equals_python_tally_in_any_batching(reads, cuts):
    bounds = sorted({0, len(reads), *(min(c, len(reads)) for c in cuts)})
    parts = []
    for a, b in zip(bounds, bounds[1:]):
        p = QcProfile()
        p.add(*batch(reads[a:b]))
        parts.append(p)
    merged = QcProfile()
    for p in reversed(parts):  # merge order does not matter
        merged += p
    expected = python_tally(reads)
    assert merged.to_json() == expected
    assert QcProfile.from_json(json.loads(json.dumps(merged.to_json()))) == merged
    assert merged.total_bases == sum(len(s) for s, _ in reads)
    assert merged.q30_bases == sum(c >= 63 for _, q in reads for c in q)
    assert merged.gc_bases == sum(s.count(b"G") + s.count(b"C") for s, _ in reads)


def test_batch_size_does_not_change_profile(examples):
    r1, r2 = examples / "phix_R1.fastq.gz", examples / "phix_R2.fastq.gz"
    whole = profiles_of(r1, r2)
    small = profiles_of(r1, r2, block_bases=7_000)
    assert [p.to_json() for p in whole] == [p.to_json() for p in small]


def test_hand_computed_curves():
    p = QcProfile()
    p.add(*batch([(b"ACGN", b"I5+#"), (b"AC", b"5I")]))
    # cycle 0: A Q40, A Q20; cycle 1: C Q20, C Q40; cycle 2: G Q10; cycle 3: N Q2
    assert p.total_cycles == 4 and p.total_bases == 6 and p.mean_length == 3
    assert (p.q20_bases, p.q30_bases, p.gc_bases) == (4, 2, 3)
    q = p.quality_curves()
    assert q["A"].tolist() == [30.0, 30.0, 10.0, 2.0]  # no A after cycle 0: the mean
    assert q["mean"].tolist() == [30.0, 30.0, 10.0, 2.0]
    c = p.content_curves()
    assert c["GC"].tolist() == [0.0, 1.0, 1.0, 0.0]
    assert c["N"].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert p.length_hist.tolist() == [0, 0, 1, 0, 1]


def test_fasta_reads_have_no_quality():
    p = QcProfile()
    seqs = pa.array([b"ACGT", b"GG"], pa.large_binary())
    p.add(seqs, pa.nulls(2, pa.large_binary()))
    p.add(seqs, None)
    assert not p.has_qual and p.total_bases == 12 and p.q20_bases == 0
    section = seqray_report([p])["read1_before_filtering"]
    assert "quality_curves" not in section and section["content_curves"]["GC"] == [
        0.5,
        1.0,
        1.0,
        0.0,
    ]


def test_bad_batches_are_refused():
    p = QcProfile()
    with pytest.raises(SeqrayError, match="lengths differ"):
        p.add(*batch([(b"ACGT", b"III")]))
    with pytest.raises(SeqrayError, match="some reads have a quality"):
        p.add(
            pa.array([b"A", b"C"], pa.large_binary()),
            pa.array([b"I", None], pa.large_binary()),
        )
    with pytest.raises(SeqrayError, match="Phred"):
        p.add(*batch([(b"A", b"\x1f")]))
    assert p.to_json() == QcProfile().to_json()  # a refused batch adds nothing


def test_growth_keeps_earlier_tallies():
    p = QcProfile()
    p.add(*batch([(b"AC", b"II")]))
    p.add(*batch([(b"ACGTACGT", b"IIIIIIII")]))
    assert p.cycle_counts[:, 0].tolist() == [2, 0, 0, 0, 1, 0, 0, 0]
    assert np.array_equal(p.length_hist, [0, 0, 1, 0, 0, 0, 0, 0, 1])
