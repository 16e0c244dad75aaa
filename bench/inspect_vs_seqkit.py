"""Benchmark: `seqray inspect` vs `seqkit stats -a` on the same FASTQ, same 2 cores.

Usage: python bench/inspect_vs_seqkit.py [FASTQ ...]   (default: bench/data/ecoli_150.fastq
and .fastq.gz, made by bench/make_data.sh). Prints a Markdown table of wall time, peak
memory and throughput, the ratio seqkit/seqray, and checks that the shared numbers agree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORES = "0,1"
SHARED = ["num_seqs", "sum_len", "min_len", "max_len", "N50", "Q20(%)", "Q30(%)", "GC(%)"]


def timed(cmd: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KiB) of this one child (wait4), stdout."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(["taskset", "-c", CORES, *cmd], stdout=out)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            sys.exit(f"{cmd} failed with exit code {proc.returncode}")
        out.seek(0)
        return wall, usage.ru_maxrss, out.read()


def seqkit_row(out: str) -> dict:
    lines = out.splitlines()
    return dict(zip(lines[0].split("\t"), lines[1].split("\t")))


def main(paths: list[str]) -> None:
    if not shutil.which("seqkit"):
        sys.exit("seqkit is not installed: apt-get install seqkit")
    seqray = str(Path(sys.executable).parent / "seqray")
    print(f"cores: taskset -c {CORES}, both with 2 threads; one run each after a warm-up read\n")
    print("| input | size | tool | wall s | MB/s | peak RSS MB | ratio (seqkit / seqray wall) |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for p in paths:
        size = os.path.getsize(p)
        with open(p, "rb") as f:  # page cache warm for both tools alike
            while f.read(64 << 20):
                pass
        sk_wall, sk_rss, sk_out = timed(["seqkit", "stats", "-a", "-T", "-j", "2", p])
        sr_wall, sr_rss, sr_out = timed([seqray, "inspect", "--json", "-j", "2", p])
        sk, sr = seqkit_row(sk_out), json.loads(sr_out)[0]
        for k in SHARED:
            if float(sk[k]) != float(sr[k]):
                sys.exit(f"{p}: {k} differs: seqkit {sk[k]} vs seqray {sr[k]}")
        mb = size / 1e6
        name = Path(p).name
        print(
            f"| {name} | {mb:,.0f} MB | seqkit stats -a | {sk_wall:.2f} | {mb / sk_wall:,.0f} "
            f"| {sk_rss / 1024:,.0f} | |"
        )
        print(
            f"| {name} | {mb:,.0f} MB | seqray inspect | {sr_wall:.2f} | {mb / sr_wall:,.0f} "
            f"| {sr_rss / 1024:,.0f} | **{sk_wall / sr_wall:.2f}×** |"
        )


if __name__ == "__main__":
    args = sys.argv[1:] or [
        str(HERE / "data" / "ecoli_150.fastq"),
        str(HERE / "data" / "ecoli_150.fastq.gz"),
    ]
    main(args)
