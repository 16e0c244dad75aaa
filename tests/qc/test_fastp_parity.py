"""Parity with the fastp binary (Debian's 0.23.2): the same options on the same reads give
the same per-reason counts and the same passed reads (names, sequences, qualities).

First each filter alone, then each trimming option alone, then combinations; single- and
paired-end; real reads from Debian packages (seqprep-data Phred+64 HiSeq pairs,
gasic-examples, velvet-tests Phred+64 pairs, fastp's own examples with an empty read) and
simulated phiX pairs. fastp gets the reads as seqray sees them (`.` as N, Phred+33; see
`fastp_input`); seqray reads Phred+64 originals with `phred_offset: 64` (fastp's `-6`).
fastp's polyG auto-detection and SE adapter auto-detection are pinned (-G/-g, -A/-a).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import (
    EXAMPLES,
    check_identity,
    debian_file,
    fastp,
    fastp_input,
    needs_fastp,
    seqprep_slices,
    seqray_qc,
    slice_fastq,
)

pytestmark = [needs_fastp, pytest.mark.integration]
ADAPTER = "AGATCGGAAGAGCACACGTCTGAACTCCAGTCA"
SLICE = 20000  # reads per real-data file: enough for every reason to occur

# (id, fastp flags, seqray qc config); polyG and adapters pinned unless under test
NO_TRIM = (["-G", "-A"], {"trim_poly_g": False, "disable_adapter_trimming": True})
FILTERS = [
    ("defaults", [], {}),
    (
        "q20-u10",
        ["-q", "20", "-u", "10"],
        {"qualified_quality_phred": 20, "unqualified_percent_limit": 10},
    ),
    ("n0", ["-n", "0"], {"n_base_limit": 0}),
    ("e28", ["-e", "28"], {"average_qual": 28}),
    ("l90", ["-l", "90"], {"length_required": 90}),
    ("length_limit", ["--length_limit", "80"], {"length_limit": 80}),
    ("y-Y50", ["-y", "-Y", "50"], {"low_complexity_filter": True, "complexity_threshold": 50}),
    (
        "no-filters",
        ["-Q", "-L"],
        {"disable_quality_filtering": True, "disable_length_filtering": True},
    ),
]
TRIMS = [
    ("f-t", ["-f", "7", "-t", "4"], {"trim_front1": 7, "trim_tail1": 4}),
    ("cut_front", ["-5"], {"cut_front": True}),
    (
        "cut_tail",
        ["-3", "-W", "6", "-M", "25"],
        {"cut_tail": True, "cut_window_size": 6, "cut_mean_quality": 25},
    ),
    ("cut_right", ["-r"], {"cut_right": True}),
    (
        "cut_front_tail_f",
        ["-5", "-3", "-f", "3", "-t", "2"],
        {"cut_front": True, "cut_tail": True, "trim_front1": 3, "trim_tail1": 2},
    ),
    ("poly_x", ["-x"], {"trim_poly_x": True}),
    ("max_len", ["-b", "60"], {"max_len1": 60}),
]
POLY_G = ("poly_g", ["-g", "-A"], {"trim_poly_g": True, "disable_adapter_trimming": True})
SE_ADAPTER = ("adapter", ["-G", "-a", ADAPTER], {"trim_poly_g": False, "adapter_sequence": ADAPTER})
COMBINED = (
    "combined",
    ["-g", "-x", "-5", "-3", "-y", "-e", "20", "-a", ADAPTER],
    {
        "trim_poly_g": True,
        "trim_poly_x": True,
        "cut_front": True,
        "cut_tail": True,
        "low_complexity_filter": True,
        "average_qual": 20,
        "adapter_sequence": ADAPTER,
    },
)


def _pinned(case):
    name, args, qc = case
    if name in ("poly_g", "adapter", "combined"):
        return name, args, qc
    return name, NO_TRIM[0] + args, {**NO_TRIM[1], **qc}


SE_CASES = [_pinned(c) for c in FILTERS + TRIMS + [POLY_G, SE_ADAPTER, COMBINED]]
PE_TRIMS = [
    ("overlap_only", ["-G"], {"trim_poly_g": False}),
    (
        "overlap_f_F",
        ["-G", "-f", "2", "-F", "5", "-t", "1"],
        {"trim_poly_g": False, "trim_front1": 2, "trim_front2": 5, "trim_tail1": 1},
    ),
    (
        "overlap_and_adapter",
        ["-G", "-a", ADAPTER],
        {"trim_poly_g": False, "adapter_sequence": ADAPTER},
    ),
]
PE_CASES = [_pinned(c) for c in FILTERS[:1] + TRIMS + [POLY_G]] + PE_TRIMS + [COMBINED]


@pytest.fixture(scope="module")
def seqprep(tmp_path_factory):
    """(seqray input R1, R2 Phred+64 originals; fastp input R1, R2)."""
    d = tmp_path_factory.mktemp("seqprep")
    return seqprep_slices(d, SLICE)


@pytest.fixture(scope="module")
def gasic(tmp_path_factory):
    d = tmp_path_factory.mktemp("gasic")
    member = "usr/share/doc/gasic/examples/reads/SRR059298_subset.fastq.gz"
    raw = slice_fastq(debian_file("gasic-examples", member), d / "g.fq.gz", SLICE)
    return raw, fastp_input(raw, d / "fp.fq")


def _compare(tmp: Path, seqray_in, fastp_in, args, qc, phred=33):
    r1, r2 = seqray_in
    f1, f2 = fastp_in
    want, want1, want2 = fastp(tmp / "fastp", f1, f2, args)
    report, got1, got2 = seqray_qc(tmp, r1, r2, qc, phred)
    check_identity(report)
    assert {k: report[k] for k in want} == want
    assert got1 == want1
    assert got2 == want2
    return report


@pytest.mark.parametrize("case", SE_CASES, ids=[c[0] for c in SE_CASES])
def test_single_end_real_phred64(tmp_path, seqprep, case):
    raw, conv = seqprep
    _compare(tmp_path, (raw[0], None), (conv[0], None), case[1], case[2], phred=64)


@pytest.mark.parametrize("case", PE_CASES, ids=[c[0] for c in PE_CASES])
def test_paired_end_real_phred64(tmp_path, seqprep, case):
    raw, conv = seqprep
    _compare(tmp_path, raw, conv, case[1], case[2], phred=64)


@pytest.mark.parametrize(
    "case", [SE_CASES[0], _pinned(TRIMS[1]), COMBINED], ids=["defaults", "cut_front", "combined"]
)
def test_single_end_gasic(tmp_path, gasic, case):
    raw, conv = gasic
    _compare(tmp_path, (raw, None), (conv, None), case[1], case[2])


@pytest.mark.parametrize("case", [PE_CASES[0], COMBINED], ids=["defaults", "combined"])
def test_paired_end_simulated_phix(tmp_path, case):
    pair = (EXAMPLES / "phix_R1.fastq.gz", EXAMPLES / "phix_R2.fastq.gz")
    _compare(tmp_path, pair, pair, case[1], case[2])


def test_fastp_examples_with_an_empty_read(tmp_path):
    """fastp's own example pairs: an empty read is too short, with fastp's default options
    (its SE adapter auto-detection finds nothing in them)."""
    member = "usr/share/doc/fastp/examples/R{}.fq"
    pair = tuple(debian_file("fastp", member.format(i)) for i in (1, 2))
    report = _compare(tmp_path / "se", (pair[0], None), (pair[0], None), [], {})
    assert report["too_short_reads"] == 1
    report = _compare(tmp_path / "pe", pair, pair, [], {})
    assert report["too_short_reads"] == 2


def test_velvet_phred64_pairs(tmp_path):
    d = "usr/share/doc/velvet/tests/read{}.fq.gz"
    raw = tuple(
        slice_fastq(debian_file("velvet-tests", d.format(i)), tmp_path / f"v{i}.fq.gz", 5000)
        for i in (1, 2)
    )
    conv = tuple(fastp_input(r, tmp_path / f"fp{i}.fq", phred64=True) for i, r in enumerate(raw))
    report = _compare(tmp_path, raw, conv, [], {}, phred=64)
    assert report["too_many_N_reads"] > 0 and report["low_quality_reads"] > 0


def test_json_report_summary_matches_fastp(tmp_path, seqprep):
    """The JSON report (helper module report_json) on fastp's numbers: summary before and
    after filtering, filtering result and per-cycle curves equal fastp's own JSON."""
    raw, conv = seqprep
    fastp(tmp_path / "fastp", conv[0], conv[1], ["-G"])
    ours = tmp_path / "seqray.json"
    seqray_qc(tmp_path, raw[0], raw[1], {"trim_poly_g": False, "json_report": str(ours)}, 64)
    want = json.loads((tmp_path / "fastp" / "fp.json").read_text())
    got = json.loads(ours.read_text())
    for key in ("before_filtering", "after_filtering"):
        assert got["summary"][key] == want["summary"][key]
    assert got["filtering_result"] == want["filtering_result"]
    for mate in ("read1", "read2"):
        for stage in ("before", "after"):
            sec = f"{mate}_{stage}_filtering"
            for field in ("total_reads", "total_bases", "quality_curves", "content_curves"):
                assert got[sec][field] == want[sec][field], (sec, field)
