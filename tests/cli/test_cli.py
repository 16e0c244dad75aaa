"""The command line: exit codes, messages, conversions, help."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from seqray.cli.main import main


def test_help_on_every_command(capsys):
    for cmd in ([], ["inspect"], ["convert"], ["run"]):
        assert main([*cmd, "--help"]) == 0
        assert "Usage" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys):
    assert main(["inspect"]) == 2
    assert main(["frobnicate"]) == 2
    assert main(["convert", "a.fq", "b.fq", "--on-error", "maybe"]) == 2


def test_missing_and_bad_files_exit_1(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nope.fq")]) == 1
    assert "nope.fq: no such file or directory" in capsys.readouterr().err
    bad = tmp_path / "bad.fq"
    bad.write_bytes(b"@r1\nACGT\n+\nIIII\n@r2\nACGT\nIIII\n")
    assert main(["inspect", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.fq, record 2, line 7: expected a '+' separator line" in " ".join(err.split())


def test_unreadable_file_exits_1(tmp_path):
    f = tmp_path / "secret.fq"
    f.write_bytes(b"@r\nA\n+\nI\n")
    f.chmod(0o000)
    cmd = [sys.executable, "-m", "seqray.cli.main", "inspect", str(f)]
    if os.geteuid() == 0:
        # root reads anything: drop the capabilities that let it ignore permissions
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv (util-linux) to drop capabilities")
        cmd = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--", *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert "secret.fq" in r.stderr and "permission denied" in r.stderr.lower()


def test_invalid_config_exits_1(tmp_path, capsys):
    c = tmp_path / "c.yaml"
    c.write_text(
        yaml.safe_dump(
            {"output": "o", "stages": [{"read": {"paths": ["x"]}}, {"write": {"format": "csv"}}]}
        )
    )
    assert main(["run", str(c)]) == 1
    assert "stages[1].write.format" in capsys.readouterr().err


def test_convert_round_trips(tmp_path, examples, capsys):
    src = examples / "phix_R1.fastq.gz"
    text = gzip.decompress(src.read_bytes())
    for mid in ("x.parquet", "x.bam", "x.fastq"):
        assert main(["convert", str(src), str(tmp_path / mid)]) == 0
        assert main(["convert", str(tmp_path / mid), str(tmp_path / f"{mid}.fq.gz")]) == 0
        assert gzip.decompress((tmp_path / f"{mid}.fq.gz").read_bytes()) == text, mid
    assert main(["convert", str(src), str(tmp_path / "x.fa")]) == 0
    fa = (tmp_path / "x.fa").read_text().splitlines()
    fq = text.decode().splitlines()
    assert fa[0::2] == [">" + h[1:] for h in fq[0::4]] and fa[1::2] == fq[1::4]


def test_convert_leaves_no_partial_output(tmp_path, capsys):
    bad = tmp_path / "bad.fq"
    bad.write_bytes(b"@r1\nACGT\n+\nIIII\n" * 1000 + b"@r2\nACGT\n+\nIII\n")
    assert main(["convert", str(bad), str(tmp_path / "out.fq.gz")]) == 1
    assert "record 1001" in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["bad.fq"]


def test_convert_skip_writes_good_records(tmp_path, capsys):
    bad = tmp_path / "bad.fq"
    bad.write_bytes(b"@r1\nACGT\n+\nIIII\n@r2\nACGT\n+\nIII\n@r3\nGG\n+\nII\n")
    assert main(["convert", str(bad), str(tmp_path / "out.fq"), "--on-error", "skip"]) == 0
    assert (tmp_path / "out.fq").read_bytes() == b"@r1\nACGT\n+\nIIII\n@r3\nGG\n+\nII\n"


def test_run_summary_says_what_each_stage_found(tmp_path, capsys):
    # a, and its duplicate b; c too short for -l 15: one read of ACGTTGCA x4 is left
    read = "ACGTTGCA" * 4
    (tmp_path / "r.fq").write_text(
        f"@a\n{read}\n+\n{'I' * 32}\n@b\n{read}\n+\n{'I' * 32}\n@c\nACGT\n+\nIIII\n"
    )
    c = tmp_path / "c.yaml"
    stages = [
        {"read": {"paths": [str(tmp_path / "r.fq")]}},
        {"qc": {"dedup": True}},
        {"count": {"k": 5}},
        {"tokenize": {"scheme": "kmer", "k": 3}},
        {"write": {"format": "parquet"}},
    ]
    c.write_text(yaml.safe_dump({"output": str(tmp_path / "out"), "stages": stages}))
    assert main(["run", str(c), "--runner", "local"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "qc: 1 of 3 reads passed (33.33%); filtered: too short 1; duplicates 1" in err
    # the 32 bases hold 28 5-mers, 8 distinct (period 8), each seen 3 or 4 times
    assert "count: 8 distinct 5-mers, 28 in all, 0 seen once" in err
    # 30 3-mers, 8 distinct of the 64 3-mers (specials do not count as coverage)
    assert "tokenize: 30 tokens in 1 rows (30.0 per read); 8 distinct (12.5% of the" in err
