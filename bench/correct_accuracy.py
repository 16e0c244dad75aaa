"""Error correction, seqray vs Lighter: per-base accuracy against art_illumina's truth, speed
and peak memory, on the same simulated reads and the same CPUs.

    python bench/correct_accuracy.py --genome bench/data/ecoli_mg1655.fa --fold 30 [--runs 3]

art_illumina (HS25 profile, 150 bp, fixed seed) writes the reads and, with -ef, the
error-free copy of every read. Scoring, per base of each read whose length the simulator
kept (reads with an insertion or deletion are reported apart, since a substitution-only
corrector cannot fix them and base-by-base comparison does not apply):

- TP: a sequencing error changed to the true base;
- FP: a correct base changed, and an error changed to another wrong base (it is also an FN);
- FN: an error left wrong;
- gain = (TP - FP) / (TP + FN), as in the BFC, Lighter and Musket evaluations.

Accuracy is the result here, not a check: the two tools need not agree. What is checked,
before any time is reported (else exit 3): each corrected file holds the input's reads, by
name, in the input's order, each with its input length (a substitution corrector changes
bases only), and the truth covers every read. The scores come from the untimed check
round; then `--runs` alternating rounds time both (bench/_harness.py: pinned, page cache
warm, min–max). Prints a Markdown table (and writes the JSON report with --json).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

# tests/kmers/test_correct_stage.py loads this file by path: find _harness beside it
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as H  # noqa: E402

COMP = bytes.maketrans(b"ACGTN", b"TGCAN")


def simulate(genome: Path, fold: float, seed: int, prefix: Path, indels: bool = True) -> Path:
    """art_illumina HS25 150 bp single reads; returns the FASTQ (truth in PREFIX_errFree.sam)."""
    extra = [] if indels else ["-ir", "0", "-ir2", "0", "-dr", "0", "-dr2", "0"]
    return H.art_reads(genome, prefix, fold, seed, False, "-ef", "-na", *extra)[0]


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
        raise H.Disagreement(f"{corrected}: reads are not the input's, in the input's order")
    if [len(x) for x in os_] != [len(x) for x in cs]:
        raise H.Disagreement(f"{corrected}: a read's length differs from the input's")
    if any(n not in truth for n in on):
        raise H.Disagreement(f"{original}: a read has no error-free copy in the truth")
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


def genome_size(genome: Path) -> int:
    n = 0
    with open(genome, "rb") as f:
        for line in f:
            if not line.startswith(b">"):
                n += len(line.strip())
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--genome", type=Path, default=Path("bench/data/ecoli_mg1655.fa"))
    ap.add_argument("--fold", type=float, default=30)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("-k", type=int, default=31)
    ap.add_argument("--runner", default="local", choices=["local", "ray"])
    ap.add_argument("--no-indels", action="store_true", help="simulate substitutions only")
    H.add_common_args(ap)
    args = H.parse_args(ap)
    H.require("lighter", "art_illumina")
    H.check_perturb(args, ["seqray", "lighter"])
    with H.scratch(args) as work:
        genome = H.random_genome(work / "genome.fa", 50_000) if args.small else args.genome
        reads = simulate(genome, args.fold, args.seed, work / "sim", indels=not args.no_indels)
        truth, indel = read_truth(work / "sim")
        sr, li = H.inputs_for("seqray", [reads], args)[0], H.inputs_for("lighter", [reads], args)[0]
        out, lout = work / "seqray", work / "lighter"
        lout.mkdir(exist_ok=True)
        cmd = [*H.seqray_command(args), "correct", "-k", str(args.k), str(sr), "-o", str(out)]
        cmd += ["--threads", str(args.threads), "--runner", args.runner, "--compression", "none"]
        lighter = ["lighter", "-r", str(li), "-K", str(args.k), str(genome_size(genome))]
        lighter += ["-t", str(args.threads), "-od", str(lout)]
        lighter_out = lout / (li.name[: -len(".fq")] + ".cor.fq")
        ts = [
            H.Tool("seqray", cmd, [sr], [out]),
            H.Tool("lighter", lighter, [li], [lighter_out]),
        ]
        H.check_round(ts, args.cpu_list)
        acc = {
            "seqray": score(reads, out / "reads.fastq", truth, indel),
            "lighter": score(reads, lighter_out, truth, indel),
        }
        summ = H.summary(H.rounds(ts, args.cpu_list, args.runs), [("lighter", "seqray")])
    report = {
        **H.context(args),
        "genome": str(args.genome) if not args.small else "random 50 kb (--small)",
        "fold": args.fold,
        "k": args.k,
        "reads": len(truth),
        "accuracy": acc,
        **summ,
    }
    s = acc["seqray"]
    lines = [
        f"{len(truth):,} reads, {s['reads']:,} without indels scored ({s['bases']:,} bases, "
        f"{s['errors']:,} errors); pinned to CPUs {args.cpus}; {args.runs} alternating rounds, "
        "page cache warm; ranges min–max\n",
        "| tool | wall s | peak RSS MiB | lighter / seqray wall | TP | FP | FN | gain "
        "| FP % of bases | reads perfect after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row, a in zip(H.table_rows(summ, {"seqray": "lighter / seqray"}), acc.values()):
        lines.append(
            f"{row} {a['tp']:,} | {a['fp']:,} | {a['fn']:,} | {a['gain']} "
            f"| {a['fp_per_base_pct']} | {a['reads_perfect_after']:,} |"
        )
    H.emit(report, lines, args)
    return 0


if __name__ == "__main__":
    H.refuse_on_disagreement(main)
