"""QC speed and memory, seqray vs fastp: same gzipped input, same CPUs, both writing gzipped
FASTQ, with and without duplicate removal; `--scale N` also runs N concatenated copies.

    python bench/qc_vs_fastp.py --input bench/data/ecoli_1M.fastq.gz [--scale 10] [--runs 3]

Commands (T = number of --cpus): `fastp -i IN -o OUT -w T -A -G -j J -h H [--dedup]` and
`seqray qc -i IN -o OUT -w T -A -G --runner local --overwrite --keep-manifest [--dedup]`:
fastp's defaults (-q 15 -u 40 -n 5 -l 15), no SE adapter auto-detection (-A), no poly-G
by read names (-G).

Checks, before any time is reported (else exit 3):
- without --dedup, exact: fastp's `filtering_result` counts (passed, low quality, too many
  N, too short, too long) equal seqray's (its manifest's `reports.qc`), and the passed reads
  are the same multiset of (name line, sequence, quality) records (fastp's threads may
  reorder them);
- with --dedup, reads in equal, and both against a model: of each distinct sequence the
  first copy in the input, kept if that record passed the filters in the run without
  --dedup. seqray (first copy kept, exactly) must pass exactly the model's reads. fastp
  0.23.2's definition differs (copies found by a hash, which can drop a read without a
  copy; its threads decide which copy stays), so every sequence it passes must have a
  passing copy, and its passed sequences may differ from the model's in at most
  DEDUP_TOLERANCE (1 in 10,000) of the reads in.
Then `--runs` alternating rounds (bench/_harness.py: pinned, page cache warm, min–max).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import _harness as H
import numpy as np

DEDUP_TOLERANCE = 1e-4  # of the reads in; fastp's, measured on the 1 M input: 46 reads


def scaled_input(src: Path, scale: int, work: Path) -> Path:
    """`scale` copies of the input (gzip members concatenate): with --dedup every copy after
    the first is a duplicate, so the dedup run also shows a 90 % duplicate input."""
    if scale == 1:
        return src
    dst = work / f"input_x{scale}{''.join(src.suffixes)}"
    with open(dst, "wb") as out:
        for _ in range(scale):
            with open(src, "rb") as f:
                shutil.copyfileobj(f, out)
    return dst


def tools(inp: Path, d: Path, dedup: bool, args) -> list[H.Tool]:
    d.mkdir(parents=True, exist_ok=True)
    t, extra = str(args.threads), (["--dedup"] if dedup else [])
    fi, si = H.inputs_for("fastp", [inp], args)[0], H.inputs_for("seqray", [inp], args)[0]
    fo, fj, fh, so = d / "fastp.fq.gz", d / "fastp.json", d / "fastp.html", d / "seqray.fq.gz"
    sd = d / "seqray.fq.gz.seqray"  # its run directory (manifest), removed before each run
    fastp = ["fastp", "-i", str(fi), "-o", str(fo), "-w", t, "-A", "-G", "-j", str(fj)]
    seqray = [*H.seqray_command(args), "qc", "-i", str(si), "-o", str(so), "-w", t, "-A", "-G"]
    return [
        H.Tool("fastp", fastp + ["-h", str(fh), *extra], [fi], [fo, fj, fh]),
        H.Tool(
            "seqray",
            seqray + ["--runner", "local", "--overwrite", "--keep-manifest", *extra],
            [si],
            [so, sd],
        ),
    ]


def check(label: str, d: Path) -> dict:
    """Without --dedup: fastp's and seqray's counts and passed reads in `d` are equal."""
    manifest = {"seqray": d / "seqray.fq.gz.seqray" / "manifest.json"}
    sr = H.expect_fastp_counts(f"{label}: ", d / "fastp.json", manifest)
    digests = {t: H.fastq_digest([d / f"{t}.fq.gz"]) for t in ("fastp", "seqray")}
    H.expect_equal(f"{label}: passed reads (name, sequence, quality)", digests)
    return {"reads_in": sr["reads_in"], "passed_reads": sr["passed_filter_reads"]}


def check_dedup(label: str, d: Path, plain: Path, inp: Path) -> dict:
    """With --dedup, against a model built from the input and the plain run's passed reads
    (fastp's, equal to seqray's): for each distinct sequence its first copy in the input,
    kept if that record passed the filters. seqray must equal the model exactly; fastp may
    differ by DEDUP_TOLERANCE of the reads in (its hash-based detection can drop a read
    without a copy, its threads decide which copy it keeps), and every sequence it keeps
    must have a copy that passes the filters."""
    sr = json.loads((d / "seqray.fq.gz.seqray" / "manifest.json").read_text())["reports"]["qc"]
    fp = json.loads((d / "fastp.json").read_text())["filtering_result"]
    H.expect_equal(f"{label}: reads in", {"fastp": sum(fp.values()), "seqray": sr["reads_in"]})
    in_rec, in_seq = H.fastq_hashes(inp)
    passing_rec, passing_seq = H.fastq_hashes(plain / "fastp.fq.gz")
    _, first = np.unique(in_seq, return_index=True)
    kept = first[np.isin(in_rec[first], passing_rec)]
    model_rec, model_seq = np.sort(in_rec[kept]), np.unique(in_seq[kept])
    ours = np.sort(H.fastq_hashes(d / "seqray.fq.gz")[0])
    if not np.array_equal(ours, model_rec):
        raise H.Disagreement(
            f"{label}: seqray passed {len(ours):,} reads, not the {len(model_rec):,} first "
            "copies of each sequence that pass the filters"
        )
    theirs = H.fastq_hashes(d / "fastp.fq.gz")[1]
    distinct = np.unique(theirs)
    extra = np.setdiff1d(distinct, model_seq, assume_unique=True)
    if not np.isin(extra, passing_seq).all():
        raise H.Disagreement(f"{label}: fastp passed a sequence none of whose copies passes")
    off = len(theirs) - len(distinct) + len(extra)
    off += len(np.setdiff1d(model_seq, distinct, assume_unique=True))
    limit = DEDUP_TOLERANCE * sr["reads_in"]
    if off > limit:
        raise H.Disagreement(
            f"{label}: fastp's passed reads ({len(theirs):,}) are {off:,} reads off the first "
            f"copies ({len(model_rec):,}); tolerance {limit:,.1f} ({DEDUP_TOLERANCE:g} of "
            f"{sr['reads_in']:,} reads in)"
        )
    return {"passed_reads": {"fastp": len(theirs), "seqray": len(ours)}, "fastp_off": off}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", type=Path, default=Path("bench/data/ecoli_1M.fastq.gz"))
    ap.add_argument("--scale", type=int, default=1, help="also run on N concatenated copies")
    ap.add_argument("--no-dedup", action="store_true", help="skip the --dedup runs")
    H.add_common_args(ap)
    args = H.parse_args(ap)
    H.require("fastp")
    H.check_perturb(args, ["fastp", "seqray"])
    with H.scratch(args) as work:
        src = H.small_reads(work / "small")[0] if args.small else args.input
        cases = []
        for scale in [1] + ([args.scale] if args.scale > 1 else []):
            inp = scaled_input(src, scale, work)
            for dedup in [False] + ([] if args.no_dedup else [True]):
                d = work / f"x{scale}_{'dedup' if dedup else 'plain'}"
                cases.append((f"x{scale} dedup={dedup}", inp, d, dedup, tools(inp, d, dedup, args)))
        report = {**H.context(args), "input": str(src), "cases": {}}
        for label, inp, d, dedup, ts in cases:  # every case checked before any timing
            H.check_round(ts, args.cpu_list, f"{label} ")
            if dedup:  # the plain case of the same input ran just before
                res = check_dedup(label, d, d.with_name(d.name.replace("dedup", "plain")), inp)
            else:
                res = check(label, d)
            report["cases"][label] = {"input_bytes": inp.stat().st_size, **res}
        lines = [
            f"pinned to CPUs {args.cpus}, {args.threads} threads each; {args.runs} alternating "
            "rounds, page cache warm; ranges min–max\n",
            "| input | dedup | tool | wall s | peak RSS MiB | fastp / seqray wall |",
            "|---|---|---|---:|---:|---:|",
        ]
        for label, inp, _, dedup, ts in cases:
            summ = H.summary(
                H.rounds(ts, args.cpu_list, args.runs, f"{label} "), [("fastp", "seqray")]
            )
            report["cases"][label].update(summ)
            prefix = (
                f"{inp.name} ({inp.stat().st_size / 1e6:,.1f} MB) | {'yes' if dedup else 'no'} | "
            )
            lines += H.table_rows(summ, {"seqray": "fastp / seqray"}, prefix)
    H.emit(report, lines, args)
    return 0


if __name__ == "__main__":
    H.refuse_on_disagreement(main)
