"""Paired QC on plain FASTQ: a pair read as one task vs split into chunks, and fastp.

    python bench/split_pairs.py [--r1 R1.fq --r2 R2.fq] [--runs 3] [--cpus 0,1]

Default input: art_illumina HS25 2×150 bp pairs (insert 400 ± 30, 60× E. coli, seed 7),
made in bench/data/ecoli_pe_{1,2}.fq from bench/data/ecoli_mg1655.fa if missing. seqray
runs `seqray run` on a pipeline read → qc → write (gzipped FASTQ pairs): with the Ray
runner once with `chunk_bytes` larger than the files (the pair is one task, as before
pairs were split) and once with --chunk-bytes chunks (default 64 MiB: R1 cut by byte
ranges, R2 placed by count), and with the in-process runner (T threads, T = number of
--cpus); fastp runs `-i -I -o -O -w T -A -G`.

Checks, exact, before any time is reported (else exit 3): fastp's `filtering_result`
counts (passed, low quality, too many N, too short, too long) equal each seqray run's
(manifest `reports.qc`), and every run passes the same multiset of pairs (name line,
sequence, quality of both mates together; order not compared). Then `--runs` alternating
rounds (bench/_harness.py: pinned, page cache warm, min–max). Each Ray run's wall time is
also given over the local runner's: the Ray runner's overhead, start-up included. Peak RSS
is the largest process of the run's tree that the run waited for (for the Ray runner: the
driver, not the workers).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import _harness as H
import yaml

HERE = Path(__file__).resolve().parent
WHOLE = 1 << 40
RUNS = (
    ("seqray, Ray runner, pair as one task", "ray", WHOLE),
    ("seqray, Ray runner, split pair", "ray", None),
    ("seqray, local runner, split pair", "local", None),
)


def make_pairs(data: Path) -> tuple[Path, Path]:
    r1, r2 = data / "ecoli_pe_1.fq", data / "ecoli_pe_2.fq"
    if r1.exists() and r2.exists():
        return r1, r2
    ref = data / "ecoli_mg1655.fa"
    if not ref.exists():
        sys.exit(f"{ref} is missing: run bash bench/make_data.sh first")
    subprocess.run(
        ["art_illumina", "-ss", "HS25", "-p", "-l", "150", "-f", "60", "-m", "400", "-s", "30"]
        + ["-rs", "7", "-na", "-q", "-i", str(ref), "-o", str(data / "ecoli_pe_")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return r1, r2


def seqray_tool(label: str, runner: str, chunk_bytes: int, out: Path, pair, args) -> H.Tool:
    cfg = {
        "output": str(out),
        "run": {"runner": runner, "num_cpus": args.threads, "chunk_bytes": chunk_bytes},
        "stages": [
            {"read": {"paths": [str(pair[0])], "mate_paths": [str(pair[1])]}},
            {"qc": {"disable_adapter_trimming": True, "trim_poly_g": False}},
            {"write": {"format": "fastq"}},
        ],
    }
    path = out.with_suffix(".yaml")
    path.write_text(yaml.safe_dump(cfg))
    cmd = [*H.seqray_command(args), "run", str(path), "--overwrite"]
    return H.Tool(label, cmd, list(pair), [out])


def check(fastp_json: Path, fastp_out: list[Path], runs: dict[str, Path]) -> int:
    """fastp's counts and passed pairs equal every seqray run's; the passed pairs."""
    H.expect_fastp_counts("", fastp_json, {n: out / "manifest.json" for n, out in runs.items()})
    digests = {"fastp": H.fastq_digest(fastp_out, "pairs")}
    for name, out in runs.items():
        digests[name] = H.fastq_digest([out / f"reads_R{m}.fastq.gz" for m in (1, 2)], "pairs")
    H.expect_equal("passed pairs (name, sequence, quality of both mates)", digests)
    return digests["fastp"].count


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--r1", type=Path)
    ap.add_argument("--r2", type=Path)
    ap.add_argument("--chunk-bytes", type=int, default=64 << 20, help="split runs' chunk size")
    H.add_common_args(ap)
    args = H.parse_args(ap)
    H.require("fastp")
    H.check_perturb(args, ["fastp", "seqray"])
    with H.scratch(args) as work:
        if args.small:
            pair = H.small_reads(work / "small", paired=True, gz=False)
            args.chunk_bytes = 100_000  # several chunks, so the pair is split
        else:
            pair = [args.r1, args.r2] if args.r1 else list(make_pairs(HERE / "data"))
        fi = H.inputs_for("fastp", pair, args)
        f1, f2, fj = work / "f1.fq.gz", work / "f2.fq.gz", work / "f.json"
        fastp = ["fastp", "-i", str(fi[0]), "-I", str(fi[1]), "-o", str(f1), "-O", str(f2)]
        fastp += ["-w", str(args.threads), "-A", "-G", "-j", str(fj), "-h", str(work / "f.html")]
        ts = [H.Tool("fastp", fastp, fi, [f1, f2, fj])]
        si = H.inputs_for("seqray", pair, args)
        for i, (label, runner, cb) in enumerate(RUNS):
            ts.append(seqray_tool(label, runner, cb or args.chunk_bytes, work / f"s{i}", si, args))

        H.check_round(ts, args.cpu_list)
        passed = check(fj, [f1, f2], {t.name: work / f"s{i}" for i, t in enumerate(ts[1:])})

        samples = H.rounds(ts, args.cpu_list, args.runs)
        # the Ray runner's overhead: its wall time over the local runner's, same input
        overhead = [(RUNS[i][0], RUNS[2][0]) for i in (0, 1)]
        summ = H.summary(samples, [("fastp", t.name) for t in ts[1:]] + overhead)
        size = sum(p.stat().st_size for p in pair) / 1e6
    report = {
        **H.context(args),
        "input": [str(p) for p in pair],
        "passed_pairs": passed,
        **summ,
    }
    lines = [
        f"input: {pair[0].name} + {pair[1].name}, {size:,.1f} MB, {passed:,} "
        f"pairs passed by every run; pinned to CPUs {args.cpus}; {args.runs} alternating rounds, "
        "page cache warm; ranges min–max\n",
        "| run | wall s | peak RSS MiB | fastp / run |",
        "|---|---:|---:|---:|",
        *H.table_rows(summ, {t.name: f"fastp / {t.name}" for t in ts[1:]}),
        "",
        *(
            f"{num} / local runner (wall): {H.fmt_span(summ['ratios'][f'{num} / {den}']['range'])}×"
            for num, den in overhead
        ),
    ]
    H.emit(report, lines, args)
    return 0


if __name__ == "__main__":
    H.refuse_on_disagreement(main)
