"""Paired QC on plain FASTQ: a pair read as one task vs split into chunks, and fastp.

    python bench/split_pairs.py [--r1 R1.fq --r2 R2.fq] [--threads 2]

Default input: art_illumina HS25 2×150 bp pairs (insert 400 ± 30, 60× E. coli, seed 7),
made in bench/data/ecoli_pe_{1,2}.fq from bench/data/ecoli_mg1655.fa if missing. Each run
is pinned to the same CPUs; seqray runs `seqray run` on a pipeline read → qc → write
(gzipped FASTQ pairs): with the Ray runner once with `chunk_bytes` larger than the files
(the pair is one task, as before pairs were split) and once with the default 64 MiB
chunks (R1 cut by byte ranges, R2 placed by count), and with the in-process runner
(THREADS threads); fastp runs `-i -I -o -O -w THREADS -A -G`. The passed pairs of every
run must agree, and the seqray runs must write the same reads. Peak RSS is the largest
process of the run's tree that the run waited for (for the Ray runner: the driver, not
the workers). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from qc_vs_fastp import timed

HERE = Path(__file__).resolve().parent
WHOLE = 1 << 40


def make_pairs(data: Path) -> tuple[Path, Path]:
    r1, r2 = data / "ecoli_pe_1.fq", data / "ecoli_pe_2.fq"
    if r1.exists() and r2.exists():
        return r1, r2
    ref = data / "ecoli_mg1655.fa"
    if not ref.exists():
        sys.exit(f"{ref} is missing: run bash bench/make_data.sh first")
    prefix = data / "ecoli_pe_"
    subprocess.run(
        ["art_illumina", "-ss", "HS25", "-p", "-l", "150", "-f", "60", "-m", "400", "-s", "30"]
        + ["-rs", "7", "-na", "-q", "-i", str(ref), "-o", str(prefix)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return r1, r2


def digest_gz(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    lines = 0
    with gzip.open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            h.update(block)
            lines += block.count(b"\n")
    return lines // 4, h.hexdigest()


def seqray_run(r1, r2, out: Path, runner: str, chunk_bytes: int, threads: int, cpus: str):
    cfg = {
        "output": str(out),
        "run": {"runner": runner, "num_cpus": threads, "chunk_bytes": chunk_bytes},
        "stages": [
            {"read": {"paths": [str(r1)], "mate_paths": [str(r2)]}},
            {"qc": {"disable_adapter_trimming": True, "trim_poly_g": False}},
            {"write": {"format": "fastq"}},
        ],
    }
    path = out.with_suffix(".yaml")
    path.write_text(yaml.safe_dump(cfg))
    seqray = str(Path(sys.executable).parent / "seqray")
    res = timed([seqray, "run", str(path), "--overwrite"], cpus)
    res["out"] = [digest_gz(out / f"reads_R{m}.fastq.gz") for m in (1, 2)]
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--r1", type=Path)
    ap.add_argument("--r2", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    r1, r2 = (args.r1, args.r2) if args.r1 else make_pairs(HERE / "data")
    cpus = f"0-{args.threads - 1}"
    rows = []
    with tempfile.TemporaryDirectory(dir=HERE / "data") as tmp:
        tmp = Path(tmp)
        fp = timed(
            ["fastp", "-i", str(r1), "-I", str(r2), "-o", str(tmp / "f1.fq.gz")]
            + ["-O", str(tmp / "f2.fq.gz"), "-w", str(args.threads), "-A", "-G"]
            + ["-j", str(tmp / "f.json"), "-h", str(tmp / "f.html")],
            cpus,
        )
        fp_pairs = digest_gz(tmp / "f1.fq.gz")[0]
        rows.append(("fastp (2 threads)", fp, fp_pairs))
        runs = {}
        for label, runner, cb in (
            ("seqray, Ray runner, pair as one task", "ray", WHOLE),
            ("seqray, Ray runner, split pair", "ray", 64 << 20),
            ("seqray, local runner, split pair", "local", 64 << 20),
        ):
            res = seqray_run(r1, r2, tmp / f"s{len(runs)}", runner, cb, args.threads, cpus)
            runs[label] = res
            rows.append((label, res, res["out"][0][0]))
    outs = {tuple(r["out"]) for r in runs.values()}
    if len(outs) != 1:
        sys.exit(f"the seqray runs wrote different reads: {runs}")
    if len({n for *_, n in rows}) != 1:
        sys.exit(f"passed pairs differ: {[(label, n) for label, _, n in rows]}")
    size = (r1.stat().st_size + r2.stat().st_size) / 1e6
    print(
        f"input: {r1.name} + {r2.name}, {size:,.0f} MB, {rows[0][2]:,} pairs passed; cores {cpus}\n"
    )
    print("| run | wall s | peak RSS MiB | fastp / run |")
    print("|---|---:|---:|---:|")
    for label, res, _ in rows:
        ratio = fp["wall_s"] / res["wall_s"]
        print(f"| {label} | {res['wall_s']:.1f} | {res['peak_rss_mib']:,.0f} | {ratio:.2f}× |")


if __name__ == "__main__":
    main()
