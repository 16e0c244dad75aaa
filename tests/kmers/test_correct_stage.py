"""The `correct` stage and command on art_illumina reads with known truth: accuracy, error-free
reads untouched, local and Ray runners and any chunk size giving the same bytes.

The simulations need art_illumina (tests/peers.py: skipped without it, a failure under
SEQRAY_REQUIRE_PEERS=1) and take seconds each, so they are integration tests; the CLI's
error handling needs neither."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqray.cli.main import main
from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline

from ..conftest import assert_user_error, flat
from ..peers import require_tool
from .countdata import correct_bench as _bench


@pytest.fixture(scope="module")
def sim(tmp_path_factory, examples):
    """phiX174 at 50×, HS25 errors, fixed seed; reads, truth and an error-free copy."""
    require_tool("art_illumina")
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


@pytest.mark.integration
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


@pytest.mark.integration
def test_corrected_reads_against_the_simulators_truth(tmp_path, sim):
    """Against ART's error-free reads (-ef): a read corrected to its truth reports exactly
    the errors ART put in it as `corrected_bases`; reads with errors come out equal to
    the truth, reads without stay as they were."""
    import pyarrow.parquet as pq

    bench, reads, truth, indel, _ = sim
    run_pipeline(_config(tmp_path / "o", reads), runner="local")
    t = pq.read_table(tmp_path / "o/pq").sort_by("record")
    names, orig = bench.read_fastq(reads)
    fixed = t.column("seq").to_pylist()
    counts = t.column("corrected_bases").to_pylist()
    assert len(fixed) == len(names)
    # the Parquet rows are the FASTQ output's reads
    assert bench.read_fastq(tmp_path / "o/reads.fastq")[1] == fixed
    erroneous = restored = errors = fixed_errors = untouched_ok = clean_reads = 0
    for name, o, c, n in zip(names, orig, fixed, counts):
        true = truth[name]
        if name in indel or len(true) != len(o):
            continue  # substitution-only correction cannot restore an indel read
        had = sum(a != b for a, b in zip(o, true))
        if had == 0:
            clean_reads += 1
            untouched_ok += c == o and n == 0
            continue
        erroneous += 1
        errors += had
        if c == true:
            restored += 1
            assert n == had, (name, n, had)  # every error fixed, nothing else touched
            fixed_errors += n
    # measured: 386 of 387 reads with errors restored (440 of 442 errors), all 1361
    # error-free reads untouched
    assert erroneous > 300 and clean_reads > 1000
    assert restored >= 0.98 * erroneous
    assert fixed_errors >= 0.98 * errors
    assert untouched_ok >= clean_reads - 2


@pytest.mark.integration
@pytest.mark.parametrize("k", [21, 25])
def test_close_error_pairs_at_small_k(tmp_path, sim, k):
    """At small k more reads hold two errors closer than k (adjacent low-quality errors,
    or two confident ones whose windows overlap): against ART's truth, such reads (two
    errors, no indel) come out equal to the truth, and no error-free read is touched."""
    bench, reads, truth, indel, _ = sim
    run_pipeline(_config(tmp_path / "o", reads, k=k), runner="local")
    names, orig = bench.read_fastq(reads)
    _, fixed = bench.read_fastq(tmp_path / "o/reads.fastq")
    pairs = restored = clean = touched = 0
    for name, o, c in zip(names, orig, fixed):
        true = truth[name]
        if name in indel or len(true) != len(o):
            continue
        errs = [i for i, (a, b) in enumerate(zip(o, true)) if a != b]
        if not errs:
            clean += 1
            touched += c != o
        elif len(errs) == 2 and errs[1] - errs[0] < k:
            pairs += 1
            restored += c == true
    # measured (phiX 50x, seed 5): 12 (k=21) and 17 (k=25) such reads, all restored (one of
    # each stayed wrong before pairs were tried)
    assert pairs >= 8
    assert restored == pairs
    assert clean > 1000 and touched == 0
    acc = bench.score(reads, tmp_path / "o/reads.fastq", truth, indel)
    assert acc["gain"] >= 0.98


@pytest.mark.integration
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


@pytest.mark.integration
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
    assert_user_error(capsys.readouterr().err, "nope.fq: no such file or directory")
    fq = tmp_path / "a.fq"
    fq.write_text("@r\nACGT\n+\nIIII\n")
    # invalid option values: refused naming the option or the value (exit code: the option
    # handling's, usage)
    for args, names in (
        (["--min-count", "zero"], ("--min-count", "zero")),
        (["-k", "40"], ("-k", "40")),
    ):
        assert main(["correct", str(fq), "-o", str(tmp_path / "o"), *args]) != 0
        err = flat(capsys.readouterr().err)
        assert_user_error(err)
        assert any(n in err for n in names), err
        assert not (tmp_path / "o").exists()
    bad = tmp_path / "bad.fq"
    bad.write_text("@r\nACGT\n+\nIIII\n@s\nACGT\nIIII\n")
    assert main(["correct", str(bad), "-o", str(tmp_path / "o2")]) == 1
    assert_user_error(
        capsys.readouterr().err, f"{bad}, record 2, line 7: expected a '+' separator line"
    )
    assert not (tmp_path / "o2" / "reads.fastq.gz").exists()


@pytest.mark.integration
def test_pairs_are_corrected_mate_by_mate(tmp_path, examples):
    import pyarrow.parquet as pq

    bench = _bench()
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
