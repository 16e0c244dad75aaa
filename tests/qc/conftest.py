"""QC test helpers: run fastp and seqray's qc stage on the same reads and read both back."""

from __future__ import annotations

import gzip
import itertools
import json
import subprocess
from pathlib import Path

import pytest

from seqray.pipeline.config import parse_config
from seqray.pipeline.driver import run_pipeline

from ..debdata import debian_file
from ..peers import require_tool

needs_fastp = pytest.mark.peers("fastp")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "data"
# fastp's filtering_result keys that seqray reports under the same names
REASON_KEYS = (
    "passed_filter_reads",
    "low_quality_reads",
    "too_many_N_reads",
    "too_short_reads",
    "too_long_reads",
    "low_complexity_reads",
)


def read_fastq(path: Path) -> list[tuple[str, str, str]]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as f:
        lines = f.read().splitlines()
    return [(lines[i][1:], lines[i + 1], lines[i + 3]) for i in range(0, len(lines) - 3, 4)]


def write_fastq(path: Path, records) -> Path:
    with open(path, "w") as f:
        for name, s, q in records:
            f.write(f"@{name}\n{s}\n+\n{q}\n")
    return path


def fastp_input(src: Path, dst: Path, phred64: bool = False) -> Path:
    """The reads for fastp as Phred+33 (fastp 0.23.2's own --phred64 is not
    deterministic, so it runs on a converted copy); `.` stays, as seqray qc keeps it."""
    shift = 31 if phred64 else 0
    recs = [(n, s, "".join(chr(ord(c) - shift) for c in q)) for n, s, q in read_fastq(src)]
    return write_fastq(dst, recs)


def fastp(tmp: Path, r1: Path, r2: Path | None, args: list[str]):
    """fastp's counts (filtering_result) and its passed reads (R1, R2)."""
    tmp.mkdir(parents=True, exist_ok=True)
    cmd = [
        require_tool("fastp"),
        "-i",
        str(r1),
        "-o",
        str(tmp / "fp1.fq"),
        "-j",
        str(tmp / "fp.json"),
    ]
    cmd += ["-h", str(tmp / "fp.html"), "-w", "1"]
    if r2 is not None:
        cmd += ["-I", str(r2), "-O", str(tmp / "fp2.fq")]
    subprocess.run(cmd + args, check=True, capture_output=True)
    res = json.loads((tmp / "fp.json").read_text())["filtering_result"]
    out2 = read_fastq(tmp / "fp2.fq") if r2 is not None else None
    return {k: res.get(k, 0) for k in REASON_KEYS}, read_fastq(tmp / "fp1.fq"), out2


def seqray_qc(
    tmp: Path,
    r1: Path,
    r2: Path | None,
    qc: dict,
    phred_offset=33,
    run=None,
    failed_out: Path | None = None,
    merged_out: Path | None = None,
):
    """seqray's qc report and passed reads (R1, R2), through a whole local pipeline;
    with `failed_out`, the qc stage's failed reads are written there (fastp's
    --failed_out), with `merged_out` its merged reads (fastp's --merged_out)."""
    read = {"paths": [str(r1)], "phred_offset": phred_offset, "keep_dots": True}  # as qc
    if r2 is not None:
        read["mate_paths"] = [str(r2)]
    stages = [{"read": read}, {"qc": qc}, {"write": {"format": "fastq", "compression": "none"}}]
    if failed_out is not None:
        stages.append(
            {"write": {"format": "fastq", "files": [str(failed_out)], "branch": "failed"}}
        )
    if merged_out is not None:
        stages.append(
            {"write": {"format": "fastq", "files": [str(merged_out)], "branch": "merged"}}
        )
    cfg = parse_config({"output": str(tmp / "sq"), "run": run or {}, "stages": stages})
    result = run_pipeline(cfg, runner="local", overwrite=True)
    report = result.reports["qc"]
    if r2 is None:
        return report, read_fastq(tmp / "sq" / "reads.fastq"), None
    return (
        report,
        read_fastq(tmp / "sq" / "reads_R1.fastq"),
        read_fastq(tmp / "sq" / "reads_R2.fastq"),
    )


def check_identity(report: dict) -> None:
    """Reads and bases in = passed + Σ reasons + duplicated, per file and in total."""
    for entry in [report, *report["files"].values()]:
        for unit in ("reads", "bases"):
            parts = [v for k, v in entry.items() if k.endswith(f"_{unit}") and k != f"{unit}_in"]
            assert sum(parts) == entry[f"{unit}_in"], (unit, entry)


@pytest.fixture(scope="session")
def seqprep_pairs(tmp_path_factory) -> tuple[Path, Path]:
    """100 k real HiSeq 2×100 pairs (Phred+64) from Debian's seqprep-data."""
    d = "usr/share/doc/seqprep/examples/data/multiplex_bad_contam_{}.fq.gz"
    return debian_file("seqprep-data", d.format(1)), debian_file("seqprep-data", d.format(2))


def slice_fastq(src: Path, dst: Path, n: int) -> Path:
    """The first `n` records of a gzipped FASTQ, gzipped."""
    with gzip.open(src, "rt") as f, gzip.open(dst, "wt") as out:
        out.writelines(itertools.islice(f, 4 * n))
    return dst


SEQPREP = "usr/share/doc/seqprep/examples/data/multiplex_bad_contam_{}.fq.gz"


def seqprep_slices(d: Path, n: int) -> tuple[list[Path], list[Path]]:
    """The first `n` real HiSeq pairs of seqprep-data: (seqray's inputs R1, R2, the
    Phred+64 originals; fastp's inputs R1, R2, Phred+33 copies)."""
    raw = [slice_fastq(debian_file("seqprep-data", SEQPREP.format(i)), d / f"r{i}.fq.gz", n)
           for i in (1, 2)]  # fmt: skip
    conv = [fastp_input(r, d / f"fp{i}.fq", phred64=True) for i, r in enumerate(raw, 1)]
    return raw, conv
