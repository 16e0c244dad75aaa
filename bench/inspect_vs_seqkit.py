"""`seqray inspect` vs `seqkit stats -a` on the same FASTQ: wall time, peak RSS, ratio.

    python bench/inspect_vs_seqkit.py [FASTQ ...] [--runs 3] [--cpus 0,1]

Default input: bench/data/ecoli_150.fastq and .fastq.gz (bench/make_data.sh); `--small`: a
tiny generated FASTQ and its gzip. Commands: `seqkit stats -a -T -j T FILE` and
`seqray inspect --json -t T FILE` (T = number of --cpus). Check: every shared statistic
(num_seqs, sum_len, min_len, max_len, N50, Q20(%), Q30(%), GC(%)) equal, as both print it;
otherwise exit 3 with no time. Then `--runs` alternating rounds (bench/_harness.py).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import _harness as H

HERE = Path(__file__).resolve().parent
SHARED = ["num_seqs", "sum_len", "min_len", "max_len", "N50", "Q20(%)", "Q30(%)", "GC(%)"]


def seqkit_row(out: str) -> dict:
    lines = out.splitlines()
    return dict(zip(lines[0].split("\t"), lines[1].split("\t")))


def tools(path: Path, args) -> list[H.Tool]:
    t = str(args.threads)
    sk = H.inputs_for("seqkit", [path], args)[0]
    sr = H.inputs_for("seqray", [path], args)[0]
    return [
        H.Tool("seqkit", ["seqkit", "stats", "-a", "-T", "-j", t, str(sk)], [sk]),
        H.Tool("seqray", [*H.seqray_command(args), "inspect", "--json", "-t", t, str(sr)], [sr]),
    ]


def number(v: str | float) -> float | int:
    """A statistic as a number (an int when whole, so messages read 4570, not 4570.0)."""
    f = float(v)
    return int(f) if f.is_integer() else f


def check(path: Path, out: dict[str, H.Sample]) -> None:
    sk, sr = seqkit_row(out["seqkit"].stdout), json.loads(out["seqray"].stdout)[0]
    for k in SHARED:
        H.expect_equal(f"{path.name}: {k}", {"seqkit": number(sk[k]), "seqray": number(sr[k])})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="*", type=Path)
    H.add_common_args(ap)
    args = H.parse_args(ap)
    H.require("seqkit")
    H.check_perturb(args, ["seqkit", "seqray"])
    with H.scratch(args):
        if args.small:
            fq = H.small_reads(args.workdir / "small", gz=False)[0]
            paths = [fq, H.gzip_copy(fq)]
        else:
            paths = args.paths or [HERE / "data/ecoli_150.fastq", HERE / "data/ecoli_150.fastq.gz"]
        cases = [(p, tools(p, args)) for p in paths]
        for p, ts in cases:  # every input checked before any timing
            check(p, H.check_round(ts, args.cpu_list, f"{p.name} "))
        report = {**H.context(args), "inputs": {}}
        lines = [
            f"pinned to CPUs {args.cpus}, {args.threads} threads each; {args.runs} alternating "
            "rounds, page cache warm; ranges min–max\n",
            "| input | size MB | tool | wall s | peak RSS MiB | seqkit / seqray wall |",
            "|---|---:|---|---:|---:|---:|",
        ]
        for p, ts in cases:
            summ = H.summary(
                H.rounds(ts, args.cpu_list, args.runs, f"{p.name} "), [("seqkit", "seqray")]
            )
            report["inputs"][str(p)] = summ
            prefix = f"{p.name} | {p.stat().st_size / 1e6:,.1f} | "
            lines += H.table_rows(summ, {"seqray": "seqkit / seqray"}, prefix)
    H.emit(report, lines, args)
    return 0


if __name__ == "__main__":
    H.refuse_on_disagreement(main)
