"""Error correction, seqray vs Lighter, BBTools' Tadpole and SGA: per-base accuracy against
art_illumina's truth, speed and peak memory, on the same simulated reads and the same CPUs,
as a matrix genome × depth × k × layout × tool.

    bash bench/genomes.sh      # five bacterial references under bench/data/genomes/
    python bench/correct_accuracy.py --genomes bench/data/genomes/*.fa --folds 15 30 60 \\
        -k 21 25 31 --layouts se pe --tools seqray lighter tadpole sga --json m.json [--runs 3]

`--runs 0` measures accuracy only (the check round; no time is taken or shown, and SGA's
index is built once per genome × depth × layout and reused for each k). `--paired` is
`--layouts se pe`. `--merge A.json B.json …` prints one table from several runs' reports;
with --json, JSON.partial holds the cells finished so far (--merge reads it too).
Without --genomes: E. coli MG1655 (bench/data/ecoli_mg1655.fa, bench/make_data.sh), 30×, k 31.

Per (genome, depth, layout) art_illumina (HS25 profile, 150 bp, fixed seed; pairs: insert
300 ± 20) writes the reads and, with -ef, the error-free copy of every read; per k each tool
corrects them. What each tool runs (T = number of --cpus; the commands are also in the JSON):

- seqray:  seqray correct -k K R1 [--mate R2] -o DIR --threads T --runner R --compression none
- lighter: lighter -r R1 [-r R2] -K K GENOME_SIZE -t T -od DIR   (size of the reference FASTA)
- tadpole: tadpole.sh -XmxM in=R1 [in2=R2] out=O1 [out2=O2] mode=correct k=K threads=T
- sga:     sga preprocess [--pe-mode 1] R1 [R2] > pp.fq; sga index -a ropebwt -t T pp.fq;
           sga correct -k K -t T -o ec.fq pp.fq   (all three in its time: the index is
           a step a user must run before `sga correct`)

Scoring, per base of each read whose length the simulator kept (reads with an insertion or
deletion are reported apart, since a substitution-only corrector cannot fix them and
base-by-base comparison does not apply):

- TP: a sequencing error changed to the true base;
- FP: a correct base changed, and an error changed to another wrong base (it is also an FN);
- FN: an error left wrong (the errors of a read a tool dropped count here);
- gain = (TP - FP) / (TP + FN), as in the BFC, Lighter and Musket evaluations.

Accuracy is the result here, not a check: the tools need not agree. What is checked, before
any score or time is reported (else exit 3): every corrected read is matched to an input
read by name (mates by their /1, /2), no read twice, each with its input length (the four are
substitution correctors); seqray and Lighter keep every read in the input's order; Tadpole
may reorder reads but must keep them all; SGA may reorder and may drop only reads with an N
(sga preprocess discards them by default); and the truth covers every read. Reads a tool
dropped are counted in the "missing" column, never left out silently. The scores come from
the untimed check round; then `--runs` alternating rounds time every tool (bench/_harness.py:
pinned, page cache warm, min–max). Prints a Markdown table (and writes the JSON report with
--json). A k a tool cannot take gives a row that says so.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import shutil
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np

# tests/kmers/test_correct_stage.py loads this file by path (not in sys.modules, so no
# dataclasses here): find _harness beside it
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as H  # noqa: E402

COMP = bytes.maketrans(b"ACGTN", b"TGCAN")
READ_LEN = 150


# ---- simulation and truth ----------------------------------------------------------------


def simulate(
    genome: Path,
    fold: float,
    seed: int,
    prefix: Path,
    indels: bool = True,
    paired: bool = False,
) -> Path | list[Path]:
    """art_illumina HS25 150 bp reads; the FASTQ (pairs: the two FASTQs); truth in
    PREFIX_errFree.sam."""
    extra = [] if indels else ["-ir", "0", "-ir2", "0", "-dr", "0", "-dr2", "0"]
    fqs = H.art_reads(genome, prefix, fold, seed, paired, "-ef", "-na", *extra)
    return fqs if paired else fqs[0]


def _mate_name(qname: bytes, flag: int) -> str:
    """The read's FASTQ name: art names mates NAME/1 and NAME/2, its SAM NAME (flag 64/128)."""
    name = qname.decode()
    if flag & 64:
        return name + "/1"
    if flag & 128:
        return name + "/2"
    return name


def read_truth(prefix: Path) -> tuple[dict[str, bytes], set[str]]:
    """name → error-free read (in read orientation), and the names of reads with indels."""
    truth: dict[str, bytes] = {}
    with open(f"{prefix}_errFree.sam", "rb") as f:
        for line in f:
            if line.startswith(b"@"):
                continue
            cols = line.split(b"\t", 10)
            seq = cols[9]
            flag = int(cols[1])
            if flag & 16:
                seq = seq.translate(COMP)[::-1]
            truth[_mate_name(cols[0], flag)] = seq
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
                indel.add(_mate_name(cols[0], int(cols[1])))
    return truth, indel


def read_records(path: Path) -> tuple[list[str], list[bytes]]:
    """Names (first word) and sequences of a FASTQ or FASTA file (plain or .gz)."""
    import gzip

    opener = gzip.open if str(path).endswith(".gz") else open
    names, seqs = [], []
    with opener(path, "rb") as f:
        head = f.readline()
        while head:
            if head.startswith(b"@"):
                seq = f.readline().rstrip(b"\r\n")
                f.readline()
                f.readline()
                nxt = f.readline()
            elif head.startswith(b">"):
                parts = []
                nxt = f.readline()
                while nxt and not nxt.startswith(b">"):
                    parts.append(nxt.strip())
                    nxt = f.readline()
                seq = b"".join(parts)
            else:
                raise H.Disagreement(f"{path}: a record starts with {head[:20]!r}")
            names.append(head[1:].split()[0].decode())
            seqs.append(seq)
            head = nxt
    return names, seqs


def read_fastq(path: Path) -> tuple[list[str], list[bytes]]:
    return read_records(path)


# ---- scoring ------------------------------------------------------------------------------


class Policy(NamedTuple):
    """What a tool's output may do besides fixing bases: `ordered`: every read, in the
    input's order; else any order, and `may_drop` says which input reads it may leave out."""

    ordered: bool = True
    may_drop: str = ""  # "": none; "N": reads holding an N


def _collect(paths: list[Path], paired: bool) -> tuple[list[str], list[bytes]]:
    """The records of a tool's output files; with two files, a mate name without /1 or /2
    gets its file's."""
    names, seqs = [], []
    for i, p in enumerate(paths):
        n, s = read_records(p)
        if paired and len(paths) == 2:
            tail = f"/{i + 1}"
            n = [x if x.endswith(("/1", "/2")) else x + tail for x in n]
        names += n
        seqs += s
    return names, seqs


def score_files(
    originals: list[Path],
    corrected: list[Path],
    truth: dict[str, bytes],
    indel: set[str],
    policy: Policy = Policy(),
) -> dict:
    """Per-base TP/FP/FN/gain over the reads without indels; reads matched by name. A read
    the tool dropped (as `policy` allows) keeps its input bases: its errors are FNs."""
    paired = len(originals) == 2
    on, os_ = _collect(originals, paired)
    cn, cs = _collect(corrected, paired)
    where = {n: i for i, n in enumerate(on)}
    if len(where) != len(on):
        raise H.Disagreement(f"{originals[0]}: read names repeat")
    shown = " and ".join(map(str, corrected))
    if policy.ordered:
        if on != cn:
            raise H.Disagreement(f"{shown}: reads are not the input's, in the input's order")
        fixed = cs
    else:
        fixed = list(os_)
        seen = np.zeros(len(on), bool)
        for n, s in zip(cn, cs):
            i = where.get(n)
            if i is None:
                raise H.Disagreement(f"{shown}: read {n} is not in the input")
            if seen[i]:
                raise H.Disagreement(f"{shown}: read {n} occurs twice")
            seen[i] = True
            fixed[i] = s
        gone = np.flatnonzero(~seen)
        allowed = [i for i in gone if policy.may_drop == "N" and b"N" in os_[i]]
        if len(allowed) != len(gone):
            n = on[next(i for i in gone if i not in set(allowed))]
            raise H.Disagreement(
                f"{shown}: {len(gone) - len(allowed):,} read(s) missing that the tool may not "
                f"drop (first: {n})"
            )
    if [len(x) for x in os_] != [len(x) for x in fixed]:
        raise H.Disagreement(f"{shown}: a read's length differs from the input's")
    if any(n not in truth for n in on):
        raise H.Disagreement(f"{originals[0]}: a read has no error-free copy in the truth")
    keep = [i for i, n in enumerate(on) if n not in indel and len(truth[n]) == len(os_[i])]
    width = max((len(os_[i]) for i in keep), default=0)

    def matrix(seqs: list[bytes]) -> np.ndarray:
        m = np.zeros((len(keep), width), np.uint8)
        for r, i in enumerate(keep):  # a scoring script, not a hot path
            m[r, : len(seqs[i])] = np.frombuffer(seqs[i], np.uint8)
        return m

    t = matrix([truth[n] for n in on])
    o = matrix(os_)
    c = matrix(fixed)
    err = o != t
    changed = c != o
    right = c == t
    tp = int((err & right).sum())
    fp = int((~err & changed).sum() + (err & changed & ~right).sum())
    fn = int((err & ~right).sum())
    bases = int((t != 0).sum())
    indel_changed = sum(
        sum(a != b for a, b in zip(os_[i], fixed[i])) for i, n in enumerate(on) if n in indel
    )
    return {
        "reads": len(keep),
        "bases": bases,
        "errors": int(err.sum()),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "gain": round((tp - fp) / max(tp + fn, 1), 4),
        "fp_per_base_pct": round(100 * fp / max(bases, 1), 6),
        "reads_perfect_after": int((~(c != t).any(axis=1)).sum()),
        "indel_reads": len(on) - len(keep),
        "indel_reads_bases_changed": int(indel_changed),
        "missing_reads": len(on) - len(cn),
    }


def score(original: Path, corrected: Path, truth: dict[str, bytes], indel: set[str]) -> dict:
    """`score_files` for one file whose reads the corrector keeps, in order."""
    return score_files([original], [corrected], truth, indel)


# ---- genomes -----------------------------------------------------------------------------


def read_genome(genome: Path) -> list[bytes]:
    contigs: list[list[bytes]] = []
    with open(genome, "rb") as f:
        for line in f:
            if line.startswith(b">"):
                contigs.append([])
            elif contigs:
                contigs[-1].append(line.strip().upper())
    return [b"".join(c) for c in contigs]


def genome_size(genome: Path) -> int:
    return sum(len(c) for c in read_genome(genome))


def genome_stats(genome: Path, k: int = 31) -> dict:
    """Size, contigs, GC % and the share of the genome's k-mer positions (canonical, both
    strands) whose k-mer occurs more than once: a plain measure of repeat content."""
    contigs = read_genome(genome)
    code = np.full(256, 255, np.uint8)
    for i, b in enumerate(b"ACGT"):
        code[b] = i
    kmers = []
    for c in contigs:
        a = code[np.frombuffer(c, np.uint8)]
        if len(a) < k:
            continue
        ok = np.convolve((a == 255).astype(np.int32), np.ones(k, np.int32), "valid") == 0
        a = np.where(a == 255, 0, a).astype(np.uint64)
        fw = np.zeros(len(a) - k + 1, np.uint64)
        rc = np.zeros(len(a) - k + 1, np.uint64)
        for j in range(k):
            w = a[j : j + len(fw)]
            fw = (fw << np.uint64(2)) | w
            rc |= (np.uint64(3) - w) << np.uint64(2 * j)
        kmers.append(np.minimum(fw, rc)[ok])
    allk = np.concatenate(kmers) if kmers else np.zeros(0, np.uint64)
    _, inv, counts = np.unique(allk, return_inverse=True, return_counts=True)
    seq = b"".join(contigs)
    gc = seq.count(b"G") + seq.count(b"C")
    return {
        "bases": len(seq),
        "contigs": len(contigs),
        "gc_pct": round(100 * gc / max(len(seq), 1), 1),
        f"repeated_{k}mer_pct": round(100 * float((counts[inv] > 1).mean()), 2) if len(allk) else 0,
    }


# ---- the tools ---------------------------------------------------------------------------


class Job(NamedTuple):
    """One (genome, depth, layout, k) cell: inputs, truth and where outputs go."""

    genome: Path
    reads: list[Path]  # 1 file, or R1 and R2
    k: int
    work: Path
    threads: int
    args: argparse.Namespace

    @property
    def paired(self) -> bool:
        return len(self.reads) == 2


class Corrector:
    """A tool in the matrix: the executables it needs (and their Debian packages), the k it
    takes, its command for a job and the files it writes, and its output policy."""

    name = ""
    needs: dict[str, str] = {}  # executable → Debian package
    policy = Policy()

    def missing(self) -> list[str]:
        return [f"{exe} (Debian: {pkg})" for exe, pkg in self.needs.items() if not _which(exe)]

    def refuses_k(self, k: int) -> str:
        """Why this tool cannot run with k ('' if it can)."""
        return ""

    def tool(self, job: Job, inputs: list[Path]) -> tuple[H.Tool, list[Path]]:
        raise NotImplementedError


def _which(exe: str) -> str | None:
    """On PATH, or (Debian's bbmap keeps most BBTools scripts there) in /usr/share/bbmap."""
    return shutil.which(exe) or shutil.which(exe, path="/usr/share/bbmap")


class Seqray(Corrector):
    name = "seqray"

    def refuses_k(self, k: int) -> str:
        return "" if 9 <= k <= 32 else f"seqray correct takes k 9..32, not {k}"

    def tool(self, job, inputs):
        out = job.work / "seqray"
        cmd = [*H.seqray_command(job.args), "correct", "-k", str(job.k), str(inputs[0])]
        if job.paired:
            cmd += ["--mate", str(inputs[1])]
        cmd += [
            "-o",
            str(out),
            "--threads",
            str(job.threads),
            "--runner",
            job.args.runner,
        ]
        cmd += ["--compression", "none"]
        files = ["reads_R1.fastq", "reads_R2.fastq"] if job.paired else ["reads.fastq"]
        return H.Tool(self.name, cmd, inputs, [out]), [out / f for f in files]


class Lighter(Corrector):
    name = "lighter"
    needs = {"lighter": "lighter"}

    def refuses_k(self, k: int) -> str:
        return "" if k <= 32 else f"Lighter takes k ≤ 32, not {k}"

    def tool(self, job, inputs):
        out = job.work / "lighter"
        out.mkdir(exist_ok=True)
        cmd = ["lighter"]
        for p in inputs:
            cmd += ["-r", str(p)]
        cmd += ["-K", str(job.k), str(genome_size(job.genome)), "-t", str(job.threads)]
        cmd += ["-od", str(out)]
        files = [out / (p.name[: -len(p.suffix)] + ".cor" + p.suffix) for p in inputs]
        return H.Tool(self.name, cmd, inputs, files), files


class Tadpole(Corrector):
    name = "tadpole"
    needs = {"tadpole.sh": "bbmap"}
    policy = Policy(ordered=False)

    def refuses_k(self, k: int) -> str:
        # tadpole.sh's usage: k 1-31, multiples of 2 from 32-62, of 3 from 63-93, ...
        if k % math.ceil(k / 31) == 0:
            return ""
        return f"Tadpole takes k ≤ 31, or a multiple of {math.ceil(k / 31)} here, not {k}"

    def tool(self, job, inputs):
        out = job.work / "tadpole"
        files = [out / f"cor{i + 1}.fq" for i in range(len(inputs))]
        cmd = [_which("tadpole.sh"), f"-Xmx{job.args.tadpole_xmx}", f"in={inputs[0]}"]
        if job.paired:
            cmd += [f"in2={inputs[1]}"]
        cmd += [f"out={files[0]}"] + ([f"out2={files[1]}"] if job.paired else [])
        cmd += ["mode=correct", f"k={job.k}", f"threads={job.threads}"]
        line = f"mkdir -p {shlex.quote(str(out))} && {shlex.join(cmd)}"
        return H.Tool(self.name, line, inputs, [out]), files


class Sga(Corrector):
    name = "sga"
    needs = {"sga": "sga"}
    policy = Policy(ordered=False, may_drop="N")

    def refuses_k(self, k: int) -> str:
        return "" if k < READ_LEN else f"SGA's k must be below the read length ({READ_LEN})"

    def tool(self, job, inputs):
        """preprocess + index + correct, all in the timed command. With --runs 0 (accuracy
        only, nothing timed) the index of a (genome, depth, layout) is built by the first k's
        run and reused by the others: the same reads give the same index."""
        out = job.work / "sga"
        t = str(job.threads)
        pre = [
            "sga",
            "preprocess",
            *(["--pe-mode", "1"] if job.paired else []),
            *map(str, inputs),
        ]
        index = [
            f"{shlex.join(pre)} > pp.fq",
            shlex.join(["sga", "index", "-a", "ropebwt", "-t", t, "pp.fq"]),
        ]
        correct = ["sga", "correct", "-k", str(job.k), "-t", t, "-o", "ec.fq"]
        q = shlex.quote
        if job.args.runs == 0:
            idx = job.work.parent / "sga_index"
            steps = [
                f"mkdir -p {q(str(idx))} {q(str(out))}",
                f"cd {q(str(idx))}",
                f"{{ test -e done || {{ {' && '.join(index)} && touch done; }}; }}",
                f"cd {q(str(out))}",
                shlex.join([*correct, "-p", str(idx / "pp"), str(idx / "pp.fq")]),
            ]
        else:
            steps = [
                f"mkdir -p {q(str(out))}",
                f"cd {q(str(out))}",
                *index,
                shlex.join([*correct, "pp.fq"]),
            ]
        return H.Tool(self.name, " && ".join(steps), inputs, [out]), [out / "ec.fq"]


TOOLS: dict[str, Corrector] = {c.name: c for c in (Seqray(), Lighter(), Tadpole(), Sga())}


def versions(tools: list[Corrector], args: argparse.Namespace) -> dict[str, str]:
    """The Debian package version of each peer (and of art), seqray's own version."""
    import subprocess

    pkgs = {p for c in tools for p in c.needs.values()} | {"art-nextgen-simulation-tools"}
    out = {}
    for p in sorted(pkgs):
        q = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", p], capture_output=True)
        out[p] = q.stdout.decode() if q.returncode == 0 else "unknown (not a Debian package?)"
    if any(c.name == "seqray" for c in tools):
        v = subprocess.run([*H.seqray_command(args), "--version"], capture_output=True)
        out["seqray"] = (v.stdout.decode().splitlines() or ["unknown"])[0]
    here = Path(__file__).resolve().parent
    git = ["git", "-C", str(here)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True)
    if head.returncode == 0:
        dirty = subprocess.run([*git, "status", "--porcelain", "../src"], capture_output=True)
        mark = " (src/ changed)" if dirty.stdout.strip() else ""
        out["checkout"] = head.stdout.decode().strip() + mark
    return out


# ---- the matrix --------------------------------------------------------------------------


def run_cell(job: Job, tools: list[Corrector], truth, indel, args) -> list[dict]:
    """One (genome, depth, layout, k): the check round, scores, then `--runs` timed rounds."""
    rows, ready = [], []
    for c in tools:
        why = c.refuses_k(job.k)
        if why:
            rows.append({"tool": c.name, "skipped": why})
            continue
        tool, files = c.tool(job, H.inputs_for(c.name, job.reads, args))
        ready.append((c, tool, files))
        rows.append({"tool": c.name, "command": _shown(tool.cmd)})
    label = f"{job.genome.stem} k={job.k} {'pe' if job.paired else 'se'}: "
    checked = H.check_round([t for _, t, _ in ready], args.cpu_list, label)
    by_name = {r["tool"]: r for r in rows}
    for c, _, files in ready:
        acc = score_files(job.reads, files, truth, indel, c.policy)
        by_name[c.name].update(accuracy=acc, check_peak_rss_mib=checked[c.name].peak_rss_mib)
    if args.runs and ready:
        pairs = [(c.name, "seqray") for c, _, _ in ready if c.name != "seqray"]
        if "seqray" not in by_name or "skipped" in by_name["seqray"]:
            pairs = []
        summ = H.summary(H.rounds([t for _, t, _ in ready], args.cpu_list, args.runs, label), pairs)
        for c, _, _ in ready:
            by_name[c.name]["time"] = summ["tools"][c.name]
            ratio = summ["ratios"].get(f"{c.name} / seqray")
            if ratio:
                by_name[c.name]["wall_vs_seqray"] = ratio
    return rows


def _shown(cmd: list[str] | str) -> str:
    return cmd if isinstance(cmd, str) else shlex.join(cmd)


def markdown(report: dict, runs: int) -> list[str]:
    """The genomes; gain (FP) per cell and tool at a glance; then every number per row
    (time columns only when there were timed rounds)."""
    lines = [
        "| genome | size Mb | contigs | GC % | repeated 31-mers % |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, g in report["genomes"].items():
        lines.append(
            f"| {name} | {g['bases'] / 1e6:.2f} | {g['contigs']} | {g['gc_pct']} "
            f"| {g['repeated_31mer_pct']} |"
        )
    tools = list(dict.fromkeys(r["tool"] for c in report["cells"] for r in c["rows"]))
    lines += [
        "",
        "Gain (FP bases) per cell, scored over the reads without indels:",
        "",
        "| genome | depth | layout | k | " + " | ".join(tools) + " |",
        "|---|---:|---|---:|" + "---:|" * len(tools),
    ]
    for cell in report["cells"]:
        by = {r["tool"]: r for r in cell["rows"]}
        shown = []
        for t in tools:
            r = by.get(t)
            if r is None or "skipped" in r:
                shown.append("not run" if r is None else "no such k")
            else:
                a = r["accuracy"]
                shown.append(f"{a['gain']:.4f} ({a['fp']:,})")
        lines.append(
            f"| {cell['genome']} | {cell['fold']:g}× | {cell['layout']} | {cell['k']} | "
            + " | ".join(shown)
            + " |"
        )
    cpus = ",".join(map(str, report["cpus"]))
    if runs:
        said = f"pinned to CPUs {cpus}; {runs} alternating timed rounds, page cache warm; "
        said += "ranges min–max"
        time_head, time_rule = " wall s | peak RSS MiB | tool / seqray wall |", "---:|" * 3
    else:
        said = f"pinned to CPUs {cpus}; accuracy only (--runs 0: nothing timed)"
        time_head, time_rule = "", ""
    lines += [
        "",
        f"All numbers, {said}. reads: scored (without indels); missing: reads the tool "
        "dropped (their errors count as FN).",
        "",
        "| genome | depth | k | layout | tool | reads | missing | errors | TP | FP | FN | gain "
        "| FP % of bases |" + time_head,
        "|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|" + time_rule,
    ]
    width = 7 + (3 if runs else 0)
    for cell in report["cells"]:
        head = f"| {cell['genome']} | {cell['fold']:g}× | {cell['k']} | {cell['layout']} "
        for r in cell["rows"]:
            if "skipped" in r:
                lines.append(f"{head}| {r['tool']} | {r['skipped']} |" + " — |" * width)
                continue
            a = r["accuracy"]
            row = (
                f"{head}| {r['tool']} | {a['reads']:,} | {a['missing_reads']:,} "
                f"| {a['errors']:,} | {a['tp']:,} | {a['fp']:,} | {a['fn']:,} | {a['gain']:.4f} "
                f"| {100 * a['fp'] / max(a['bases'], 1):.6f} |"
            )
            if runs:
                wall = H.fmt_span(r["time"]["wall_s_range"])
                rss = H.fmt_span(r["time"]["peak_rss_mib_range"], ",.0f")
                ratio = r.get("wall_vs_seqray")
                ratio = f"{H.fmt_span(ratio['range'], suffix='×')}" if ratio else ""
                row += f" {wall} | {rss} | {ratio} |"
            lines.append(row)
    return lines


def merged(paths: list[Path]) -> dict:
    """One report from the JSON reports of several runs (say one per genome, or the slow
    tool apart), cells in the order first given; a cell's rows may come from several runs
    (the same genome, depth, layout, k and seed, so the same reads), a tool's only from
    one. The runs must share CPUs, --runs and tool versions."""
    reports = [json.loads(p.read_text()) for p in paths]
    for p, r in zip(paths[1:], reports[1:]):
        if (r["cpus"], r["runs"]) != (reports[0]["cpus"], reports[0]["runs"]):
            sys.exit(f"{p}: other CPUs or --runs than {paths[0]}")
    out = {**reports[0], "genomes": {}, "cells": [], "merged_from": list(map(str, paths))}
    out["versions"] = {}
    cells: dict[tuple, dict] = {}
    for p, r in zip(paths, reports):
        out["genomes"].update(r["genomes"])
        for c in r["cells"]:
            key = (c["genome"], c["fold"], c["layout"], c["k"], r.get("seed"))
            have = cells.setdefault(key, {**c, "rows": []})
            if have["reads"] != c["reads"]:
                sys.exit(
                    f"{p}: {key[:4]} has {c['reads']:,} reads, another report {have['reads']:,}"
                )
            twice = {x["tool"] for x in have["rows"]} & {x["tool"] for x in c["rows"]}
            if twice:
                sys.exit(f"{p}: {key[:4]} {', '.join(sorted(twice))} in another report too")
            have["rows"] += c["rows"]
        for tool, v in r.get("versions", {}).items():
            if tool == "checkout":  # the bench script's commit may move between runs
                out.setdefault("checkouts", []).append(v)
            elif out["versions"].setdefault(tool, v) != v:
                sys.exit(f"{p}: {tool} {v}, another report {out['versions'][tool]}")
    rank = {name: i for i, name in enumerate(TOOLS)}
    for c in cells.values():  # a cell's tools split over runs: one row each, in TOOLS order
        c["rows"].sort(key=lambda x: rank.get(x["tool"], len(rank)))
    out["cells"] = list(cells.values())
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--genomes", type=Path, nargs="+", default=[Path("bench/data/ecoli_mg1655.fa")])
    ap.add_argument("--genome", type=Path, help="one genome (the same as --genomes G)")
    ap.add_argument("--folds", type=float, nargs="+", default=[30], help="depths (×)")
    ap.add_argument("--fold", type=float, help="one depth (the same as --folds F)")
    ap.add_argument("-k", type=int, nargs="+", default=[31])
    ap.add_argument("--layouts", nargs="+", choices=["se", "pe"], default=["se"])
    ap.add_argument("--paired", action="store_true", help="also paired reads (--layouts se pe)")
    ap.add_argument("--tools", nargs="+", choices=list(TOOLS), default=list(TOOLS))
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--runner", default="local", choices=["local", "ray"], help="seqray's runner")
    ap.add_argument("--tadpole-xmx", default="4g", help="Java heap for tadpole.sh (-Xmx)")
    ap.add_argument("--no-indels", action="store_true", help="simulate substitutions only")
    ap.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="only print the table of these reports",
    )
    H.add_common_args(ap)
    args = H.parse_args(ap, min_runs=0)
    if args.merge:
        report = merged(args.merge)
        H.emit(report, markdown(report, report["runs"]), args)
        return 0
    genomes = [args.genome] if args.genome else args.genomes
    folds = [args.fold] if args.fold else args.folds
    layouts = ["se", "pe"] if args.paired else args.layouts
    tools = [TOOLS[t] for t in args.tools]
    missing = [m for c in tools for m in c.missing()]
    if not shutil.which("art_illumina"):
        missing.append("art_illumina (Debian: art-nextgen-simulation-tools)")
    if missing:
        sys.exit(
            "not installed: " + "; ".join(missing) + " (apt-get install them as root, or "
            "bash scripts/setup.sh bench)"
        )
    H.check_perturb(args, args.tools)
    for g in genomes:
        if not args.small and not g.is_file():
            sys.exit(f"{g}: no such genome FASTA (bash bench/genomes.sh fetches the references)")
    report = {**H.context(args), "versions": versions(tools, args), "seed": args.seed}
    report.update(genomes={}, cells=[])
    keep = args.workdir is not None
    if keep:  # SGA runs in its own directory: every path absolute
        args.workdir = args.workdir.resolve()
    with H.scratch(args) as work:
        if args.small:
            genomes = [H.random_genome(work / "random50k.fa", 50_000)]
        for genome in genomes:
            report["genomes"][genome.stem] = genome_stats(genome)
            for fold in folds:
                for layout in layouts:
                    d = work / f"{genome.stem}_{fold:g}x_{layout}"
                    d.mkdir(parents=True, exist_ok=True)
                    reads = simulate(genome, fold, args.seed, d / "sim", not args.no_indels,
                                     layout == "pe")  # fmt: skip
                    reads = reads if isinstance(reads, list) else [reads]
                    truth, indel = read_truth(d / "sim")
                    for k in args.k:
                        job = Job(genome, reads, k, d / f"k{k}", args.threads, args)
                        job.work.mkdir(exist_ok=True)
                        rows = run_cell(job, tools, truth, indel, args)
                        report["cells"].append(
                            {
                                "genome": genome.stem,
                                "fold": fold,
                                "layout": layout,
                                "k": k,
                                "reads": len(truth),
                                "rows": rows,
                            }
                        )
                        if not keep:  # SGA's index and the outputs: disk, not needed again
                            H._remove([job.work])
                        if args.json:  # a long matrix stopped midway keeps its finished cells
                            partial = args.json.with_name(args.json.name + ".partial")
                            partial.write_text(json.dumps(report, indent=2) + "\n")
    H.emit(report, markdown(report, args.runs), args)
    if args.json:
        args.json.with_name(args.json.name + ".partial").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    H.refuse_on_disagreement(main)
