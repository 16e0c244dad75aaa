"""fastp's merging of overlapping pairs (-m, --merged_out, --include_unmerged), against
the fastp binary (Debian's 0.23.2).

The merged file record for record (names with ` merged_<L1>_<L2>`, bases, qualities,
order), the unmerged pairs (-o/-O), --failed_out beside it, and the JSON report's
filtering_result and summary equal fastp's, on real HiSeq pairs with short inserts
(seqprep-data, many pairs overlap) and on simulated phiX pairs; then chunk-size
invariance and the preflight check of --merged_out.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from seqray.cli.main import main

from ..conftest import write_random_pairs
from ..peers import require_tool
from .conftest import EXAMPLES, check_identity, needs_fastp, read_fastq, seqray_qc
from .test_failed_out import seqprep  # noqa: F401  (the module's fixture, reused)

CASES = [
    ("merge", ["-G"], {"trim_poly_g": False}),
    (
        "merge_with_trims_and_filters",
        ["-G", "-3", "-x", "-l", "60", "-e", "24", "-y", "--length_limit", "170"],
        {
            "trim_poly_g": False,
            "cut_tail": True,
            "trim_poly_x": True,
            "length_required": 60,
            "average_qual": 24,
            "low_complexity_filter": True,
            "length_limit": 170,
        },
    ),
]


def _fastp(tmp: Path, r1: Path, r2: Path, args: list[str]) -> dict:
    """fastp with -m: its merged, unmerged (when written), failed reads and JSON."""
    tmp.mkdir(parents=True, exist_ok=True)
    out = {k: tmp / f"fp_{k}.fq" for k in ("out1", "out2", "merged", "failed")}
    cmd = [require_tool("fastp"), "-i", str(r1), "-I", str(r2), "-w", "1", "-m"]
    cmd += ["--merged_out", str(out["merged"]), "--failed_out", str(out["failed"])]
    cmd += ["-o", str(out["out1"]), "-O", str(out["out2"]), "-j", str(tmp / "fp.json")]
    cmd += ["-h", str(tmp / "fp.html")]
    subprocess.run(cmd + args, check=True, capture_output=True)
    got = {k: read_fastq(p) if p.exists() else None for k, p in out.items()}
    return {**got, "json": json.loads((tmp / "fp.json").read_text())}


def _seqray(tmp: Path, r1: Path, r2: Path, qc: dict, phred: int, run=None) -> dict:
    merged, failed, js = tmp / "merged.fq", tmp / "failed.fq", tmp / "sq.json"
    qc = {**qc, "merge": True, "json_report": str(js)}
    report, o1, o2 = seqray_qc(
        tmp, r1, r2, qc, phred, run=run, failed_out=failed, merged_out=merged
    )
    check_identity(report)
    return {
        "out1": o1,
        "out2": o2,
        "merged": read_fastq(merged),
        "failed": read_fastq(failed),
        "json": json.loads(js.read_text()),
        "report": report,
    }


def _check(want: dict, got: dict, include_unmerged: bool = False) -> None:
    assert got["merged"] == want["merged"]
    if not include_unmerged:  # fastp ignores -o/-O with --include_unmerged
        assert (got["out1"], got["out2"]) == (want["out1"], want["out2"])
    assert got["failed"] == want["failed"]
    assert got["json"]["filtering_result"] == want["json"]["filtering_result"]
    assert got["json"]["summary"]["after_filtering"] == want["json"]["summary"]["after_filtering"]
    section = "merged_and_filtered"
    assert "read2_after_filtering" not in got["json"] and section in got["json"]
    for key in ("total_reads", "total_bases", "q30_bases", "overrepresented_sequences"):
        assert got["json"][section][key] == want["json"][section][key], key


@needs_fastp
@pytest.mark.integration
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_merged_reads_equal_fastps(tmp_path, seqprep, case):  # noqa: F811
    raw, conv = seqprep
    _, args, qc = case
    want = _fastp(tmp_path / "fastp", conv[0], conv[1], args)
    got = _seqray(tmp_path, raw[0], raw[1], qc, 64)
    _check(want, got)
    merged = got["merged"]
    assert len(merged) > 300 and len(got["out1"]) > 1000
    assert all(" merged_" in n for n, _, _ in merged)
    assert any(not n.endswith("_0") for n, _, _ in merged)  # inserts longer than a read


@needs_fastp
@pytest.mark.integration
def test_include_unmerged_equals_fastps(tmp_path, seqprep):  # noqa: F811
    raw, conv = seqprep
    _, args, qc = CASES[1]
    want = _fastp(tmp_path / "fastp", conv[0], conv[1], [*args, "--include_unmerged"])
    got = _seqray(tmp_path, raw[0], raw[1], {**qc, "include_unmerged": True}, 64)
    _check(want, got, include_unmerged=True)
    assert got["out1"] == got["out2"] == []
    assert sum(" merged_" not in n for n, _, _ in got["merged"]) > 100


@needs_fastp
@pytest.mark.integration
def test_merged_simulated_phix_equals_fastps(tmp_path):
    pair = (EXAMPLES / "phix_R1.fastq.gz", EXAMPLES / "phix_R2.fastq.gz")
    args = ["-f", "3", "-t", "2", "--overlap_len_require", "20"]
    qc = {"trim_front1": 3, "trim_tail1": 2, "overlap_len_require": 20}
    want = _fastp(tmp_path / "fastp", *pair, args)
    got = _seqray(tmp_path, *pair, qc, 33)
    _check(want, got)
    assert got["merged"]


def test_merged_file_does_not_depend_on_chunks(tmp_path, seqprep):  # noqa: F811
    _, conv = seqprep
    qc = {"trim_poly_g": False, "cut_tail": True, "include_unmerged": True}
    outs = []
    for i, run in enumerate([{}, {"chunk_bytes": 40_000, "block_bases": 9_000, "num_cpus": 2}]):
        got = _seqray(tmp_path / str(i), conv[0], conv[1], qc, 33, run=run)
        outs.append((got["merged"], got["failed"], got["report"]["passed_filter_reads"]))
    assert outs[0] == outs[1] and len(outs[0][0]) > 300
    manifest = json.loads((tmp_path / "1" / "sq" / "manifest.json").read_text())
    assert len(manifest["chunks"]) > 10


def test_cli_merge(tmp_path, capsys):
    r1, r2 = write_random_pairs(tmp_path / "r1.fq", tmp_path / "r2.fq", 200, seed=3)
    o1, o2, merged = tmp_path / "o1.fq", tmp_path / "o2.fq", tmp_path / "merged.fq.gz"
    args = ["qc", "-i", str(r1), "-I", str(r2), "-o", str(o1), "-O", str(o2)]
    js, html = tmp_path / "qc.json", tmp_path / "qc.html"
    assert main([*args, "-m", "--merged_out", str(merged), "-j", str(js), "-h", str(html)]) == 0
    assert merged.exists() and o1.exists()
    report = json.loads(js.read_text())
    assert "merged_and_filtered" in report and "read1_after_filtering" not in report
    assert "corrected_reads" in report["filtering_result"]  # -m turns -c on (fastp)
    assert "after filtering" in html.read_text()
    assert main([*args, "-m"]) == 2  # fastp: merging needs --merged_out
    assert "--merged_out" in capsys.readouterr().err
    assert main(["qc", "-i", str(r1), "-o", str(o1), "-m", "--merged_out", str(merged)]) == 2
    assert "--in2" in capsys.readouterr().err


def test_a_foreign_file_at_merged_out_is_refused_before_reading(tmp_path, capsys):
    r1, r2 = write_random_pairs(tmp_path / "r1.fq", tmp_path / "r2.fq", 50, seed=3)
    merged = tmp_path / "merged.fq"
    merged.write_text("the user's own file\n")
    o1, o2 = tmp_path / "o1.fq", tmp_path / "o2.fq"
    args = ["qc", "-i", str(r1), "-I", str(r2), "-o", str(o1), "-O", str(o2), "-m"]
    assert main([*args, "--merged_out", str(merged)]) == 1
    assert "merged.fq" in capsys.readouterr().err
    run = ["--outdir", str(tmp_path / "run"), "--overwrite"]
    assert main([*args, "--merged_out", str(merged), *run]) == 1
    assert merged.read_text() == "the user's own file\n"
    assert not o1.exists()


@needs_fastp
@pytest.mark.integration
def test_duplicates_are_merged_and_written_as_fastp_does(tmp_path, seqprep):  # noqa: F811
    """With -D -m fastp 0.23.2 still merges a duplicate pair and writes the merged read
    (only unmerged duplicates are dropped); so does seqray, and such a pair counts as a
    merged read, not as a duplicate. Input: 4,000 real pairs and a copy of the first 500."""
    _, conv = seqprep
    dup = []
    for i, f in enumerate(conv, 1):
        lines = f.read_text().splitlines(keepends=True)
        dup.append(tmp_path / f"d{i}.fq")
        dup[-1].write_text("".join(lines + lines[: 4 * 500]))
    want = _fastp(tmp_path / "fastp", dup[0], dup[1], ["-G", "-D"])
    got = _seqray(tmp_path, dup[0], dup[1], {"trim_poly_g": False, "dedup": True}, 33)
    for key in ("merged", "out1", "out2", "failed"):
        assert got[key] == want[key], key
    copies = len(got["merged"]) - len(_seqray(tmp_path / "once", *conv, {}, 33)["merged"])
    assert copies > 0 and got["report"]["duplicated_reads"] == 1000 - 2 * copies


def test_merge_needs_pairs_and_a_merged_write_before_reading(tmp_path):
    from seqray.errors import ConfigError
    from seqray.pipeline.config import parse_config
    from seqray.pipeline.driver import run_pipeline

    r1, r2 = write_random_pairs(tmp_path / "r1.fq", tmp_path / "r2.fq", 20, seed=3)
    merged = {"format": "fastq", "files": [str(tmp_path / "m.fq")], "branch": "merged"}
    cases = [
        ({"paths": [str(r1)], "mate_paths": [str(r2)]}, [], "branch: merged"),
        ({"paths": [str(r1)]}, [{"write": merged}], "paired"),
    ]
    for read, extra, message in cases:
        stages = [{"read": read}, {"qc": {"merge": True}}, {"write": {"format": "fastq"}}]
        cfg = parse_config({"output": str(tmp_path / "o"), "stages": stages + extra})
        with pytest.raises(ConfigError, match=message):
            run_pipeline(cfg, runner="local")
        assert not (tmp_path / "o" / "manifest.json").exists()


@pytest.mark.integration
def test_merged_branch_on_ray_equals_local(tmp_path, ray_cluster, seqprep):  # noqa: F811
    from seqray.pipeline.config import parse_config
    from seqray.pipeline.driver import run_pipeline

    _, conv = seqprep
    outs = []
    for runner in ("local", "ray"):
        merged = tmp_path / f"{runner}-merged.fq.gz"
        stages = [
            {"read": {"paths": [str(conv[0])], "mate_paths": [str(conv[1])], "keep_dots": True}},
            {"qc": {"trim_poly_g": False, "merge": True}},
            {"write": {"format": "fastq"}},
            {"write": {"format": "fastq", "files": [str(merged)], "branch": "merged"}},
        ]
        run = {"chunk_bytes": 100_000}
        cfg = parse_config({"output": str(tmp_path / runner), "run": run, "stages": stages})
        run_pipeline(cfg, runner=runner)
        outs.append(merged.read_bytes())
    assert outs[0] == outs[1]
    assert b" merged_" in __import__("gzip").decompress(outs[0])
