"""Users' files are sacred: seqray writes only into an empty place or over its own run,
checks every output before it reads, and never writes an input.

Each test starts from the case a new user hit on the old main (the issue "Data safety
first" numbers them); foreign files beside inputs and outputs are checked byte for byte."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from seqray.cli.main import main
from seqray.io.formats import DirectoryShard
from seqray.pipeline.manifest import Journal

from ..conftest import write_random_fastq, write_random_pairs
from ..dirformat import FILES
from ..dirformat import register as register_npy


def snapshot(*roots: Path) -> dict[str, str]:
    """sha256 of every file below the roots (a tree's state, to compare after a call)."""
    out = {}
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def err_line(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())


@pytest.fixture
def sandbox(tmp_path):
    """A user's directory: reads, and a notes file that is nobody's business but theirs."""
    sb = tmp_path / "sb"
    sb.mkdir()
    write_random_fastq(sb / "reads.fq", 400, seed=3)
    (sb / "notes.txt").write_text("keep me\n")
    return sb


# -- 1. --overwrite deletes only a seqray run ---------------------------------------------


@pytest.mark.parametrize(
    "cmd",
    [
        ["count", "-k", "21", "{reads}", "-o", "{sb}", "--overwrite"],
        ["tokenize", "{reads}", "-o", "{sb}", "--overwrite"],
        ["correct", "-k", "21", "{reads}", "-o", "{sb}", "--overwrite"],
        ["qc", "-i", "{reads}", "--outdir", "{sb}", "--overwrite"],
    ],
)
def test_overwrite_never_deletes_a_directory_that_is_not_a_run(sandbox, capsys, cmd):
    before = snapshot(sandbox)
    args = [a.format(reads=sandbox / "reads.fq", sb=sandbox) for a in cmd]
    assert main(args) == 1
    err = err_line(capsys)
    assert "internal error" not in err
    assert "inside the output" in err or "holds no seqray run" in err
    assert snapshot(sandbox) == before


def test_a_non_empty_directory_is_refused_naming_what_is_there(tmp_path, sandbox, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("x")
    for extra in ([], ["--overwrite"]):
        assert main(["count", "-k", "15", str(sandbox / "reads.fq"), "-o", str(out), *extra]) == 1
        err = err_line(capsys)
        assert "holds no seqray run" in err and "mine.txt" in err
    assert (out / "mine.txt").read_text() == "x" and len(list(out.iterdir())) == 1


def _count(reads: Path, out: Path, *extra: str) -> int:
    return main(["count", "-k", "15", str(reads), "-o", str(out), *extra])


def test_overwrite_replaces_exactly_the_previous_run(tmp_path, sandbox, capsys):
    out = tmp_path / "out"
    assert _count(sandbox / "reads.fq", out) == 0
    first = set(snapshot(out))
    assert any(p.endswith("histo.txt") for p in first)
    assert _count(sandbox / "reads.fq", out) == 1  # finished: never replaced silently
    assert "--overwrite" in err_line(capsys)
    assert _count(sandbox / "reads.fq", out, "--overwrite") == 0
    assert set(snapshot(out)) == first


def test_overwrite_refuses_when_a_foreign_file_joined_the_run(tmp_path, sandbox, capsys):
    out = tmp_path / "out"
    assert _count(sandbox / "reads.fq", out) == 0
    (out / "counts" / "my_analysis.csv").write_text("a,b\n")
    (out / "README").write_text("what this is\n")
    before = snapshot(out)
    assert _count(sandbox / "reads.fq", out, "--overwrite") == 1
    err = err_line(capsys)
    assert "counts/my_analysis.csv" in err and "README" in err and "never removes" in err
    assert snapshot(out) == before  # nothing removed, not even the run's own files


def test_overwrite_of_an_interrupted_run_removes_its_shards_and_temporaries(tmp_path, sandbox):
    """A run killed part-way leaves shards no journal lists and a half-written temporary:
    they are the run's (its marker declares where it writes), so --overwrite clears them."""
    out = tmp_path / "out"
    cfg = _yaml(tmp_path, out, [sandbox / "reads.fq"], [{"write": {"format": "parquet"}}])
    assert main(["run", str(cfg)]) == 0
    (out / "manifest.json").unlink()  # as if killed before the manifest
    (out / "reads" / ".part-0000-00009.parquet.tmp-abcd1234").write_bytes(b"half")
    assert main(["run", str(cfg)]) == 1  # interrupted: --resume or --overwrite
    assert main(["run", str(cfg), "--overwrite"]) == 0
    assert not list(out.rglob("*.tmp-*"))


def _yaml(tmp: Path, out: Path, paths, stages, mates=None, **run) -> Path:
    read = {"paths": [str(p) for p in paths]}
    if mates:
        read["mate_paths"] = [str(p) for p in mates]
    cfg = {"output": str(out), "stages": [{"read": read}, *stages]}
    if run:
        cfg["run"] = run
    path = tmp / f"c{len(list(tmp.glob('c*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


# -- 4. no two stages write the same place; 5. never an input -----------------------------


def test_two_write_stages_with_one_path_are_refused(tmp_path, sandbox, capsys):
    out = tmp_path / "out"
    stages = [{"write": {"format": "fastq"}}, {"write": {"format": "fastq", "compression": "gzip"}}]
    assert main(["run", str(_yaml(tmp_path, out, [sandbox / "reads.fq"], stages))]) == 1
    err = err_line(capsys)
    assert "stages[1] (write) and stages[2] (write) both write" in err
    assert "reads.fastq.gz" in err and not out.exists()


def test_a_stage_cannot_write_into_another_stages_directory(tmp_path, sandbox, capsys):
    stages = [{"count": {"k": 11}}, {"write": {"format": "parquet", "path": "counts"}}]
    out = tmp_path / "out"
    assert main(["run", str(_yaml(tmp_path, out, [sandbox / "reads.fq"], stages))]) == 1
    assert "both write" in err_line(capsys) and not out.exists()


def test_write_files_may_not_name_an_input_or_a_foreign_file(tmp_path, sandbox, capsys):
    reads = sandbox / "reads.fq"
    before = snapshot(sandbox)
    out = tmp_path / "out"
    stages = [{"write": {"format": "fastq", "files": [str(reads)]}}]
    assert main(["run", str(_yaml(tmp_path, out, [reads], stages))]) == 1
    assert "which is the input" in err_line(capsys)
    stages = [{"write": {"format": "fastq", "files": [str(sandbox / "notes.txt")]}}]
    assert main(["run", str(_yaml(tmp_path, out, [reads], stages))]) == 1
    err = err_line(capsys)
    assert "notes.txt" in err and "no seqray run" in err and "would replace" in err
    assert snapshot(sandbox) == before


def test_write_files_names_must_match_the_compression(tmp_path, sandbox, capsys):
    stages = [{"write": {"format": "fastq", "compression": "gzip", "files": ["x.fq"]}}]
    cfg = _yaml(tmp_path, tmp_path / "out", [sandbox / "reads.fq"], stages)
    assert main(["run", str(cfg)]) == 1
    assert "does not match the file names" in err_line(capsys)
    # without `compression`, the name decides: plain text under a plain name
    target = tmp_path / "clean.fq"
    stages = [{"write": {"format": "fastq", "files": [str(target)]}}]
    assert main(["run", str(_yaml(tmp_path, tmp_path / "o2", [sandbox / "reads.fq"], stages))]) == 0
    assert target.read_bytes() == (sandbox / "reads.fq").read_bytes()


def test_qc_output_equal_to_its_input_is_refused(sandbox, capsys):
    reads = sandbox / "reads.fq"
    before = snapshot(sandbox)
    assert main(["qc", "-i", str(reads), "-o", str(reads)]) == 1
    assert "which is the input" in err_line(capsys)
    assert snapshot(sandbox) == before


def test_an_input_reached_through_a_symlink_or_hard_link_is_still_the_input(sandbox, capsys):
    reads = sandbox / "reads.fq"
    hard = sandbox / "hard.fq"
    os.link(reads, hard)
    before = snapshot(sandbox)
    assert (
        main(["qc", "-i", str(reads), "-o", str(hard), "--outdir", str(sandbox.parent / "o")]) == 1
    )
    assert "which is the input" in err_line(capsys)
    assert snapshot(sandbox) == before


def test_qc_refuses_to_replace_a_file_it_did_not_write(tmp_path, sandbox, capsys):
    target = tmp_path / "clean.fq"
    target.write_text("a fastp result the user keeps\n")
    assert main(["qc", "-i", str(sandbox / "reads.fq"), "-o", str(target)]) == 1
    assert "no seqray run" in err_line(capsys)
    assert target.read_text() == "a fastp result the user keeps\n"


def test_qc_reruns_over_its_own_output_with_overwrite(tmp_path, sandbox, capsys):
    """With --keep-manifest the run's record stays, so --overwrite may replace what the
    run wrote (without it the record goes: tests/cli/test_qc_cmd.py)."""
    target = tmp_path / "clean.fq"
    args = [
        "qc",
        "-i",
        str(sandbox / "reads.fq"),
        "-o",
        str(target),
        "-j",
        str(tmp_path / "r.json"),
        "--keep-manifest",
    ]
    assert main(args) == 0
    first = target.read_bytes()
    assert main(args) == 1 and "--overwrite" in err_line(capsys)
    assert main([*args, "--overwrite"]) == 0
    assert target.read_bytes() == first


# -- 7. outputs checked before the first read -----------------------------------------------


def test_a_report_under_a_regular_file_fails_before_any_read(tmp_path, sandbox, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    out = tmp_path / "clean.fq.gz"
    args = ["qc", "-i", str(sandbox / "reads.fq"), "-o", str(out), "-j", f"{afile}/qc.json"]
    assert main(args) == 1
    err = err_line(capsys)
    assert "afile is a file, not a directory" in err and "internal error" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "sb"]  # no run state


def test_an_output_under_a_regular_file_is_a_clear_error(tmp_path, sandbox, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert _count(sandbox / "reads.fq", afile / "out") == 1
    err = err_line(capsys)
    assert "is a file, not a directory" in err and "internal error" not in err
    assert afile.read_text() == "x"


# -- 8. --resume on a finished run verifies it and rewrites nothing --------------------------


def test_resume_of_a_finished_run_verifies_and_rewrites_nothing(tmp_path, sandbox, capsys):
    out = tmp_path / "out"
    assert _count(sandbox / "reads.fq", out) == 0
    capsys.readouterr()
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert _count(sandbox / "reads.fq", out, "--resume") == 0
    assert "nothing to do" in err_line(capsys)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == stamps
    # a damaged finished run is reported, not silently redone
    (out / "histo.txt").write_text("1 1\n")
    assert _count(sandbox / "reads.fq", out, "--resume") == 1
    err = err_line(capsys)
    assert "damaged" in err and "histo.txt" in err


# -- 9. run -o moves the paths the config places under its output --------------------------


def test_run_output_option_moves_report_paths(tmp_path, sandbox, capsys):
    out, other = tmp_path / "out", tmp_path / "other"
    stages = [
        {"qc": {"json_report": str(out / "qc.json"), "html_report": str(out / "r" / "qc.html")}},
        {"write": {"format": "fastq"}},
    ]
    cfg = _yaml(tmp_path, out, [sandbox / "reads.fq"], stages)
    assert main(["run", str(cfg)]) == 0
    before = snapshot(out)
    assert main(["run", str(cfg), "-o", str(other)]) == 0
    assert snapshot(out) == before  # the first run is untouched
    assert (other / "qc.json").exists() and (other / "r" / "qc.html").exists()
    outside = [{"qc": {"json_report": str(tmp_path / "qc.json")}}, {"write": {"format": "fastq"}}]
    cfg = _yaml(tmp_path, out, [sandbox / "reads.fq"], outside)
    assert main(["run", str(cfg), "-o", str(tmp_path / "third")]) == 2
    err = err_line(capsys)
    assert "outside the config's output" in err and "'-o'" in err


# -- 10. qc and correct resume; 11. option values are usage errors ---------------------------


def test_every_command_that_advises_resume_has_it(capsys):
    for cmd in (["qc"], ["correct"], ["count", "run"], ["tokenize"], ["run"]):
        assert main([*cmd, "--help"]) == 0
        assert "--resume" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, typed",
    [
        (["qc", "-i", "{reads}", "-q", "-5"], "'-q'"),
        (["qc", "-i", "{reads}", "--qualified_quality_phred=200"], "'--qualified_quality_phred'"),
        (["qc", "-i", "{reads}", "-u", "101"], "'-u'"),
        (["count", "-k", "21", "{reads}", "-o", "{out}", "--partitions", "3"], "'--partitions'"),
        (["count", "-k", "21", "{reads}", "-o", "{out}", "--memory", "lots"], "'--memory'"),
        (["tokenize", "{reads}", "-o", "{out}", "--scheme", "kmer", "--k", "12"], None),
        (["inspect", "{reads}", "--chunk-bytes", "0"], "'--chunk-bytes'"),
        (["inspect", "{reads}", "--phred-offset", "42"], "'--phred-offset'"),
        (["convert", "{reads}", "{out}.fq", "--phred-offset", "x"], "'--phred-offset'"),
        (["run", "{cfg}", "-t", "0"], "'-t'"),
    ],
)
def test_bad_option_values_are_usage_errors_naming_the_option(
    tmp_path, sandbox, capsys, args, typed
):
    cfg = _yaml(tmp_path, tmp_path / "o", [sandbox / "reads.fq"], [{"write": {}}])
    args = [a.format(reads=sandbox / "reads.fq", out=tmp_path / "out", cfg=cfg) for a in args]
    assert main(args) == 2
    err = err_line(capsys)
    assert "internal error" not in err and "stages[" not in err
    if typed:
        assert typed in err
    assert not (tmp_path / "out").exists()


# -- 6. on_error: skip holds in every prepare pass --------------------------------------------


def _with_bad_record(path: Path) -> Path:
    text = path.read_text().split("\n")
    text[4 * 5 + 2] = "-"  # record 6 loses its '+' line
    bad = path.with_name("bad.fq")
    bad.write_text("\n".join(text))
    return bad


@pytest.mark.parametrize(
    "stage",
    [
        {"qc": {}},
        {"qc": {"dedup": True}},
        {"dedup": {}},
        {"correct": {"k": 15}},
        {"tokenize": {"scheme": "bpe", "vocab_size": 50}},
    ],
    ids=["qc", "qc-dedup", "dedup", "correct", "bpe"],
)
def test_skip_holds_in_prepare_passes(tmp_path, sandbox, stage):
    bad = _with_bad_record(sandbox / "reads.fq")
    out = tmp_path / "out"
    write = {"write": {"format": "parquet"}}
    cfg = _yaml(tmp_path, out, [bad], [stage, write], on_error="skip", chunk_bytes=4000)
    assert main(["run", str(cfg)]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["reads"]["rejected"] == 1
    rejects = [json.loads(line) for p in out.glob("rejects/*.jsonl") for line in p.open()]
    assert [r["record"] for r in rejects] == [6]


# -- 13 (empty outputs) and the README's own chains ---------------------------------------------


def test_an_empty_result_is_still_valid_gzip(tmp_path, sandbox):
    out = tmp_path / "out"
    stages = [{"qc": {"length_required": 10_000}}, {"write": {"format": "fastq"}}]
    assert main(["run", str(_yaml(tmp_path, out, [sandbox / "reads.fq"], stages))]) == 0
    assert gzip.decompress((out / "reads.fastq.gz").read_bytes()) == b""


def test_pairs_need_two_files(tmp_path, capsys):
    r1, r2 = write_random_pairs(tmp_path / "a_1.fq", tmp_path / "a_2.fq", 50)
    stages = [{"write": {"format": "fastq", "files": [str(tmp_path / "only.fq.gz")]}}]
    assert main(["run", str(_yaml(tmp_path, tmp_path / "o", [r1], stages, mates=[r2]))]) == 1
    assert "one file per mate" in err_line(capsys)


# -- found by a review of the first version (each reproduced first) ------------------------


def test_an_interrupted_run_owns_only_what_it_recorded(tmp_path, sandbox, capsys):
    """A failed run declared where it would write; files a user puts there afterwards are
    the user's, not the run's: --overwrite refuses, nothing is replaced."""
    bad = _with_bad_record(sandbox / "reads.fq")
    clean, report, od = tmp_path / "clean.fq", tmp_path / "rep.json", tmp_path / "od"
    args = ["qc", "-i", str(bad), "-o", str(clean), "-j", str(report), "--outdir", str(od)]
    assert main(args) == 1  # an interrupted run now
    clean.write_text("MINE\n")
    report.write_text("MINE\n")
    args[2] = str(sandbox / "reads.fq")
    assert main([*args, "--overwrite"]) == 1
    assert "no seqray run" in err_line(capsys)
    assert clean.read_text() == report.read_text() == "MINE\n"
    cnt = tmp_path / "cnt"
    assert main(["count", "-k", "15", str(bad), "-o", str(cnt)]) == 1
    (cnt / "histo.txt").write_text("mine\n")
    (cnt / "counts").mkdir(exist_ok=True)
    (cnt / "counts" / "my_notes.txt").write_text("mine\n")
    capsys.readouterr()
    assert _count(sandbox / "reads.fq", cnt, "--overwrite") == 1
    err = err_line(capsys)
    assert "histo.txt" in err and "my_notes.txt" in err
    assert (cnt / "histo.txt").read_text() == "mine\n"


def test_resume_never_replaces_a_file_put_where_the_run_writes(tmp_path, sandbox, capsys):
    out = tmp_path / "out"
    cfg = _yaml(tmp_path, out, [sandbox / "reads.fq"], [{"inspect": {}}, {"write": {}}])
    assert main(["run", str(cfg)]) == 0
    # interrupted before its finishing steps: no manifest, no stats.json, no record of it
    (out / "manifest.json").unlink()
    shutil.rmtree(out / "_seqray" / "journal" / "files")
    (out / "stats.json").write_text("the user's\n")
    (out / "reads" / "NOTES.txt").write_text("the user's\n")
    capsys.readouterr()
    assert main(["run", str(cfg), "--resume"]) == 1
    assert "stats.json" in err_line(capsys)
    assert (out / "stats.json").read_text() == "the user's\n"


def test_a_finished_runs_external_file_changed_by_the_user_is_not_replaced(
    tmp_path, sandbox, capsys
):
    report = tmp_path / "rep.json"
    args = ["qc", "-i", str(sandbox / "reads.fq"), "-o", str(tmp_path / "c.fq"), "-j", str(report)]
    args.append("--keep-manifest")  # the run's record stays beside its outputs
    assert main(args) == 0
    report.write_text("user report v2\n")
    assert main([*args, "--overwrite"]) == 1
    assert "changed since" in err_line(capsys)
    assert report.read_text() == "user report v2\n"


def test_records_are_absolute_so_another_directory_means_the_same(tmp_path, sandbox, monkeypatch):
    """A config with a relative report path, run from one directory, then --overwrite from
    another: the second run's report is another file, and the user's file there is kept."""
    out = tmp_path / "out"
    stages = [{"qc": {"json_report": "rep.json"}}, {"write": {}}]
    cfg = _yaml(tmp_path, out, [sandbox / "reads.fq"], stages)
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(cfg)]) == 0
    elsewhere = tmp_path / "d"
    elsewhere.mkdir()
    (elsewhere / "rep.json").write_text("MINE\n")
    monkeypatch.chdir(elsewhere)
    assert main(["run", str(cfg), "--overwrite"]) == 1
    assert (elsewhere / "rep.json").read_text() == "MINE\n"
    assert main(["count", "-k", "15", str(sandbox / "reads.fq"), "-o", "../cnt"]) == 0
    monkeypatch.chdir(tmp_path)
    assert main(["count", "-k", "15", str(sandbox / "reads.fq"), "-o", "cnt", "--overwrite"]) == 0


def test_two_single_file_writes_keep_their_own_reads(tmp_path, sandbox):
    raw, trimmed = tmp_path / "raw.fq", tmp_path / "trimmed.fq"
    stages = [
        {"write": {"format": "fastq", "files": [str(raw)]}},
        {"qc": {"trim_front1": 10, "length_required": 1}},
        {"write": {"format": "fastq", "files": [str(trimmed)]}},
    ]
    assert main(["run", str(_yaml(tmp_path, tmp_path / "o", [sandbox / "reads.fq"], stages))]) == 0
    assert raw.read_bytes() == (sandbox / "reads.fq").read_bytes()
    lines = raw.read_text().split("\n")
    raw_seqs = dict(zip(lines[0::4], lines[1::4]))
    lines = trimmed.read_text().split("\n")
    kept = list(zip(lines[0::4], lines[1::4]))[:-1]
    assert kept and all(seq == raw_seqs[name][10:] for name, seq in kept)


def test_resume_of_a_finished_run_with_another_config_is_refused(tmp_path, sandbox, capsys):
    out = tmp_path / "out"
    assert _count(sandbox / "reads.fq", out) == 0
    assert main(["count", "-k", "21", str(sandbox / "reads.fq"), "-o", str(out), "--resume"]) == 1
    assert "config changed" in err_line(capsys)


def test_an_output_inside_another_runs_output_is_refused(tmp_path, sandbox, capsys):
    outer = tmp_path / "outer"
    assert _count(sandbox / "reads.fq", outer) == 0
    assert _count(sandbox / "reads.fq", outer / "counts" / "inner") == 1
    assert "lies inside the output of the seqray run" in err_line(capsys)


def test_tokenizer_export_never_replaces_files(tmp_path, sandbox, capsys):
    mine = tmp_path / "mytok"
    mine.mkdir()
    (mine / "tokenizer.json").write_text('{"my": 1}')
    assert main(["tokenizer", "export", str(mine), "--scheme", "kmer"]) == 1
    assert (mine / "tokenizer.json").read_text() == '{"my": 1}'
    assert main(["tokenizer", "export", str(sandbox / "reads.fq"), "--scheme", "kmer"]) == 1
    err = err_line(capsys)
    assert "holds files" in err and "is a file" in err and "internal error" not in err
    assert main(["tokenizer", "export", str(tmp_path / "new"), "--scheme", "kmer"]) == 0


@pytest.mark.parametrize(
    "args",
    [
        ["-o", "{t}/q8", "--outdir", "{t}/q8"],
        ["-o", "{t}/q2/clean.fq", "-j", "{t}/q2", "--outdir", "{t}/q2"],
        ["-o", "{t}/x9/clean.fq", "-j", "{t}/x9", "--outdir", "{t}/q9"],
    ],
)
def test_a_file_where_a_directory_goes_is_refused_before_reading(tmp_path, sandbox, capsys, args):
    args = [a.format(t=tmp_path) for a in args]
    assert main(["qc", "-i", str(sandbox / "reads.fq"), *args]) == 1
    err = err_line(capsys)
    assert "internal error" not in err and ("both write" in err or "where the output is" in err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sb"]  # nothing written, no temporary


def test_a_directory_of_links_is_refused_at_once(tmp_path, sandbox, capsys):
    loop = tmp_path / "lo"
    loop.mkdir()
    (loop / "x").symlink_to(".")
    (loop / "y").symlink_to(".")
    assert _count(sandbox / "reads.fq", loop) == 1
    assert "holds no seqray run" in err_line(capsys)


def test_an_output_inside_a_directory_input_is_refused(tmp_path, sandbox, capsys):
    data = tmp_path / "data"
    data.mkdir()
    write_random_fastq(data / "a.fq", 50)
    cfg = _yaml(tmp_path, data / "out", [data], [{"write": {}}])
    assert main(["run", str(cfg)]) == 1
    assert "read as input" in err_line(capsys)
    assert not (data / "out").exists()


def test_a_broken_manifest_is_not_an_internal_error(tmp_path, sandbox, capsys):
    out = tmp_path / "out"
    assert _count(sandbox / "reads.fq", out) == 0
    (out / "manifest.json").write_text('{"complete": tru')
    assert _count(sandbox / "reads.fq", out, "--overwrite") == 0
    assert "internal error" not in err_line(capsys)


def test_single_end_qc_refuses_out2(tmp_path, sandbox, capsys):
    args = ["-o", str(tmp_path / "a.fq.gz"), "-O", str(tmp_path / "b.fq")]
    assert main(["qc", "-i", str(sandbox / "reads.fq"), *args]) == 2
    assert "-O writes read 2 of pairs" in err_line(capsys)


# -- shards that are directories (a directory-store format, registered by the test) -------


@pytest.fixture
def npy_format(monkeypatch):
    return register_npy(monkeypatch)


class _Killed(BaseException):
    """The run dies here, as under SIGKILL: nothing after it runs, nothing cleans up."""


def _npy_yaml(tmp_path: Path, out: Path, sandbox: Path) -> Path:
    stages = [{"write": {"format": "npydir", "path": "arrays"}}]
    return _yaml(tmp_path, out, [sandbox / "reads.fq"], stages, chunk_bytes=8000)


def _outputs(out: Path) -> dict[str, bytes]:
    """The run's output files (not its state or manifest) by path inside the output."""
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "manifest.json" and "_seqray" not in p.parts
    }


def _killed_run(cfg: Path, monkeypatch, where: str) -> None:
    """Runs `cfg` and kills it at the third chunk: with its directory shard half-written
    (`staging`: files written, not renamed into place) or committed but not yet in the
    journal (`unjournaled`)."""
    calls = {"n": 0}

    def third(real):
        def dying(*args):
            calls["n"] += 1
            if calls["n"] == 3:
                raise _Killed
            return real(*args)

        return dying

    with monkeypatch.context() as m:
        m.setattr(DirectoryShard, "abort", lambda self: None)
        if where == "staging":
            m.setattr(DirectoryShard, "_replace", third(DirectoryShard._replace))
        else:
            m.setattr(Journal, "record", third(Journal.record))
        assert main(["run", str(cfg)]) != 0  # the CLI's boundary catches even this
    assert calls["n"] == 3


@pytest.mark.parametrize("where", ["staging", "unjournaled"])
@pytest.mark.parametrize("then", ["--resume", "--overwrite"])
def test_a_killed_runs_directory_shards_are_its_own(
    tmp_path, sandbox, npy_format, monkeypatch, where, then
):
    """A directory shard half-written (its hidden staging directory) or committed just
    before the kill is the run's: --resume and --overwrite clear it and finish with the
    bytes of an uninterrupted run."""
    clean = tmp_path / "clean"
    assert main(["run", str(_npy_yaml(tmp_path, clean, sandbox))]) == 0
    out = tmp_path / "out"
    cfg = _npy_yaml(tmp_path, out, sandbox)
    _killed_run(cfg, monkeypatch, where)
    staged = [p for p in (out / "arrays").iterdir() if p.name.startswith(".")]
    if where == "staging":
        assert len(staged) == 1 and sorted(p.name for p in staged[0].iterdir()) == sorted(FILES)
    else:
        assert not staged and len(list((out / "arrays").iterdir())) == 3
    assert main(["run", str(cfg), then]) == 0
    assert not list(out.rglob("*.tmp-*"))
    assert _outputs(out) == _outputs(clean)
    assert len([p for p in (out / "arrays").iterdir() if p.is_dir()]) > 3


def test_a_foreign_file_inside_a_directory_shard_blocks_overwrite(
    tmp_path, sandbox, npy_format, capsys
):
    out = tmp_path / "out"
    cfg = _npy_yaml(tmp_path, out, sandbox)
    assert main(["run", str(cfg)]) == 0
    shard = sorted((out / "arrays").iterdir())[1]
    (shard / "theirs.npy").write_bytes(b"the user's")
    before = snapshot(out)
    for state in ("finished", "interrupted"):
        if state == "interrupted":  # its journal lists the shard and the shard's files
            (out / "manifest.json").unlink()
            before = snapshot(out)
        capsys.readouterr()
        assert main(["run", str(cfg), "--overwrite"]) == 1
        err = err_line(capsys)
        assert f"arrays/{shard.name}/theirs.npy" in err and "did not write" in err, state
        assert snapshot(out) == before  # nothing removed, not even the run's own files
    (shard / "theirs.npy").unlink()
    assert main(["run", str(cfg), "--overwrite"]) == 0


def test_resume_verifies_each_file_of_a_directory_shard(tmp_path, sandbox, npy_format):
    clean = tmp_path / "clean"
    assert main(["run", str(_npy_yaml(tmp_path, clean, sandbox))]) == 0
    out = tmp_path / "out"
    cfg = _npy_yaml(tmp_path, out, sandbox)
    assert main(["run", str(cfg)]) == 0
    (out / "manifest.json").unlink()  # interrupted before the manifest
    shard = sorted((out / "arrays").iterdir())[2]
    second = shard / FILES[1]
    second.write_bytes(second.read_bytes()[:-8])  # one file of one shard, damaged
    assert main(["run", str(cfg), "--resume"]) == 0
    assert _outputs(out) == _outputs(clean)
    m = json.loads((out / "manifest.json").read_text())
    assert m["resumed_chunks"] == len(m["chunks"]) - 1  # only that chunk was done again
