"""k-mer counting, seqray vs jellyfish and KMC: same reads, same CPUs, ratios.

    python bench/count_vs_peers.py --reads bench/data/ecoli_1M.fastq.gz -k 21 31 --folds 1 4

Each tool counts canonical k-mers and writes its histogram (T = number of --cpus):
- jellyfish: `jellyfish count -C -m K -s S -t T <(zcat READS)` then `jellyfish histo`
  (S = --jf-size per copy of the input, so no intermediate merge);
- KMC: `kmc -kK -ci1 -cs1000000 -tT READS` (singletons kept, counts not capped) then
  `kmc_tools transform ... histogram`;
- seqray: `seqray count -k K -C READS -t T --runner local` (counts shards, histo.txt,
  summary.json, manifest).
`--folds 1 4` also counts the input concatenated 4 times (the same reads again: distinct
k-mers stay, the total grows 4×).

Checks, exact, before any time is reported (else exit 3): the three histograms (non-empty
bins) are equal, and the three sets of (k-mer, count) pairs are equal — `jellyfish dump -c`,
`kmc_tools transform … dump` and seqray's count shards, compared as order-independent
digests streamed in chunks (bench/_harness.py), so memory stays bounded. Then `--runs`
alternating rounds (pinned, page cache warm, min–max).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
from pathlib import Path

import _harness as H
import numpy as np

PEERS = ("jellyfish", "kmc")


def q(path: Path) -> str:
    return shlex.quote(str(path))


def tools(reads: Path, k: int, fold: int, d: Path, args) -> list[H.Tool]:
    t = args.threads
    sr, jf, km = (H.inputs_for(n, [reads], args)[0] for n in ("seqray", *PEERS))
    seqray = [*H.seqray_command(args), "count", "-k", str(k), "-C", str(sr), "-o", str(d / "sr")]
    size = f"{int(args.jf_size.rstrip('M')) * fold}M"
    return [
        H.Tool(
            "seqray", seqray + ["-t", str(t), "--runner", "local", "--overwrite"], [sr], [d / "sr"]
        ),
        H.Tool(
            "jellyfish",
            f"jellyfish count -C -m {k} -s {size} -t {t} -o {q(d / 'jf.db')} <(zcat {q(jf)}) "
            f"&& jellyfish histo -t {t} {q(d / 'jf.db')} > {q(d / 'jf.histo')}",
            [jf],
            [d / "jf.db", d / "jf.histo"],
        ),
        H.Tool(
            "kmc",
            f"mkdir -p {q(d / 'kmc_tmp')} && kmc -k{k} -ci1 -cs1000000 -t{t} {q(km)} "
            f"{q(d / 'kmc')} {q(d / 'kmc_tmp')} > /dev/null && kmc_tools transform "
            f"{q(d / 'kmc')} histogram {q(d / 'kmc.histo')} -cx1000000 > /dev/null",
            [km],
            [d / "kmc.kmc_pre", d / "kmc.kmc_suf", d / "kmc.histo"],
        ),
    ]


def histo(path: Path) -> str:
    """A histogram as "count number" lines without empty bins (KMC's has tabs and zeros)."""
    rows = (line.split() for line in path.read_text().splitlines())
    return "".join(f"{c} {n}\n" for c, n in rows if n != "0")


def seqray_pairs(out: Path, k: int):
    """seqray's count shards as `KMER<tab>COUNT` strings, one Arrow array per row group."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    shifts = np.arange(2 * (k - 1), -1, -2, dtype=np.uint64)
    letters = np.frombuffer(b"ACGT", np.uint8)
    for shard in sorted((out / "counts").glob("*.parquet")):
        f = pq.ParquetFile(shard)
        for g in range(f.num_row_groups):
            t = f.read_row_group(g, columns=["kmer", "count"])
            codes = t.column("kmer").to_numpy()
            text = letters[((codes[:, None] >> shifts) & np.uint64(3)).astype(np.intp)]
            kmers = pa.array(np.ascontiguousarray(text).view(f"S{k}").ravel(), pa.binary())
            counts = pc.cast(t.column("count"), pa.string()).combine_chunks()
            yield pc.binary_join_element_wise(kmers.cast(pa.string()), counts, "\t")


def expect_same_histograms(label: str, texts: dict[str, str]) -> None:
    """Equal histograms, else a Disagreement naming the first bin that differs."""
    bins = {t: dict(line.split() for line in h.splitlines()) for t, h in texts.items()}
    for c in sorted({c for b in bins.values() for c in b}, key=int):
        H.expect_equal(f"{label}: histogram bin {c} (k-mers seen {c} times)",
                       {t: int(b.get(c, 0)) for t, b in bins.items()})  # fmt: skip


def check(label: str, k: int, d: Path) -> dict:
    texts = {
        "seqray": (d / "sr" / "histo.txt").read_text(),
        "jellyfish": histo(d / "jf.histo"),
        "kmc": histo(d / "kmc.histo"),
    }
    expect_same_histograms(label, texts)
    digests = {"seqray": H.strings_digest(seqray_pairs(d / "sr", k), "(k-mer, count) pairs")}
    with subprocess.Popen(
        ["jellyfish", "dump", "-c", "-t", str(d / "jf.db")], stdout=subprocess.PIPE
    ) as p:
        digests["jellyfish"] = H.lines_digest(p.stdout, "(k-mer, count) pairs")
    if p.returncode:
        raise SystemExit(f"jellyfish dump failed ({p.returncode})")
    dump = d / "kmc.dump"
    run = ["kmc_tools", "transform", str(d / "kmc"), "dump", str(dump)]
    subprocess.run(run, check=True, capture_output=True)
    with open(dump, "rb") as f:
        digests["kmc"] = H.lines_digest(f, "(k-mer, count) pairs")
    dump.unlink()
    H.expect_equal(f"{label}: k-mer counts", digests)
    summary = json.loads((d / "sr" / "summary.json").read_text())
    return {
        "distinct": summary["distinct"],
        "total": summary["total"],
        "genome_size": summary["spectrum"]["genome_size"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reads", type=Path, default=Path("bench/data/ecoli_1M.fastq.gz"))
    ap.add_argument("-k", type=int, nargs="+", default=[21, 31])
    ap.add_argument("--folds", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--jf-size", default="20M", help="jellyfish -s per copy of the input")
    H.add_common_args(ap)
    args = H.parse_args(ap)
    H.require("jellyfish", "kmc", "kmc_tools", "zcat")
    H.check_perturb(args, ["seqray", *PEERS])
    if args.small:
        args.jf_size = "1M"
    with H.scratch(args) as work:
        src = H.small_reads(work / "small")[0] if args.small else args.reads
        cases = []
        for fold in args.folds:
            reads = src
            if fold > 1:  # gzip members concatenate into one valid gzip file
                reads = work / f"x{fold}.fastq.gz"
                with open(reads, "wb") as f:
                    for _ in range(fold):
                        f.write(src.read_bytes())
            for k in args.k:
                d = work / f"k{k}_x{fold}"
                d.mkdir()
                cases.append((f"x{fold} k={k}", fold, k, d, tools(reads, k, fold, d, args)))
        report = {**H.context(args), "reads": str(src), "cases": {}}
        for label, _, k, d, ts in cases:  # every case checked before any timing
            H.check_round(ts, args.cpu_list, f"{label} ")
            report["cases"][label] = check(label, k, d)
        lines = [
            f"pinned to CPUs {args.cpus}, {args.threads} threads each; {args.runs} alternating "
            "rounds, page cache warm; ranges min–max; histograms and (k-mer, count) sets equal\n",
            "| input | k | tool | wall s | peak RSS MiB | peer / seqray wall |",
            "|---|---:|---|---:|---:|---:|",
        ]
        ratio_of = {p: f"{p} / seqray" for p in PEERS}
        for label, fold, k, d, ts in cases:
            samples = H.rounds(ts, args.cpu_list, args.runs, f"{label} ")
            summ = H.summary(samples, [(p, "seqray") for p in PEERS])
            report["cases"][label].update(summ)
            lines += H.table_rows(summ, ratio_of, f"{fold}× | {k} | ")
            shutil.rmtree(d)
    H.emit(report, lines, args)
    return 0


if __name__ == "__main__":
    H.refuse_on_disagreement(main)
