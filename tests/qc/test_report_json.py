"""The fastp-structured JSON report: structure, fastp's rounding, atomic writes (local and
S3), and MultiQC's fastp module reading it."""

from __future__ import annotations

import ast
import gzip
import json
import subprocess
import sys

import numpy as np
import pytest

from seqray import __version__
from seqray.qc.profile import QcProfile
from seqray.qc.report_json import fastp_float, fastp_report, report_bytes, write_json_report
from tests.peers import require_module
from tests.qc.test_profile import batch, profiles_of

FILTERING = {
    "passed_filter_reads": 1900,
    "low_quality_reads": 60,
    "too_many_N_reads": 25,
    "too_short_reads": 15,
    "too_long_reads": 0,
}


@pytest.fixture(scope="module")
def pe_profiles(examples):
    return profiles_of(examples / "phix_R1.fastq.gz", examples / "phix_R2.fastq.gz")


def test_fastp_float_rounds_like_cpp_streams():
    # C++ `ostream << double`: %g with 6 significant digits
    assert fastp_float(293906 / 300000) == 0.979687
    assert fastp_float(2 / 3) == 0.666667
    assert fastp_float(37.0) == 37.0
    assert fastp_float(1 / 70000) == 1.42857e-05
    assert fastp_float(123456789.0) == 1.23457e08


def _quality_lines(path) -> list[bytes]:
    return gzip.decompress(path.read_bytes()).split(b"\n")[3::4]


def _sequence_lines(examples) -> list[bytes]:
    return [
        line
        for m in (1, 2)
        for line in gzip.decompress((examples / f"phix_R{m}.fastq.gz").read_bytes()).split(b"\n")[
            1::4
        ]
    ]


def test_report_structure_paired(pe_profiles, examples):
    r1, r2 = pe_profiles
    after = [QcProfile(), QcProfile()]
    after[0] += r1
    after[1] += r2
    report = fastp_report(
        pe_profiles, after, FILTERING, 0.0123456, "seqray qc -i a -I b", {"seqray": {"n": 1}}
    )
    assert list(report) == [
        "summary",
        "filtering_result",
        "duplication",
        "seqray",
        "read1_before_filtering",
        "read2_before_filtering",
        "read1_after_filtering",
        "read2_after_filtering",
        "command",
    ]
    s = report["summary"]
    assert s["fastp_version"] == f"seqray {__version__}"
    assert s["sequencing"] == "paired end (150 cycles + 150 cycles)"
    b = s["before_filtering"]
    assert b["total_reads"] == r1.total_reads + r2.total_reads == 4000
    assert b["total_bases"] == 600000
    # the rates from the files themselves, read here with gzip and counted in plain Python;
    # fastp prints a double with 6 significant digits (%g)
    quals = _quality_lines(examples / "phix_R1.fastq.gz") + _quality_lines(
        examples / "phix_R2.fastq.gz"
    )
    for q in (20, 30):
        bases = sum(sum(c - 33 >= q for c in line) for line in quals)
        assert b[f"q{q}_bases"] == bases
        assert b[f"q{q}_rate"] == float(f"{bases / 600000:.6g}")
    gc = sum(line.count(b"G") + line.count(b"C") for line in _sequence_lines(examples))
    assert b["gc_content"] == float(f"{gc / 600000:.6g}")
    assert (b["read1_mean_length"], b["read2_mean_length"]) == (150, 150)
    assert report["duplication"] == {"rate": 0.0123456}
    assert report["filtering_result"] == FILTERING
    sec = report["read2_before_filtering"]
    assert list(sec["quality_curves"]) == ["A", "T", "C", "G", "mean"]
    assert list(sec["content_curves"]) == ["A", "T", "C", "G", "N", "GC"]
    assert all(len(v) == 150 for v in sec["content_curves"].values())
    assert sec["length_histogram"] == {"150": 2000}
    assert sum(sec["quality_histogram"]) == sec["total_bases"]
    assert sum(sec["quality_histogram"][20:]) == sec["q20_bases"]


def test_single_end_and_no_duplication():
    p = QcProfile()
    p.add(*batch([(b"ACGT", b"IIII"), (b"ACG", b"III")]))
    report = fastp_report([p], [p], {}, None, "seqray qc")
    assert "duplication" not in report
    assert report["summary"]["sequencing"] == "single end (4 cycles)"
    assert "read2_mean_length" not in report["summary"]["before_filtering"]
    assert report["summary"]["before_filtering"]["read1_mean_length"] == 3  # 7 // 2


def test_empty_input_has_zero_rates():
    report = fastp_report([QcProfile()], [QcProfile()], {}, 0.0, "seqray qc")
    assert report["summary"]["before_filtering"]["q30_rate"] == 0.0
    assert report["read1_before_filtering"]["total_cycles"] == 0
    json.loads(report_bytes(report))  # no NaN


def test_numpy_counters_serialise():
    p = QcProfile()
    report = fastp_report([p], [p], {"passed_filter_reads": np.int64(3)}, None, "c")
    text = report_bytes(report).decode()
    assert json.loads(text)["filtering_result"] == {"passed_filter_reads": 3}


def test_extra_cannot_replace_fastp_keys():
    p = QcProfile()
    for key in ("summary", "command", "read1_before_filtering", "duplication"):
        with pytest.raises(ValueError, match="replace"):
            fastp_report([p], [p], {}, 0.5, "c", {key: 1})
    with pytest.raises(ValueError):
        fastp_report([p], [p, p], {}, None, "c")


def test_written_json_is_found_by_multiqc_pattern(pe_profiles, tmp_path):
    report = fastp_report(pe_profiles, pe_profiles, FILTERING, None, "seqray qc")
    uri = str(tmp_path / "sub" / "qc.json")
    write_json_report(report, uri)
    text = (tmp_path / "sub" / "qc.json").read_text()
    # MultiQC's search pattern for fastp: this text in the first 50 lines
    assert any('"before_filtering": {' in line for line in text.splitlines()[:50])
    assert json.loads(text) == json.loads(json.dumps(report))
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["qc.json"]  # no temp left


@pytest.mark.integration
def test_write_to_s3(pe_profiles, s3_env):
    client, bucket, _ = s3_env
    report = fastp_report(pe_profiles, pe_profiles, FILTERING, 0.01, "seqray qc")
    write_json_report(report, f"s3://{bucket}/run/qc.json")
    body = client.get_object(Bucket=bucket, Key="run/qc.json")["Body"].read()
    assert json.loads(body) == json.loads(report_bytes(report))
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert "run/qc.json" in keys and not [k for k in keys if ".tmp-" in k]


@pytest.mark.integration
def test_multiqc_reads_report_as_fastp(pe_profiles, tmp_path):
    # MultiQC is in the test extras (not a seqray dependency)
    require_module("multiqc")
    r1, r2 = pe_profiles
    after = [QcProfile(), QcProfile()]
    after[0] += r1
    after[1] += r2
    cmd = "seqray qc -i sampleA_R1.fastq.gz -I sampleA_R2.fastq.gz -o out"
    report = fastp_report(pe_profiles, after, FILTERING, 0.0125, cmd)
    write_json_report(report, str(tmp_path / "in" / "sampleA.json"))
    out = tmp_path / "mqc"
    subprocess.run(
        [sys.executable, "-m", "multiqc", str(tmp_path / "in"), "-o", str(out), "-f", "-q"]
        + ["--no-report", "--no-version-check", "--no-ai"],
        check=True,
        capture_output=True,
    )
    data = json.loads((out / "multiqc_data" / "multiqc_data.json").read_text())
    stats = data["report_general_stats_data"]["fastp"]
    assert list(stats) == ["sampleA"]  # a fastp sample, named from the command's -i/-I
    got = stats["sampleA"]
    summary = report["summary"]
    for stage in ("before_filtering", "after_filtering"):
        for k, v in summary[stage].items():
            assert got[f"{stage}_{k}"] == v, (stage, k)
    for k, v in FILTERING.items():
        assert got[f"filtering_result_{k}"] == v
    assert got["pct_duplication"] == pytest.approx(1.25)
    assert got["pct_surviving_reads"] == pytest.approx(100 * 1900 / 4000)
    # the per-position quality curve MultiQC plots is ours: rows "(position, value)"
    rows = out / "multiqc_data" / "fastp-seq-quality-plot_Read_1_Before_filtering.txt"
    sample_row = rows.read_text().splitlines()[1].split("\t")
    assert sample_row[0] == "sampleA"
    points = [ast.literal_eval(cell) for cell in sample_row[1:]]
    expected = report["read1_before_filtering"]["quality_curves"]["mean"]
    assert points == [(i + 1, v) for i, v in enumerate(expected)]
