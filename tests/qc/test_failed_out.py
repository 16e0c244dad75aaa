"""fastp's --failed_out and -c/--correction, against the fastp binary (Debian's 0.23.2).

--failed_out: the same records in the same order with the same tagged names, for single
reads and pairs, with several filters and trims on (what fastp writes is the read as
trimmed, or raw when trimming removed it; for pairs only those where one mate failed,
read 1 then read 2). -c: the same passed reads and the same corrected_reads /
corrected_bases in the JSON report. Then chunk-size invariance of the failed file, the
branch in the pipeline (manifest, preflight), and refusal of a file seqray did not write.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from seqray.cli.main import main
from seqray.errors import ConfigError
from seqray.pipeline.config import parse_config
from seqray.pipeline.definition import Pipeline

from ..conftest import write_random_fastq, write_random_pairs
from .conftest import (
    check_identity,
    debian_file,
    fastp,
    fastp_input,
    needs_fastp,
    read_fastq,
    seqprep_slices,
    seqray_qc,
    slice_fastq,
)

ADAPTER = "AGATCGGAAGAGCACACGTCTGAACTCCAGTCA"
SLICE = 4000  # pairs: every tag occurs in the cases below
TAGS = {
    "failed_quality_filter",
    "failed_too_many_n_bases",
    "failed_too_short",
    "failed_too_long",
    "failed_low_complexity",
}
SE_CASES = [
    (
        "filters",
        ["-G", "-A", "-u", "100", "-e", "30", "-3", "--length_limit", "90", "-y", "-Y", "60"],
        {
            "trim_poly_g": False,
            "disable_adapter_trimming": True,
            "unqualified_percent_limit": 100,
            "average_qual": 30,
            "cut_tail": True,
            "length_limit": 90,
            "low_complexity_filter": True,
            "complexity_threshold": 60,
        },
    ),
    (
        "trims",
        ["-G", "-a", ADAPTER, "-f", "3", "-5", "-3", "-x", "-l", "70", "--length_limit", "95"],
        {
            "trim_poly_g": False,
            "adapter_sequence": ADAPTER,
            "trim_front1": 3,
            "cut_front": True,
            "cut_tail": True,
            "trim_poly_x": True,
            "length_required": 70,
            "length_limit": 95,
        },
    ),
    (
        "trimmed_away",  # -r removes reads whose first window is poor: fastp writes them raw
        ["-G", "-A", "-f", "5", "-t", "3", "-r", "-M", "30"],
        {
            "trim_poly_g": False,
            "disable_adapter_trimming": True,
            "trim_front1": 5,
            "trim_tail1": 3,
            "cut_right": True,
            "cut_mean_quality": 30,
        },
    ),
]
PE_CASES = [
    (
        "filters",
        ["-G", "-u", "100", "-e", "30", "-3", "--length_limit", "90", "-y", "-Y", "60"],
        {
            "trim_poly_g": False,
            "unqualified_percent_limit": 100,
            "average_qual": 30,
            "cut_tail": True,
            "length_limit": 90,
            "low_complexity_filter": True,
            "complexity_threshold": 60,
        },
    ),
    (
        "trims_and_correction",
        ["-G", "-c", "-5", "-3", "-f", "2", "-F", "4", "-x", "-l", "50", "-e", "22"],
        {
            "trim_poly_g": False,
            "correction": True,
            "cut_front": True,
            "cut_tail": True,
            "trim_front1": 2,
            "trim_front2": 4,
            "trim_poly_x": True,
            "length_required": 50,
            "average_qual": 22,
        },
    ),
]
CORRECTION_CASES = [
    ("correction", ["-G", "-c"], {"trim_poly_g": False, "correction": True}),
    (
        "correction_no_adapters",
        ["-G", "-A", "-c", "--overlap_diff_limit", "8"],
        {
            "trim_poly_g": False,
            "disable_adapter_trimming": True,
            "correction": True,
            "overlap_diff_limit": 8,
        },
    ),
]


@pytest.fixture(scope="module")
def seqprep(tmp_path_factory):
    """(seqray input R1, R2: Phred+64 originals; fastp input R1, R2: Phred+33 copies)."""
    d = tmp_path_factory.mktemp("seqprep")
    return seqprep_slices(d, SLICE)


def _tags(records) -> set[str]:
    return {name.rsplit(" ", 1)[1] for name, _, _ in records}


def _both(tmp: Path, raw, conv, args, qc, paired: bool):
    """fastp's and seqray's failed reads (and passed reads) on the same input."""
    r2, f2 = (raw[1], conv[1]) if paired else (None, None)
    fp_failed = tmp / "fastp_failed.fq"
    want = fastp(tmp / "fastp", conv[0], f2, [*args, "--failed_out", str(fp_failed)])
    sq_failed = tmp / "seqray_failed.fq"
    report, got1, got2 = seqray_qc(tmp, raw[0], r2, qc, 64, failed_out=sq_failed)
    check_identity(report)
    assert (got1, got2) == (want[1], want[2])
    return read_fastq(fp_failed), read_fastq(sq_failed), report


@needs_fastp
@pytest.mark.integration
def test_single_end_failed_out_equals_fastps(tmp_path, seqprep):
    raw, conv = seqprep
    seen = set()
    for name, args, qc in SE_CASES:
        want, got, report = _both(tmp_path / name, raw, conv, args, qc, paired=False)
        assert got == want, name
        failed = report["reads_in"] - report["passed_filter_reads"]
        assert len(got) == failed > 0, name  # every failing read, once
        seen |= _tags(got)
    assert any(len(s) == 100 for _, s, _ in got)  # trimmed away: written whole
    assert seen == TAGS - {"failed_too_many_n_bases"}  # seqprep's reads have '.', not N


@needs_fastp
@pytest.mark.integration
@pytest.mark.parametrize("case", PE_CASES, ids=[c[0] for c in PE_CASES])
def test_paired_end_failed_out_equals_fastps(tmp_path, seqprep, case):
    """Pairs where one mate failed: read 1 then read 2, the passing mate tagged
    `paired_read_is_failing`; pairs where both failed are not written (fastp 0.23.2)."""
    raw, conv = seqprep
    want, got, _ = _both(tmp_path, raw, conv, case[1], case[2], paired=True)
    assert got == want
    assert "paired_read_is_failing" in _tags(got) and len(_tags(got)) > 2
    assert [n.rsplit(" ", 1)[0][-2:] for n, _, _ in got[:4]] == ["/1", "/2", "/1", "/2"]


@needs_fastp
@pytest.mark.integration
def test_duplicates_and_n_reads(tmp_path):
    """With --dedup, fastp writes no duplicate to --failed_out (gasic-examples: 28 %
    duplicates), whatever filter its copy would fail; reads with N (-n)."""
    member = "usr/share/doc/gasic/examples/reads/SRR059298_subset.fastq.gz"
    raw = slice_fastq(debian_file("gasic-examples", member), tmp_path / "g.fq.gz", SLICE)
    conv = fastp_input(raw, tmp_path / "fp.fq")
    args = ["-G", "-A", "-D", "-n", "1", "-l", "50"]
    qc = {
        "trim_poly_g": False,
        "disable_adapter_trimming": True,
        "dedup": True,
        "n_base_limit": 1,
        "length_required": 50,
    }
    fp_failed, sq_failed = tmp_path / "fastp_failed.fq", tmp_path / "seqray_failed.fq"
    _, want1, _ = fastp(tmp_path / "fastp", conv, None, [*args, "--failed_out", str(fp_failed)])
    report, got1, _ = seqray_qc(tmp_path, raw, None, qc, failed_out=sq_failed)
    assert got1 == want1
    assert report["duplicated_reads"] > 0
    got = read_fastq(sq_failed)
    assert got == read_fastq(fp_failed)
    kept = report["passed_filter_reads"] + report["duplicated_reads"]
    assert len(got) == report["reads_in"] - kept
    assert "failed_too_many_n_bases" in _tags(got)


@needs_fastp
@pytest.mark.integration
@pytest.mark.parametrize("case", CORRECTION_CASES, ids=[c[0] for c in CORRECTION_CASES])
def test_correction_equals_fastps(tmp_path, seqprep, case):
    """-c: the passed reads (bases and qualities corrected in the overlap) and fastp's
    corrected_reads / corrected_bases; without -c the reads differ."""
    raw, conv = seqprep
    _, args, qc = case
    want = fastp(tmp_path / "fastp", conv[0], conv[1], args)
    ours = tmp_path / "seqray.json"
    report, got1, got2 = seqray_qc(tmp_path, raw[0], raw[1], {**qc, "json_report": str(ours)}, 64)
    check_identity(report)
    assert {k: report[k] for k in want[0]} == want[0]
    assert (got1, got2) == (want[1], want[2])
    fp_json = json.loads((tmp_path / "fastp" / "fp.json").read_text())["filtering_result"]
    got_json = json.loads(ours.read_text())["filtering_result"]
    assert got_json == fp_json and list(got_json) == list(fp_json)
    assert report["correction"]["corrected_bases"] == fp_json["corrected_bases"] > 0
    plain = {k: v for k, v in qc.items() if k != "correction"}
    _, un1, un2 = seqray_qc(tmp_path / "plain", raw[0], raw[1], plain, 64)
    assert (un1, un2) != (got1, got2)


def test_correction_rule_on_fastps_own_example(tmp_path):
    """fastp's BaseCorrector::test pair: a Q14 base facing a Q36 one in the overlap takes
    the good base (complemented) and its quality, in either mate."""
    r1 = (
        "n/1",
        "TTTTAACCCCCCCCCCCCCCCCCCCCCCCCCCCCAATTTTAAAATTTTCCACGGGG",
        "E" * 50 + "/" + "E" * 5,
    )
    r2 = (
        "n/2",
        "AAAAAAAAAACCCCGGGGAAAATTTTAAAATTGGGGGGGGGGTGGGGGGGGGGGGG",
        "E" * 42 + "/" + "E" * 13,
    )
    for i, rec in ((1, r1), (2, r2)):
        (tmp_path / f"r{i}.fq").write_text("@{}\n{}\n+\n{}\n".format(*rec))
    qc = {"trim_poly_g": False, "disable_adapter_trimming": True, "correction": True}
    report, got1, got2 = seqray_qc(tmp_path, tmp_path / "r1.fq", tmp_path / "r2.fq", qc)
    assert got1 == [("n/1", "TTTTAACCCCCCCCCCCCCCCCCCCCCCCCCCCCAATTTTAAAATTTTCCCCGGGG", "E" * 56)]
    assert got2 == [("n/2", "AAAAAAAAAACCCCGGGGAAAATTTTAAAATTGGGGGGGGGGGGGGGGGGGGGGGG", "E" * 56)]
    assert report["correction"] == {"corrected_reads": 2, "corrected_bases": 2}
    single, _, _ = seqray_qc(tmp_path / "se", tmp_path / "r1.fq", None, qc)
    assert "correction" not in single  # single reads: -c is ignored, as fastp


@pytest.mark.parametrize("paired", [False, True], ids=["single", "paired"])
def test_failed_out_bytes_do_not_depend_on_chunks(tmp_path, seqprep, paired):
    """The failed file (gzip) has the same bytes for any chunk size and thread count."""
    _, conv = seqprep
    r2 = conv[1] if paired else None
    qc = {"trim_poly_g": False, "cut_tail": True, "length_required": 60, "correction": paired}
    outs = []
    for i, run in enumerate([{}, {"chunk_bytes": 40_000, "block_bases": 9_000, "num_cpus": 2}]):
        failed = tmp_path / f"failed{i}.fq.gz"
        report, _, _ = seqray_qc(tmp_path / str(i), conv[0], r2, qc, run=run, failed_out=failed)
        outs.append(failed.read_bytes())
    assert outs[0] == outs[1]
    assert len(gzip.decompress(outs[0]).splitlines()) > 400
    assert report["reads_in"] == SLICE * (2 if paired else 1)
    manifest = json.loads((tmp_path / "1" / "sq" / "manifest.json").read_text())
    assert len(manifest["chunks"]) > 10


def test_failed_branch_is_listed_in_the_manifest_and_checked(tmp_path):
    reads = write_random_fastq(tmp_path / "reads.fq", 300, seed=5)
    out, failed = tmp_path / "clean.fq", tmp_path / "failed.fq.gz"
    args = ["qc", "-i", str(reads), "-o", str(out), "--failed_out", str(failed), "-l", "140"]
    assert main([*args, "--outdir", str(tmp_path / "run")]) == 0
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    listed = {s["uri"]: s for s in manifest["shards"]}
    assert str(failed) in listed and str(out) in listed
    n_failed = len(gzip.decompress(failed.read_bytes()).splitlines()) // 4
    assert listed[str(failed)]["rows"] == n_failed > 0
    qc = manifest["reports"]["qc"]
    assert n_failed == qc["reads_in"] - qc["passed_filter_reads"]


def test_a_foreign_file_at_failed_out_is_refused_before_reading(tmp_path, capsys):
    reads = write_random_fastq(tmp_path / "reads.fq", 300, seed=5)
    failed = tmp_path / "failed.fq"
    failed.write_text("the user's own file\n")
    out = tmp_path / "clean.fq"
    args = ["qc", "-i", str(reads), "-o", str(out), "--failed_out", str(failed)]
    assert main(args) == 1
    assert "failed.fq" in capsys.readouterr().err
    assert main([*args, "--outdir", str(tmp_path / "run"), "--overwrite"]) == 1
    assert "failed.fq" in capsys.readouterr().err
    assert failed.read_text() == "the user's own file\n"
    assert not out.exists() and not (tmp_path / "run" / "manifest.json").exists()
    assert main(["qc", "-i", str(reads), "-o", str(out), "--failed_out", str(reads)]) == 1
    assert reads.stat().st_size > 0


def test_a_branch_needs_a_stage_that_routes_rows_there(tmp_path):
    reads = write_random_fastq(tmp_path / "reads.fq", 10, seed=5)
    stages = [
        {"read": {"paths": [str(reads)]}},
        {"inspect": {}},
        {"write": {"format": "fastq", "files": [str(tmp_path / "f.fq")], "branch": "failed"}},
    ]
    cfg = parse_config({"output": str(tmp_path / "o"), "stages": stages})
    with pytest.raises(ConfigError, match="branch 'failed'.*no stage before it routes"):
        Pipeline.from_config(cfg)
    stages.insert(1, {"qc": {}})
    pipeline = Pipeline.from_config(parse_config({"output": str(tmp_path / "o"), "stages": stages}))
    assert pipeline.stages[0].taken == {"failed"}


def test_cli_pairs_with_correction_and_failed_out(tmp_path):
    r1, r2 = write_random_pairs(tmp_path / "r1.fq", tmp_path / "r2.fq", 300, seed=7)
    o1, o2, failed, js = (tmp_path / n for n in ("o1.fq", "o2.fq", "failed.fq", "qc.json"))
    args = ["qc", "-i", str(r1), "-I", str(r2), "-o", str(o1), "-O", str(o2)]
    assert main([*args, "--failed_out", str(failed), "-c", "-l", "100", "-j", str(js)]) == 0
    result = json.loads(js.read_text())["filtering_result"]
    assert list(result)[:3] == ["passed_filter_reads", "corrected_reads", "corrected_bases"]
    names = [n for n, _, _ in read_fastq(failed)]
    assert len(names) % 2 == 0 and all(
        n.split(" ")[-1] in TAGS | {"paired_read_is_failing"} for n in names
    )


@pytest.mark.integration
def test_failed_branch_on_ray_equals_local(tmp_path, ray_cluster, seqprep):
    from seqray.pipeline.driver import run_pipeline

    _, conv = seqprep
    outs = []
    for runner in ("local", "ray"):
        failed = tmp_path / f"{runner}.fq.gz"
        stages = [
            {"read": {"paths": [str(conv[0])], "mate_paths": [str(conv[1])], "keep_dots": True}},
            {"qc": {"trim_poly_g": False, "correction": True, "cut_tail": True}},
            {"write": {"format": "fastq"}},
            {"write": {"format": "fastq", "files": [str(failed)], "branch": "failed"}},
        ]
        run = {"chunk_bytes": 100_000}
        cfg = parse_config({"output": str(tmp_path / runner), "run": run, "stages": stages})
        result = run_pipeline(cfg, runner=runner)
        outs.append((failed.read_bytes(), result.reports["qc"]["correction"]))
    assert outs[0] == outs[1]
    assert len(gzip.decompress(outs[0][0])) > 0


@needs_fastp
@pytest.mark.integration
def test_correction_counts_duplicates_as_fastp_does(tmp_path, seqprep):
    """With -c -D fastp corrects (and counts) the duplicates it then drops; so does
    seqray. Input: 4,000 real pairs and a second copy of the first 500."""
    _, conv = seqprep
    dup = []
    for i, f in enumerate(conv, 1):
        text = f.read_text()
        head = "".join(text.splitlines(keepends=True)[: 4 * 500])
        dup.append(tmp_path / f"d{i}.fq")
        dup[-1].write_text(text + head)
    fp_failed, sq_failed = tmp_path / "fastp_failed.fq", tmp_path / "seqray_failed.fq"
    args = ["-G", "-c", "-D", "--failed_out", str(fp_failed)]
    _, want1, want2 = fastp(tmp_path / "fastp", dup[0], dup[1], args)
    qc = {"trim_poly_g": False, "correction": True, "dedup": True}
    report, got1, got2 = seqray_qc(tmp_path, dup[0], dup[1], qc, failed_out=sq_failed)
    assert (got1, got2) == (want1, want2)
    assert read_fastq(sq_failed) == read_fastq(fp_failed)
    assert report["duplicated_reads"] == 1000
    fp_json = json.loads((tmp_path / "fastp" / "fp.json").read_text())["filtering_result"]
    assert report["correction"] == {k: fp_json[k] for k in ("corrected_reads", "corrected_bases")}
