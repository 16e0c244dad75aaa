"""The `correct` stage and command on art_illumina reads with known truth: accuracy, error-free
reads untouched, local and Ray runners and any chunk size giving the same bytes."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from seqray.cli.main import main
from seqray.pipeline.config import parse_config
from seqray.pipeline.runner import run_pipeline

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    shutil.which("art_illumina") is None, reason="art_illumina (art-nextgen-simulation-tools)"
)


def _bench():
    spec = importlib.util.spec_from_file_location(
        "correct_accuracy", ROOT / "bench/correct_accuracy.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def sim(tmp_path_factory, examples):
    """phiX174 at 50×, HS25 errors, fixed seed; reads, truth and an error-free copy."""
    bench = _bench()
    d = tmp_path_factory.mktemp("sim")
    reads = bench.simulate(examples / "phix174.fa", 50, 5, d / "phix")
    truth, indel = bench.read_truth(d / "phix")
    names, _ = bench.read_fastq(reads)
    clean = d / "clean.fq"
    with open(clean, "wb") as f:
        for n in names:
            s = truth[n]
            f.write(b"@" + n.encode() + b"\n" + s + b"\n+\n" + b"I" * len(s) + b"\n")
    return bench, reads, truth, indel, clean


def _config(out: Path, reads: Path, chunk_bytes: int = 64 << 20, **correct):
    return parse_config(
        {
            "output": str(out),
            "run": {"chunk_bytes": chunk_bytes, "block_bases": 20_000},
            "stages": [
                {"read": {"paths": [str(reads)]}},
                {"correct": {"k": 31, **correct}},
                {"write": {"format": "fastq", "compression": "none"}},
                {"write": {"format": "parquet", "path": "pq"}},
            ],
        }
    )


def test_accuracy_on_simulated_reads(tmp_path, sim):
    bench, reads, truth, indel, _ = sim
    r = run_pipeline(_config(tmp_path / "o", reads), runner="local")
    acc = bench.score(reads, tmp_path / "o/reads.fastq", truth, indel)
    # measured: gain 0.9955 (440 of 442 errors fixed), no false fix
    assert acc["errors"] > 300
    assert acc["gain"] >= 0.97
    assert acc["fp"] <= 0.001 * acc["bases"]
    rep = r.reports["correct"]
    assert rep["reads"]["reads"] == len(truth)
    assert rep["reads"]["bases_changed"] >= acc["tp"]
    assert rep["trusted"]["min_count"] >= 2
    # the genome's k-mers, give or take the few the reads do not cover
    assert 5000 <= rep["trusted"]["trusted_kmers"] <= 5386 - 31 + 1
    assert json.loads((tmp_path / "o/correction.json").read_text()) == rep


def test_per_read_counts_match_the_changes(tmp_path, sim):
    import pyarrow.parquet as pq

    bench, reads, *_ = sim
    run_pipeline(_config(tmp_path / "o", reads), runner="local")
    t = pq.read_table(tmp_path / "o/pq").sort_by("record")
    _, orig = bench.read_fastq(reads)
    changed = [sum(a != b for a, b in zip(o, c)) for o, c in zip(orig, t.column("seq").to_pylist())]
    assert t.column("corrected_bases").to_pylist() == changed
    assert sum(changed) > 300


def test_error_free_reads_are_left_alone(tmp_path, sim):
    *_, clean = sim
    r = run_pipeline(_config(tmp_path / "o", clean), runner="local")
    assert (tmp_path / "o/reads.fastq").read_bytes() == clean.read_bytes()
    assert r.reports["correct"]["reads"]["bases_changed"] == 0


@pytest.mark.integration
def test_runners_and_chunk_sizes_give_identical_bytes(tmp_path, sim, ray_cluster):
    _, reads, *_ = sim
    outs = {}
    for name, runner, chunk in (
        ("big", "local", 64 << 20),
        ("tiny", "local", 20_000),
        ("ray", "ray", 100_000),
    ):
        run_pipeline(_config(tmp_path / name, reads, chunk), runner=runner)
        outs[name] = (tmp_path / name / "reads.fastq").read_bytes()
    assert outs["big"] == outs["tiny"] == outs["ray"]
    assert outs["big"] != reads.read_bytes()  # something was corrected


def test_cli_keeps_names_and_order(tmp_path, sim, capsys):
    bench, reads, *_ = sim
    out = tmp_path / "c"
    assert main(["correct", "-k", "25", str(reads), "-o", str(out), "--min-count", "3"]) == 0
    assert "corrected" in capsys.readouterr().err  # the summary goes to stderr
    names, seqs = bench.read_fastq(out / "reads.fastq.gz")
    orig_names, orig = bench.read_fastq(reads)
    assert names == orig_names
    assert [len(s) for s in seqs] == [len(s) for s in orig]
    assert json.loads((out / "correction.json").read_text())["trusted"]["min_count"] == 3


def test_cli_errors(tmp_path, capsys):
    assert main(["correct", str(tmp_path / "nope.fq"), "-o", str(tmp_path / "o")]) == 1
    assert "nope.fq" in capsys.readouterr().err
    fq = tmp_path / "a.fq"
    fq.write_text("@r\nACGT\n+\nIIII\n")
    assert main(["correct", str(fq), "-o", str(tmp_path / "o"), "--min-count", "zero"]) == 2
    assert main(["correct", str(fq), "-o", str(tmp_path / "o"), "-k", "40"]) == 2
    bad = tmp_path / "bad.fq"
    bad.write_text("@r\nACGT\n+\nIIII\n@s\nACGT\nIIII\n")
    assert main(["correct", str(bad), "-o", str(tmp_path / "o2")]) == 1
    assert "record 2" in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "o2" / "reads.fastq.gz").exists()


def test_pairs_are_corrected_mate_by_mate(tmp_path, examples, sim):
    import pyarrow.parquet as pq

    bench = sim[0]
    r1, r2 = examples / "phix_R1.fastq.gz", examples / "phix_R2.fastq.gz"
    out = tmp_path / "p"
    assert main(["correct", str(r1), "--mate", str(r2), "-o", str(out), "--format", "parquet"]) == 0
    t = pq.read_table(out / "reads").sort_by("record")
    for seq, changed_col, src in (("seq", "corrected_bases", r1), ("seq2", "corrected_bases2", r2)):
        names, orig = bench.read_fastq(src)
        assert [
            n.split()[0] for n in t.column("name" if seq == "seq" else "name2").to_pylist()
        ] == names
        changed = [
            sum(a != b for a, b in zip(o, c)) for o, c in zip(orig, t.column(seq).to_pylist())
        ]
        assert t.column(changed_col).to_pylist() == changed
    rep = json.loads((out / "correction.json").read_text())["reads"]
    assert rep["reads"] == 2 * len(t)  # mates counted apart
    assert rep["bases_changed"] == sum(t.column("corrected_bases").to_pylist()) + sum(
        t.column("corrected_bases2").to_pylist()
    )
