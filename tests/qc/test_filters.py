"""Filters (hand-computed and against a Python reference), and the qc stage as a whole:
accounting identity, determinism over chunking and threads, dedup, CLI and Python API."""

from __future__ import annotations

import gzip
import json
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqray.cli.main import main
from seqray.errors import ConfigError
from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline
from seqray.qc.api import run_qc
from seqray.qc.filters import (
    LOW_COMPLEXITY,
    LOW_QUALITY,
    PASSED,
    TOO_LONG,
    TOO_MANY_N,
    TOO_SHORT,
    pass_filter,
)

from ..conftest import assert_user_error
from .conftest import check_identity, fastp, needs_fastp, read_fastq, seqray_qc, write_fastq

DEFAULTS = dict(
    qual_filter=1, qualified=15 + 33, unqualified_pct=40, avg_qual=0, n_limit=5,
    len_filter=1, len_required=15, len_limit=0, complexity=0, complexity_pct=30,
)  # fmt: skip


def _filter(seq: str, qual: str, alive=True, **kw) -> int:
    p = {**DEFAULTS, **kw}
    s = np.frombuffer(seq.encode(), np.uint8)
    q = np.frombuffer(qual.encode(), np.uint8)
    return pass_filter(s, q, 0, len(seq), alive, *p.values())


def ref_filter(seq, qual, qualified, unq, avg, nlim, lreq, llim, cx, cxp):
    """fastp's passFilter, written from its definition (all filters on)."""
    n = len(seq)
    if n == 0:
        return TOO_SHORT
    phred = [ord(c) - 33 for c in qual]
    if sum(q < qualified - 33 for q in phred) > unq * n / 100:
        return LOW_QUALITY
    if avg and sum(phred) // n < avg:
        return LOW_QUALITY
    if seq.count("N") > nlim:
        return TOO_MANY_N
    if n < lreq:
        return TOO_SHORT
    if llim and n > llim:
        return TOO_LONG
    if cx:
        diff = sum(a != b for a, b in zip(seq, seq[1:]))
        if n <= 1 or not diff / (n - 1) >= cxp / 100:
            return LOW_COMPLEXITY
    return PASSED


def test_hand_computed_filters():
    good = "I" * 20
    assert _filter("ACGT" * 5, good) == PASSED
    # 8 of 20 bases below Q15 is exactly 40 %: not more than the limit
    assert _filter("ACGT" * 5, "#" * 8 + "I" * 12) == PASSED
    assert _filter("ACGT" * 5, "#" * 9 + "I" * 11) == LOW_QUALITY
    # integer mean quality: (40*19 + 2) // 20 = 38
    assert _filter("ACGT" * 5, "I" * 19 + "#", avg_qual=38) == PASSED
    assert _filter("ACGT" * 5, "I" * 19 + "#", avg_qual=39) == LOW_QUALITY
    assert _filter("NNNNNNACGTACGTACGTAC", good) == TOO_MANY_N
    assert _filter("NNNNNACGTACGTACGTACG", good) == PASSED
    assert _filter("ACGT" * 3, "I" * 12) == TOO_SHORT
    assert _filter("ACGT" * 5, good, len_limit=19) == TOO_LONG
    # low quality wins over N and length: the first failing check is the reason
    assert _filter("NNNNNNNN", "########") == LOW_QUALITY
    # 6 of 19 adjacent pairs differ = 31.6 % ≥ 30 %: passes; 5 of 19 = 26.3 % fails
    assert _filter("AACCGGTTAACCAAAAAAAA", good, complexity=1) == PASSED
    assert _filter("AACCGGTTAACCCCCCCCCC", good, complexity=1) == LOW_COMPLEXITY
    # trimmed away or empty: too short even with length filtering off
    assert _filter("", "", len_filter=0) == TOO_SHORT
    assert _filter("ACGT" * 5, good, alive=False) == TOO_SHORT


@settings(max_examples=500, deadline=None)
@given(
    st.text("ACGTN", max_size=40),
    st.data(),
    st.integers(0, 40),
    st.integers(0, 100),
    st.integers(0, 40),
    st.integers(0, 6),
    st.integers(0, 30),
    st.integers(0, 40),
    st.integers(0, 100),
)
def test_filter_matches_reference(seq, data, q, unq, avg, nlim, lreq, llim, cxp):
    qual = data.draw(st.text("#+05:?DIJ", min_size=len(seq), max_size=len(seq)))
    got = _filter(
        seq, qual, qualified=q + 33, unqualified_pct=unq, avg_qual=avg, n_limit=nlim,
        len_required=lreq, len_limit=llim, complexity=1, complexity_pct=cxp,
    )  # fmt: skip
    assert got == ref_filter(seq, qual, q + 33, unq, avg, nlim, lreq, llim, 1, cxp)


# -- the stage --------------------------------------------------------------------------


def _reads(n: int, seed: int, dup_every: int = 0):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if dup_every and i % dup_every == dup_every - 1:
            s = out[rng.randrange(len(out))][1]
        else:
            s = "".join(rng.choice("ACGTTGCAN" if rng.random() < 0.1 else "ACGT")
                        for _ in range(rng.randint(0, 120)))  # fmt: skip
        q = "".join(rng.choice("##5?IIIII") for _ in s)
        out.append((f"r{i}", s, q))
    return out


QC = {"trim_poly_x": True, "cut_tail": True, "length_required": 30, "trim_poly_g": False}


def test_same_output_whatever_chunking_and_threads(tmp_path):
    src = write_fastq(tmp_path / "r.fq", _reads(3000, 1))
    runs = []
    for i, run in enumerate([{}, {"chunk_bytes": 20000, "block_bases": 3000, "num_cpus": 2}]):
        report, out, _ = seqray_qc(tmp_path / str(i), src, None, QC, run=run)
        check_identity(report)
        runs.append((out, {k: v for k, v in report.items() if k != "files"}))
    assert runs[0] == runs[1]
    assert 0 < runs[0][1]["passed_filter_reads"] < 3000


@pytest.mark.integration  # fastp --dedup: seconds and gigabytes for its Bloom filter
@needs_fastp
def test_dedup_keeps_fastps_reads_and_counts_duplicates_apart(tmp_path):
    src = write_fastq(tmp_path / "r.fq", _reads(4000, 2, dup_every=3))
    qc = {**QC, "dedup": True, "json_report": str(tmp_path / "sq.json")}
    report, got, _ = seqray_qc(tmp_path, src, None, qc, run={"chunk_bytes": 30000})
    check_identity(report)
    args = ["-A", "-G", "-x", "-3", "-l", "30", "--dedup"]
    want_counts, want, _ = fastp(tmp_path / "fp", src, None, args)
    assert got == want
    # "before filtering" is every raw read, duplicates included; "after" what was written
    ours = json.loads((tmp_path / "sq.json").read_text())["summary"]
    theirs = json.loads((tmp_path / "fp" / "fp.json").read_text())["summary"]
    for part in ("before_filtering", "after_filtering"):
        assert ours[part] == theirs[part]
    assert report["duplicated_reads"] > 1000
    # fastp counts a duplicate under its own filter result (as if not removed), seqray
    # under duplicated: fastp's counts with --dedup are seqray's without
    plain, _, _ = seqray_qc(tmp_path / "plain", src, None, QC)
    assert {k: plain[k] for k in want_counts} == want_counts


def test_cli_fastp_flags_gzip_output_and_accounting(tmp_path, capsys):
    r1 = write_fastq(tmp_path / "r1.fq", _reads(500, 3))
    comp = str.maketrans("ACGTN", "TGCAN")
    r2 = write_fastq(
        tmp_path / "r2.fq", [(n, s.translate(comp)[::-1], q[::-1]) for n, s, q in _reads(500, 3)]
    )
    o1, o2 = tmp_path / "o1.fq.gz", tmp_path / "o2.fq.gz"
    argv = ["qc", "-i", str(r1), "-I", str(r2), "-o", str(o1), "-O", str(o2), "-G", "-5"]
    argv += ["-l", "20", "-w", "1", "--outdir", str(tmp_path / "run")]
    assert main(argv) == 0
    n1, n2 = read_fastq(o1), read_fastq(o2)
    assert len(n1) == len(n2) > 0
    assert [a[0] for a in n1] == [b[0] for b in n2]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    report = manifest["reports"]["qc"]
    check_identity(report)
    assert report["passed_filter_reads"] == 2 * len(n1)
    with gzip.open(o1, "rt") as f:
        assert f.readline().startswith("@r")
    # usage errors exit 2
    capsys.readouterr()
    assert main(["qc", "-i", str(r1), "-g", "-G"]) == 2
    assert_user_error(capsys.readouterr().err, "'-g' / '-G'", "-g and -G exclude each other")


def test_api_and_bad_input(tmp_path, capsys):
    src = write_fastq(tmp_path / "r.fq", _reads(200, 4))
    report = run_qc(str(src), out1=str(tmp_path / "o.fq"), outdir=str(tmp_path / "run"),
                    trim_poly_g=False, average_qual=30)  # fmt: skip
    check_identity(report)
    assert report["low_quality_reads"] > 0
    assert len(read_fastq(tmp_path / "o.fq")) == report["passed_filter_reads"]
    fasta = tmp_path / "r.fa"
    fasta.write_text(">a\nACGT\n")
    assert main(["qc", "-i", str(fasta), "--outdir", str(tmp_path / "fa")]) == 1
    assert_user_error(capsys.readouterr().err, f"{fasta}: qc needs qualities")
    with pytest.raises(ConfigError, match="adapter_sequence"):
        run_qc(str(src), outdir=str(tmp_path / "x"), adapter_sequence="ACGU")


@pytest.mark.integration
def test_ray_runner_writes_the_local_runners_bytes(tmp_path, ray_cluster):
    """Split plain input, dedup and poly-G auto-detection (prepare passes) on both runners."""
    src = write_fastq(tmp_path / "r.fq", _reads(3000, 5, dup_every=4))
    qc = {**QC, "trim_poly_g": None, "dedup": True}
    run = {"chunk_bytes": 40000, "block_bases": 5000}
    local, out_local, _ = seqray_qc(tmp_path / "local", src, None, qc, run=run)
    cfg = parse_config(
        {
            "output": str(tmp_path / "ray"),
            "run": run,
            "stages": [
                {"read": {"paths": [str(src)], "phred_offset": 33}},
                {"qc": qc},
                {"write": {"format": "fastq", "compression": "none"}},
            ],
        }
    )
    remote = run_pipeline(cfg, runner="ray").reports["qc"]
    check_identity(remote)
    assert remote == local
    assert read_fastq(tmp_path / "ray" / "reads.fastq") == out_local
    assert local["duplicated_reads"] > 0
