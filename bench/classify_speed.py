"""Prediction throughput: `seqray classify predict` vs `kraken2` on the same reads and cores
(issue 17, "Throughput").

    python bench/classify_speed.py [--data bench/data/embed] [--copies 4] [--runs 3]
        [--cpus 0,1] [--model bench/data/classify/seqray/distinct/model-exact13]
        [--kraken-db bench/data/classify/distinct/kraken2_db] [--json FILE]

The input is every read set of the "distinct" dataset (train and test, all error rates)
concatenated `--copies` times into one FASTQ (names made unique), so start-up is a small
part of each run. The seqray model and the Kraken 2 database are those that
`bench/classify_accuracy.py` and `bench/classify_peers.py` built from the same six
genomes. Both commands run pinned to --cpus (seqray `--threads N`, kraken2 `--threads N`),
alternating for --runs rounds on a warm page cache; the whole command is timed (start-up,
loading the model or database, reading, writing), and reads/s is reads / wall seconds.
Before timing, one run of each checks that both classified every read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import _harness as H
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent


def build_input(data: Path, copies: int, dest: Path) -> int:
    """The concatenated FASTQ; returns its number of reads."""
    if dest.exists():
        return sum(1 for _ in dest.open("rb")) // 4
    parts = sorted((data / "distinct").glob("*/*.fastq"))
    n = 0
    tmp = dest.with_name(dest.name + ".tmp")
    with tmp.open("wb") as out:
        for c in range(copies):
            for p in parts:
                lines = p.read_bytes().split(b"\n")
                for i in range(0, len(lines) - 3, 4):
                    out.write(lines[i].split(b" ")[0] + b"_%d\n" % c)
                    out.write(b"\n".join(lines[i + 1 : i + 4]) + b"\n")
                    n += 1
    tmp.rename(dest)
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HERE / "data" / "embed")
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cpus", default="0,1")
    work = HERE / "data" / "classify"
    ap.add_argument("--model", type=Path, default=work / "seqray" / "distinct" / "model-exact13")
    ap.add_argument("--kraken-db", type=Path, default=work / "distinct" / "kraken2_db")
    ap.add_argument("--seqray", default=f"{sys.executable} -m seqray.cli.main")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    H.require("kraken2")
    cpus = [int(c) for c in args.cpus.split(",")]
    t = str(len(cpus))
    fq = work / "speed" / f"reads_x{args.copies}.fastq"
    fq.parent.mkdir(parents=True, exist_ok=True)
    reads = build_input(args.data, args.copies, fq)
    out = work / "speed" / "seqray-pred"
    kout = work / "speed" / "kraken2.out"
    seqray = H.Tool(
        "seqray",
        [*args.seqray.split(), "classify", "predict", str(fq), "--model", str(args.model),
         "-o", str(out), "--threads", t, "--overwrite", "--quiet"],
        [fq],
    )  # fmt: skip
    kraken = H.Tool(
        "kraken2",
        f"kraken2 --db {args.kraken_db} --threads {t} --output {kout} {fq} 2>/dev/null",
        [fq],
        [kout],
    )
    H.check_round([seqray, kraken], cpus)
    got = sum(pq.read_metadata(p).num_rows for p in (out / "predictions").glob("*.parquet"))
    if got != reads or sum(1 for _ in kout.open()) != reads:
        sys.exit(f"a tool did not classify all {reads:,} reads")
    samples = H.rounds([seqray, kraken], cpus, args.runs)
    summ = H.summary(samples, [("kraken2", "seqray")])
    lines = [
        f"{reads:,} reads, {len(cpus)} CPUs, {args.runs} rounds",
        "",
        "| tool | wall s | reads/s | peak RSS MiB |",
        "|---|---|---|---|",
    ]
    for name, s in summ["tools"].items():
        lo, hi = s["wall_s_range"]
        lines.append(
            f"| {name} | {H.fmt_span(s['wall_s_range'])} | {reads / hi:,.0f}–{reads / lo:,.0f} "
            f"| {H.fmt_span(s['peak_rss_mib_range'], '.0f')} |"
        )
    r = summ["ratios"]["kraken2 / seqray"]["range"]
    lines.append(f"\nkraken2 wall / seqray wall: {H.fmt_span(r, suffix='×')}")
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"reads": reads, **summ}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
