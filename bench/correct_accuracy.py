"""Error correction, seqray vs Lighter: per-base accuracy against art_illumina's truth, speed
and peak memory, on the same simulated reads and the same cores.

    python bench/correct_accuracy.py --genome bench/data/ecoli_mg1655.fa --fold 30 --threads 2

art_illumina (HS25 profile, 150 bp, fixed seed) writes the reads and, with -ef, the
error-free copy of every read. Scoring, per base of each read whose length the simulator
kept (reads with an insertion or deletion are reported apart, since a substitution-only
corrector cannot fix them and base-by-base comparison does not apply):

- TP: a sequencing error changed to the true base;
- FP: a correct base changed, and an error changed to another wrong base (it is also an FN);
- FN: an error left wrong;
- gain = (TP - FP) / (TP + FN), as in the BFC, Lighter and Musket evaluations.

Prints a JSON report (and writes it with --json); the table in docs/benchmarks.md comes
from it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

COMP = bytes.maketrans(b"ACGTN", b"TGCAN")


def simulate(genome: Path, fold: float, seed: int, prefix: Path, indels: bool = True) -> Path:
    """art_illumina HS25 150 bp single reads; returns the FASTQ (truth in PREFIX_errFree.sam)."""
    cmd = ["art_illumina", "-ss", "HS25", "-i", str(genome), "-l", "150", "-f", str(fold)]
    cmd += ["-o", str(prefix), "-ef", "-na", "-rs", str(seed), "-q"]
    if not indels:
        cmd += ["-ir", "0", "-ir2", "0", "-dr", "0", "-dr2", "0"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return Path(f"{prefix}.fq")


def read_truth(prefix: Path) -> tuple[dict[str, bytes], set[str]]:
    """name → error-free read (in read orientation), and the names of reads with indels."""
    truth: dict[str, bytes] = {}
    with open(f"{prefix}_errFree.sam", "rb") as f:
        for line in f:
            if line.startswith(b"@"):
                continue
            cols = line.split(b"\t", 10)
            seq = cols[9]
            if int(cols[1]) & 16:
                seq = seq.translate(COMP)[::-1]
            truth[cols[0].decode()] = seq
    indel: set[str] = set()
    with open(f"{prefix}.sam", "rb") as f:
        for line in f:
            if line.startswith(b"@"):
                continue
            cols = line.split(b"\t", 10)
            ops = re.findall(rb"(\d+)([MIDNSHP=X])", cols[5])
            span = sum(int(n) for n, op in ops if op in b"M=XDN")
            # art writes some reads with an indel as a plain match whose span is not the read's
            if any(op in b"ID" for _, op in ops) or span != len(cols[9]):
                indel.add(cols[0].decode())
    return truth, indel


def read_fastq(path: Path) -> tuple[list[str], list[bytes]]:
    import gzip

    opener = gzip.open if str(path).endswith(".gz") else open
    names, seqs = [], []
    with opener(path, "rb") as f:
        while True:
            head = f.readline()
            if not head:
                break
            seq = f.readline().rstrip(b"\n")
            f.readline()
            f.readline()
            names.append(head[1:].split()[0].decode())
            seqs.append(seq)
    return names, seqs


def score(original: Path, corrected: Path, truth: dict[str, bytes], indel: set[str]) -> dict:
    """Per-base TP/FP/FN/gain over the reads without indels; reads matched by name."""
    on, os_ = read_fastq(original)
    cn, cs = read_fastq(corrected)
    if on != cn:
        raise SystemExit(f"{corrected}: reads are not the input's, in the input's order")
    keep = [i for i, n in enumerate(on) if n not in indel and len(truth[n]) == len(os_[i])]
    width = max((len(os_[i]) for i in keep), default=0)

    def matrix(seqs: list[bytes]) -> np.ndarray:
        m = np.zeros((len(keep), width), np.uint8)
        for r, i in enumerate(keep):  # a scoring script, not a hot path
            m[r, : len(seqs[i])] = np.frombuffer(seqs[i], np.uint8)
        return m

    t = matrix([truth[n] for n in on])
    o = matrix(os_)
    c = matrix(cs)
    err = o != t
    changed = c != o
    right = c == t
    tp = int((err & right).sum())
    fp = int((~err & changed).sum() + (err & changed & ~right).sum())
    fn = int((err & ~right).sum())
    bases = int((t != 0).sum())
    indel_changed = sum(
        sum(a != b for a, b in zip(os_[i], cs[i])) for i, n in enumerate(on) if n in indel
    )
    return {
        "reads": len(keep),
        "bases": bases,
        "errors": int(err.sum()),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "gain": round((tp - fp) / max(tp + fn, 1), 4),
        "fp_per_base_pct": round(100 * fp / max(bases, 1), 4),
        "reads_perfect_after": int((~(c != t).any(axis=1)).sum()),
        "indel_reads": len(on) - len(keep),
        "indel_reads_bases_changed": int(indel_changed),
    }


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, int]:
    """(wall seconds, peak RSS in MiB of the process tree's largest process)."""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode:
        sys.stderr.write(p.stderr)
        raise SystemExit(f"failed: {' '.join(cmd)}")
    peak_kib = int(p.stderr.strip().splitlines()[-1])
    return wall, peak_kib // 1024


def genome_size(genome: Path) -> int:
    n = 0
    with open(genome, "rb") as f:
        for line in f:
            if not line.startswith(b">"):
                n += len(line.strip())
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--genome", type=Path, default=Path("bench/data/ecoli_mg1655.fa"))
    ap.add_argument("--fold", type=float, default=30)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("-k", type=int, default=31)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runner", default="local", choices=["local", "ray"])
    ap.add_argument("--no-indels", action="store_true", help="simulate substitutions only")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="seqray-correct-"))
    work.mkdir(parents=True, exist_ok=True)
    prefix = work / "sim"
    reads = simulate(args.genome, args.fold, args.seed, prefix, indels=not args.no_indels)
    truth, indel = read_truth(prefix)
    report: dict = {
        "genome": str(args.genome),
        "fold": args.fold,
        "k": args.k,
        "threads": args.threads,
        "reads": len(truth),
        "load_before": os.getloadavg()[0],
    }

    out = work / "seqray"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "seqray.cli.main", "correct", "-k", str(args.k), str(reads)]
    cmd += ["-o", str(out), "--threads", str(args.threads), "--runner", args.runner]
    cmd += ["--compression", "none"]
    wall, peak = timed(cmd)
    acc = score(reads, out / "reads.fastq", truth, indel)
    report["seqray"] = {"seconds": round(wall, 2), "peak_mib": peak, **acc}

    lout = work / "lighter"
    shutil.rmtree(lout, ignore_errors=True)
    lout.mkdir()
    size = genome_size(args.genome)
    cmd = ["lighter", "-r", str(reads), "-K", str(args.k), str(size), "-t", str(args.threads)]
    wall, peak = timed([*cmd, "-od", str(lout)])
    acc = score(reads, lout / "sim.cor.fq", truth, indel)
    report["lighter"] = {"seconds": round(wall, 2), "peak_mib": peak, **acc}
    report["speed_ratio_lighter_over_seqray"] = round(
        report["lighter"]["seconds"] / report["seqray"]["seconds"], 3
    )
    report["load_after"] = os.getloadavg()[0]
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
