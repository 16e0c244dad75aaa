"""QC speed and memory, seqray vs fastp: same gzipped input, same cores, both writing gzipped
FASTQ, with and without duplicate removal; also a 10× larger input to show linear cost.

    python bench/qc_vs_fastp.py --input bench/data/ecoli_1M.fastq.gz --threads 2 [--scale 10]

Both tools run pinned to the same CPUs (`taskset -c 0..threads-1`), fastp with `-w THREADS`,
`seqray qc` with `-w THREADS` (in-process runner). Options pinned so both do the same work:
fastp's defaults (-q 15 -u 40 -n 5 -l 15), `-A` (no SE adapter auto-detection) and `-G`
(no poly-G by read names). Wall time and peak RSS (the largest process of the tree,
resource.getrusage of the children) per run; ratios fastp / seqray (> 1: seqray faster).
Passed-read counts of both are printed and must agree. Prints JSON (and writes --json).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(cmd: list[str], cpus: str) -> dict:
    """Runs `cmd` pinned to `cpus` in a fresh child; wall seconds and peak RSS (MiB)."""
    code = (
        "import resource, subprocess, sys, time, json;"
        "t = time.perf_counter();"
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE);"
        "w = time.perf_counter() - t;"
        "m = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024;"
        "sys.stderr.write(r.stderr.decode()[-2000:] if r.returncode else '');"
        "print(json.dumps({'rc': r.returncode, 'wall_s': w, 'peak_rss_mib': m}))"
    )
    out = subprocess.run(
        ["taskset", "-c", cpus, sys.executable, "-c", code, *cmd],
        check=True,
        capture_output=True,
        text=True,
    )
    res = json.loads(out.stdout)
    if res["rc"]:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out.stderr}")
    return res


def count_reads(path: Path) -> int:
    with gzip.open(path, "rb") as f:
        return sum(1 for _ in f) // 4


def scaled_input(src: Path, scale: int, tmp: Path) -> Path:
    """`scale` identical copies of the input (gzip members concatenate): with --dedup every
    copy after the first is a duplicate, so the dedup run also shows a 90 % duplicate input."""
    if scale == 1:
        return src
    dst = tmp / f"input_x{scale}.fastq.gz"
    if not dst.exists():
        with open(dst, "wb") as out:
            for _ in range(scale):
                with open(src, "rb") as f:
                    shutil.copyfileobj(f, out)
    return dst


def run_pair(inp: Path, tmp: Path, threads: int, dedup: bool) -> dict:
    cpus = ",".join(str(i) for i in range(threads))
    extra = ["--dedup"] if dedup else []
    fo, so = tmp / "fastp.fq.gz", tmp / "seqray.fq.gz"
    fastp = ["fastp", "-i", str(inp), "-o", str(fo), "-w", str(threads), "-A", "-G"]
    fastp += ["-j", str(tmp / "fastp.json"), "-h", str(tmp / "fastp.html")] + extra
    seqray = [
        shutil.which("seqray") or str(Path(sys.executable).with_name("seqray")),
        "qc",
        "-i",
        str(inp),
        "-o",
        str(so),
    ]
    seqray += ["-w", str(threads), "-A", "-G", "--runner", "local", "--overwrite"] + extra
    f = timed(fastp, cpus)
    s = timed(seqray, cpus)
    return {
        "dedup": dedup,
        "fastp": f,
        "seqray": s,
        "speedup": f["wall_s"] / s["wall_s"],
        "memory_ratio_seqray_over_fastp": s["peak_rss_mib"] / f["peak_rss_mib"],
        "passed_reads": {"fastp": count_reads(fo), "seqray": count_reads(so)},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", type=Path, default=Path("bench/data/ecoli_1M.fastq.gz"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--scale", type=int, default=1, help="also run on N concatenated copies")
    ap.add_argument("--no-dedup", action="store_true", help="skip the --dedup runs")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not shutil.which("fastp"):
        raise SystemExit("fastp is not installed (Debian: apt-get install fastp)")
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as d:
        tmp = Path(d)
        report = {
            "input": str(args.input),
            "threads": args.threads,
            "load_before": os.getloadavg(),
            "runs": [],
        }
        scales = [1] + ([args.scale] if args.scale > 1 else [])
        for scale in scales:
            inp = scaled_input(args.input, scale, tmp)
            for dedup in [False] + ([] if args.no_dedup else [True]):
                t0 = time.time()
                r = run_pair(inp, tmp, args.threads, dedup)
                r["scale"] = scale
                r["input_bytes"] = inp.stat().st_size
                report["runs"].append(r)
                print(
                    f"x{scale} dedup={dedup}: fastp {r['fastp']['wall_s']:.2f} s "
                    f"{r['fastp']['peak_rss_mib']:.0f} MiB, seqray {r['seqray']['wall_s']:.2f} s "
                    f"{r['seqray']['peak_rss_mib']:.0f} MiB, speedup {r['speedup']:.2f}x "
                    f"({time.time() - t0:.0f} s)",
                    file=sys.stderr,
                )
        report["load_after"] = os.getloadavg()
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
