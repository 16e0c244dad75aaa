"""Every command, driven with what users get wrong: a missing, unreadable, damaged or empty
input, a directory for a file, an output that cannot be written, a bad option value, bad
YAML, an unknown stage. Each is a one-line error with its exit code (1: input or data,
2: usage) naming what is wrong; never an "internal error" or a traceback."""

from __future__ import annotations

import gzip
import os
import subprocess
from pathlib import Path

import pytest

from seqray.cli.main import main

from ..conftest import assert_user_error, seqray_cmd
from ..peers import require_tool

# a place no process may create files in, root included (Linux's /proc)
UNWRITABLE = "/proc/seqray-test/out"


@pytest.fixture
def files(tmp_path) -> dict[str, str]:
    reads = tmp_path / "reads.fq"
    reads.write_text("@r1\nACGTACGTACGTACGTACGTACGT\n+\n" + "I" * 24 + "\n")
    (tmp_path / "empty.fq").write_bytes(b"")
    (tmp_path / "dir").mkdir()
    (tmp_path / "notreads.fq").write_text("this is not a read file\n")
    (tmp_path / "trunc.fq.gz").write_bytes(gzip.compress(reads.read_bytes())[:20])
    (tmp_path / "bad.yaml").write_text("output: o\nstages: [\n")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00\x01")
    (tmp_path / "list.yaml").write_text("- read\n- write\n")
    (tmp_path / "unknown.yaml").write_text(
        f"output: {tmp_path / 'u'}\nstages:\n- read: {{paths: [{reads}]}}\n- frobnicate: {{}}\n"
    )
    (tmp_path / "ok.yaml").write_text(
        f"output: {tmp_path / 'y'}\nstages:\n- read: {{paths: [{reads}]}}\n- write: {{}}\n"
    )
    (tmp_path / "kmers.bin").write_bytes(b"\xff\xfe\xfa")
    names = ["reads.fq", "empty.fq", "dir", "notreads.fq", "trunc.fq.gz", "kmers.bin"]
    names += ["bad.yaml", "binary.yaml", "list.yaml", "unknown.yaml", "ok.yaml"]
    paths = {n.split(".")[0]: str(tmp_path / n) for n in names}
    return {**paths, "missing": str(tmp_path / "missing.fq"), "out": str(tmp_path / "out")}


# (arguments, exit code, what the message says); {name} is a path from `files`
CASES = [
    # inspect
    (["inspect", "{missing}"], 1, "missing.fq: no such file or directory"),
    (["inspect", "{dir}"], 1, "dir: directory holds no files"),
    (["inspect", "{notreads}"], 1, "not a FASTQ, FASTA, SAM, BAM, CRAM or Parquet file"),
    (["inspect", "{trunc}"], 1, "trunc.fq.gz: corrupt compressed data"),
    (["inspect", "{reads}", "-t", "0"], 2, "'-t'"),
    (["inspect", "{reads}", "--phred-offset", "42"], 2, "'--phred-offset'"),
    (["inspect", "{empty}"], 0, ""),
    # convert
    (["convert", "{missing}", "{out}.fq"], 1, "missing.fq: no such file or directory"),
    (["convert", "{dir}", "{out}.fq"], 1, "dir: directory holds no files"),
    (["convert", "{reads}", "{dir}"], 1, "dir: already exists"),
    (["convert", "{reads}", "{out}.csv"], 1, "out.csv: unknown output extension"),
    (["convert", "{reads}", "{reads}/x.fq"], 1, "reads.fq is a file, not a directory"),
    (["convert", "{reads}", UNWRITABLE + ".fq"], 1, "out.fq: cannot write here"),
    (["convert", "{trunc}", "{out}.fq"], 1, "trunc.fq.gz: corrupt compressed data"),
    (["convert", "{reads}", "{out}.fq", "--on-error", "maybe"], 2, "'--on-error'"),
    (["convert", "{empty}", "{out}.fq"], 0, "wrote 0 reads"),
    # run
    (["run", "{missing}"], 1, "missing.fq: cannot read config: No such file or directory"),
    (["run", "{dir}"], 1, "dir: cannot read config: Is a directory"),
    (["run", "{empty}"], 1, "the config must be a mapping with 'output' and 'stages'"),
    (["run", "{bad}"], 1, "bad.yaml: not valid YAML"),
    (["run", "{binary}"], 1, "binary.yaml: not a YAML text file"),
    (["run", "{list}"], 1, "the config must be a mapping"),
    (["run", "{unknown}"], 1, "stages[1]: unknown stage 'frobnicate'"),
    (["run", "{ok}", "--runner", "nowhere"], 2, "'--runner'"),
    (["run", "{ok}", "-t", "0"], 2, "'-t'"),
    (["run", "{ok}", "-o", UNWRITABLE], 1, "cannot write here: No such file or directory"),
    (["run", "{ok}", "--resume", "--overwrite"], 1, "--resume and --overwrite exclude"),
    # count
    (["count", "-k", "15", "{missing}", "-o", "{out}"], 1, "missing.fq: no such file"),
    (["count", "-k", "15", "{dir}", "-o", "{out}"], 1, "dir: directory holds no files"),
    (["count", "-k", "15", "{trunc}", "-o", "{out}"], 1, "corrupt compressed data"),
    (["count", "-k", "40", "{reads}", "-o", "{out}"], 2, "'-k'"),
    (["count", "-k", "15", "{reads}", "-o", "{out}", "--memory", "lots"], 2, "'--memory'"),
    (["count", "-k", "15", "{reads}", "-o", "{out}", "--runner", "x"], 2, "'--runner'"),
    (["count", "-k", "15", "{reads}", "-o", UNWRITABLE], 1, "cannot write here"),
    (["count", "-k", "15", "{empty}", "-o", "{out}"], 0, "0 distinct 15-mers"),
    (["count", "query", "{dir}", "ACG"], 1, "no k-mer counts here"),
    (["count", "query", "{dir}", "--file", "{missing}"], 1, "missing.fq: cannot read k-mers"),
    (["count", "query", "{dir}", "--file", "{dir}"], 1, "dir: cannot read k-mers"),
    (["count", "query", "{dir}", "--file", "{kmers}"], 1, "not a text file"),
    # correct
    (["correct", "{missing}", "-o", "{out}"], 1, "missing.fq: no such file or directory"),
    (["correct", "{dir}", "-o", "{out}"], 1, "dir: directory holds no files"),
    (["correct", "{reads}", "--mate", "{missing}", "-o", "{out}"], 1, "missing.fq: no such"),
    (["correct", "{reads}", "-o", "{out}", "-k", "5"], 2, "'-k'"),
    (["correct", "{reads}", "-o", "{out}", "--format", "csv"], 2, "'--format'"),
    (["correct", "{reads}", "-o", "{out}", "--min-count", "x"], 2, "'--min-count'"),
    (["correct", "{reads}", "-o", UNWRITABLE], 1, "cannot write here"),
    (["correct", "{empty}", "-o", "{out}"], 0, "0 reads"),
    # tokenize, tokenizer export
    (["tokenize", "{missing}", "-o", "{out}"], 1, "missing.fq: no such file or directory"),
    (["tokenize", "{notreads}", "-o", "{out}"], 1, "not a FASTQ"),
    (["tokenize", "{reads}", "-o", "{out}", "-k", "40"], 2, "'-k'"),
    (["tokenize", "{reads}", "-o", "{out}", "-t", "0"], 2, "'-t'"),
    (["tokenize", "{reads}", "-o", "{out}", "--scheme", "bpe", "--tokenizer", "{dir}"], 1, "dir"),
    (["tokenize", "{reads}", "-o", UNWRITABLE], 1, "cannot write here"),
    (["tokenize", "{empty}", "-o", "{out}"], 0, "0 tokens"),
    (["tokenizer", "export", "{reads}", "--scheme", "kmer"], 1, "reads.fq: tokenizer export"),
    (["tokenizer", "export", UNWRITABLE, "--scheme", "kmer"], 1, "cannot write here"),
    (["tokenizer", "export", "{out}", "--scheme", "bpe"], 2, "'--train'"),
    (["tokenizer", "export", "{out}", "--scheme", "bpe", "--train", "{missing}"], 1, "missing"),
    # qc
    (["qc", "-i", "{missing}"], 1, "missing.fq: no such file or directory"),
    (["qc", "-i", "{dir}", "--outdir", "{out}"], 1, "dir: directory holds no files"),
    (["qc", "-i", "{trunc}", "--outdir", "{out}"], 1, "corrupt compressed data"),
    (["qc", "-i", "{reads}", "-I", "{reads}", "-I", "{reads}", "--outdir", "{out}"], 1, "R2"),
    (["qc", "-i", "{reads}", "--outdir", "{out}", "-w", "0"], 2, "'-w'"),
    (["qc", "-i", "{reads}", "--outdir", "{out}", "--threads", "0"], 2, "'--threads'"),
    (["qc", "-i", "{reads}", "--outdir", "{out}", "-q", "500"], 2, "'-q'"),
    (["qc", "-i", "{reads}", "--outdir", "{out}", "--runner", "x"], 2, "'--runner'"),
    (["qc", "-i", "{reads}", "--outdir", "{out}", "-j", "{dir}"], 1, "but it is a directory"),
    (["qc", "-i", "{reads}", "--outdir", "{out}", "-h", UNWRITABLE], 1, "cannot write here"),
    (["qc", "-i", "{empty}", "--outdir", "{out}"], 0, "reads in 0"),
]


@pytest.mark.parametrize(
    "args, code, says", CASES, ids=[" ".join(c[0]).replace("/", "|") for c in CASES]
)
def test_bad_input_is_a_user_error(files, capsys, args, code, says):
    if UNWRITABLE in " ".join(args) and not os.path.isdir("/proc/self"):
        pytest.skip("needs Linux's /proc for a place nobody can write")
    args = [a.format(**files) for a in args]
    assert main([*args, *(["--runner", "local"] if _pipeline(args) else [])]) == code
    err = capsys.readouterr().err
    assert_user_error(err, says)
    if code == 1:
        assert err.startswith("error: "), err


def _pipeline(args: list[str]) -> bool:
    """Runs a pipeline and says no runner: kept in-process for the test."""
    runs = args[0] in ("run", "qc", "correct", "tokenize") or args[:2] == ["count", "-k"]
    return runs and "--runner" not in args


def _unreadable(tmp_path: Path) -> Path:
    f = tmp_path / "secret.fq"
    f.write_bytes(b"@r\nACGT\n+\nIIII\n")
    f.chmod(0o000)
    return f


@pytest.mark.parametrize(
    "args",
    [
        ["convert", "{f}", "{t}/o.fq"],
        ["count", "-k", "3", "{f}", "-o", "{t}/o"],
        ["correct", "{f}", "-o", "{t}/o"],
        ["tokenize", "{f}", "-o", "{t}/o"],
        ["qc", "-i", "{f}", "--outdir", "{t}/o"],
    ],
    ids=["convert", "count", "correct", "tokenize", "qc"],
)
def test_unreadable_input_is_a_user_error(tmp_path, run_env, args):
    """As a user without the right to read the file (root reads anything: it runs with the
    capabilities that let it ignore permissions dropped). `inspect`: tests/cli/test_cli.py."""
    f = _unreadable(tmp_path)
    cmd = [*seqray_cmd(), *(a.format(f=f, t=tmp_path) for a in args)]
    if os.geteuid() == 0:
        setpriv = require_tool("setpriv")
        cmd = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--", *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True, env=run_env, cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert_user_error(r.stderr.lower(), "secret.fq", "permission denied")
    assert not (tmp_path / "o" / "manifest.json").exists() and not (tmp_path / "o.fq").exists()


def test_a_typo_in_a_config_key_names_it(tmp_path, capsys):
    reads = tmp_path / "r.fq"
    reads.write_text("@a\nACGT\n+\nIIII\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"output: {tmp_path / 'o'}\nstages:\n- read: {{paths: [{reads}]}}\n"
        "- qc: {cut_tial: true}\n- write: {}\n"
    )
    assert main(["run", str(cfg)]) == 1
    assert_user_error(capsys.readouterr().err, "stages[1].qc.cut_tial: unknown key")
    assert not (tmp_path / "o").exists()  # the config is checked before anything is written
