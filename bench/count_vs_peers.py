"""k-mer counting, seqray vs jellyfish and KMC: same reads, same cores, one run, ratios.

    python bench/count_vs_peers.py --reads bench/data/ecoli_1M.fastq.gz --threads 2 -k 21 31

Each tool counts canonical k-mers and writes its histogram:
- jellyfish: `zcat READS | jellyfish count -C -m K -s S -t T` then `jellyfish histo`
  (S = 20 M entries per copy of the input, so no intermediate merge);
- KMC: `kmc -kK -ci1 -cs1000000 -tT READS` (singletons kept, counts not capped) then
  `kmc_tools transform ... histogram`;
- seqray: `seqray count -k K -C READS -t T --runner local` (counts shards, histo.txt,
  summary.json, manifest).
Wall time and peak RSS (GNU time, the largest process) of each, and whether the three
histograms agree. `--folds 1 4` also counts the input concatenated 4 times (the same reads
again: distinct k-mers stay, the total grows 4×) to show how time and memory grow.
Prints a JSON report and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def timed(cmd: str) -> tuple[float, int]:
    """(wall seconds, peak RSS in MiB) of a shell command line."""
    p = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M", "bash", "-c", f"set -eo pipefail; {cmd}"],
        capture_output=True,
        text=True,
    )
    if p.returncode:
        sys.exit(f"failed ({p.returncode}): {cmd}\n{p.stderr[-2000:]}")
    wall, rss = p.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss) // 1024


def histo(path: Path) -> str:
    """A histogram as "count number" lines without empty bins (KMC's has tabs and zeros)."""
    rows = (line.split() for line in path.read_text().splitlines())
    return "".join(f"{c} {n}\n" for c, n in rows if n != "0")


def run(reads: Path, k: int, threads: int, fold: int, work: Path) -> dict:
    seqray = [sys.executable, "-m", "seqray.cli.main"]
    out = work / f"seqray_{k}_{fold}"
    res: dict = {"k": k, "fold": fold}
    res["seqray"] = timed(
        f"{' '.join(seqray)} count -k {k} -C {reads} -o {out} -t {threads} "
        "--runner local --overwrite"
    )
    jf = work / "jf.db"
    res["jellyfish"] = timed(
        f"jellyfish count -C -m {k} -s {20 * fold}M -t {threads} -o {jf} <(zcat {reads}) "
        f"&& jellyfish histo -t {threads} {jf} > {work}/jf.histo"
    )
    tmp = work / "kmc_tmp"
    tmp.mkdir(exist_ok=True)
    res["kmc"] = timed(
        f"kmc -k{k} -ci1 -cs1000000 -t{threads} {reads} {work}/kmc {tmp} > /dev/null "
        f"&& kmc_tools transform {work}/kmc histogram {work}/kmc.histo -cx1000000 > /dev/null"
    )
    ours = (out / "histo.txt").read_text()
    res["histograms_agree"] = ours == histo(work / "jf.histo") == histo(work / "kmc.histo")
    summary = json.loads((out / "summary.json").read_text())
    res["distinct"], res["total"] = summary["distinct"], summary["total"]
    res["genome_size"] = summary["spectrum"]["genome_size"]
    for peer in ("jellyfish", "kmc"):
        res[f"speedup_vs_{peer}"] = round(res[peer][0] / res["seqray"][0], 2)
    shutil.rmtree(out)
    for p in work.glob("kmc*"):
        if p.is_file():
            p.unlink()
    jf.unlink(missing_ok=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reads", type=Path, default=Path("bench/data/ecoli_1M.fastq.gz"))
    ap.add_argument("-k", type=int, nargs="+", default=[21, 31])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--folds", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--json", type=Path, help="Also write the report here.")
    args = ap.parse_args()
    for tool in ("jellyfish", "kmc", "kmc_tools", "zcat"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (Debian: jellyfish, kmc)")
    results = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as d:
        work = Path(d)
        for fold in args.folds:
            reads = args.reads
            if fold > 1:  # gzip members concatenate into one valid gzip file
                reads = work / f"x{fold}.fastq.gz"
                with open(reads, "wb") as f:
                    for _ in range(fold):
                        f.write(args.reads.read_bytes())
            for k in args.k:
                r = run(reads, k, args.threads, fold, work)
                print(json.dumps(r), file=sys.stderr)
                results.append(r)
    load = os.getloadavg()
    report = {"reads": str(args.reads), "threads": args.threads, "load": load, "runs": results}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(
        "\n| input | k | seqray s / MiB | jellyfish s / MiB | KMC s / MiB "
        "| vs jellyfish | vs KMC | histograms equal |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        cells = [f"{r[t][0]:.1f} / {r[t][1]}" for t in ("seqray", "jellyfish", "kmc")]
        print(
            f"| {r['fold']}× | {r['k']} | {' | '.join(cells)} | {r['speedup_vs_jellyfish']}× "
            f"| {r['speedup_vs_kmc']}× | {r['histograms_agree']} |"
        )


if __name__ == "__main__":
    main()
