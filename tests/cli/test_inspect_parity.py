"""`seqray inspect --json` equals `seqkit stats -a` on the columns both report."""

from __future__ import annotations

import gzip
import json
import subprocess

import numpy as np
import pytest

from seqray.cli.main import main

from ..conftest import write_random_fastq

# Q1 and Q3 are checked against an independent computation instead: Debian's seqkit 2.3.0
# reports quartiles below min_len when lengths repeat (Q1 = 75 for 2,000 reads all 150 bp).
SHARED = [
    "num_seqs",
    "sum_len",
    "min_len",
    "avg_len",
    "max_len",
    "Q2",
    "N50",
    "Q20(%)",
    "Q30(%)",
    "GC(%)",
]

pytestmark = [pytest.mark.integration, pytest.mark.peers("seqkit")]


def seqkit_stats(path) -> dict:
    out = subprocess.run(
        ["seqkit", "stats", "-a", "-T", str(path)], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    row = dict(zip(out[0].split("\t"), out[1].split("\t")))
    return {k: float(row[k].replace(",", "")) for k in SHARED}


def quartiles_truth(path) -> tuple[float, float, float]:
    """seqkit's documented method: medians of the lower and upper halves of the sorted
    lengths, both halves holding the median when the count is odd."""
    out = subprocess.run(
        ["seqkit", "fx2tab", "-n", "-l", str(path)], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    lens = sorted(int(line.rstrip("\t").rsplit("\t", 1)[-1]) for line in out)
    n = len(lens)
    if n == 0:
        return 0.0, 0.0, 0.0
    half = n // 2 + (n % 2)
    return (
        float(np.median(lens[:half])),
        float(np.median(lens)),
        float(np.median(lens[n - half :])),
    )


def seqray_stats(path, capsys, *extra) -> dict:
    assert main(["inspect", str(path), "--json", *extra]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert (row["Q1"], row["Q2"], row["Q3"]) == quartiles_truth(path)
    return {k: float(row[k]) for k in SHARED}


def _cases(examples, tmp_path):
    long = tmp_path / "long.fa"
    long.write_text(">chr\n" + "ACGT" * 300_000 + "\n>small\nGGC\n")
    mixed = tmp_path / "mixed.fa"
    mixed.write_text(">a\nACGTNN\nacg\n>b\n\n>c\nGGGGCCCCAT\n")
    return [
        examples / "phix_R1.fastq.gz",
        examples / "phix_R2.fastq.gz",
        examples / "real_interleaved.fastq.gz",
        examples / "phix174.fa",
        write_random_fastq(tmp_path / "r.fq", 999, seed=7),
        long,
        mixed,
    ]


def test_inspect_matches_seqkit(examples, tmp_path, capsys):
    for path in _cases(examples, tmp_path):
        assert seqray_stats(path, capsys) == seqkit_stats(path), path


def test_inspect_phred64_matches_seqkit_on_converted_file(examples, tmp_path, capsys):
    # seqkit has no Phred+64 option for stats: compare with the file converted to +33
    src = examples / "real_R1.fastq.gz"
    conv = tmp_path / "real33.fq"
    subprocess.run(
        [
            "seqkit",
            "convert",
            "--from",
            "Illumina-1.5+",
            "--to",
            "Sanger",
            str(src),
            "-o",
            str(conv),
        ],
        check=True,
        capture_output=True,
    )
    assert seqray_stats(src, capsys) == seqkit_stats(conv)


def test_inspect_split_chunks_and_threads_agree(examples, tmp_path, capsys):
    fq = tmp_path / "phix.fq"
    fq.write_bytes(gzip.decompress((examples / "phix_R1.fastq.gz").read_bytes()))
    whole = seqray_stats(fq, capsys)
    split = seqray_stats(fq, capsys, "--chunk-bytes", "10000", "--threads", "2")
    assert whole == split == seqkit_stats(fq)


def test_inspect_empty_file(tmp_path, capsys):
    e = tmp_path / "empty.fq"
    e.write_bytes(b"")
    assert seqray_stats(e, capsys) == seqkit_stats(e)
