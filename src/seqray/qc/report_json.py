"""fastp-structured JSON report, readable by MultiQC's fastp module.

Structure and numbers follow fastp 0.23.2 (`summary`, `filtering_result`, `duplication`,
`insert_size`, `readN_before/after_filtering` with their `kmer_count` and, with `-p`,
`overrepresented_sequences`, `command`); every real number is rounded as fastp prints it
(C++ stream default: 6 significant digits), so values compare equal to fastp's JSON for the
same reads. seqray adds `length_histogram` and `quality_histogram` per mate and section,
keys fastp does not write (MultiQC ignores them).

MultiQC finds fastp files by the text `"before_filtering": {` in the first 50 lines, so
`summary` comes first and the JSON is indented.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .. import __version__
from ..io.writers import WrittenFile, write_file
from .profile import QcProfile

QUALITY_KEYS = ("A", "T", "C", "G", "mean")
CONTENT_KEYS = ("A", "T", "C", "G", "N", "GC")


def fastp_float(x: float) -> float:
    """A number as fastp prints a double (`ostream <<`: %g, 6 significant digits)."""
    return float(f"{float(x):.6g}")


def _curve(values: np.ndarray) -> list[float]:
    return [fastp_float(v) for v in values.tolist()]


def _rate(num: int, den: int) -> float:
    return fastp_float(num / den) if den else 0.0


def _totals(profiles: list[QcProfile]) -> dict:
    reads = sum(p.total_reads for p in profiles)
    bases = sum(p.total_bases for p in profiles)
    q20 = sum(p.q20_bases for p in profiles)
    q30 = sum(p.q30_bases for p in profiles)
    gc = sum(p.gc_bases for p in profiles)
    out = {
        "total_reads": reads,
        "total_bases": bases,
        "q20_bases": q20,
        "q30_bases": q30,
        "q20_rate": _rate(q20, bases),
        "q30_rate": _rate(q30, bases),
    }
    for i, p in enumerate(profiles):
        out[f"read{i + 1}_mean_length"] = p.mean_length
    out["gc_content"] = _rate(gc, bases)
    return out


def profile_section(p: QcProfile, overrepresented: dict[str, int] | None = None) -> dict:
    """One `readN_before/after_filtering` object (`overrepresented`: fastp's
    `overrepresented_sequences`, found with -p; empty without)."""
    section: dict[str, Any] = {
        "total_reads": p.total_reads,
        "total_bases": p.total_bases,
        "q20_bases": p.q20_bases,
        "q30_bases": p.q30_bases,
        "total_cycles": p.total_cycles,
    }
    if p.has_qual:
        q = p.quality_curves()
        section["quality_curves"] = {k: _curve(q[k]) for k in QUALITY_KEYS}
    c = p.content_curves()
    section["content_curves"] = {k: _curve(c[k]) for k in CONTENT_KEYS}
    section["kmer_count"] = p.kmer_count()
    # fastp writes the key always, empty without -p
    section["overrepresented_sequences"] = dict(overrepresented or {})
    lengths = np.flatnonzero(p.length_hist)
    section["length_histogram"] = {str(n): int(p.length_hist[n]) for n in lengths.tolist()}
    if p.has_qual:
        top = int(np.flatnonzero(p.qual_hist).max()) + 1 if p.qual_hist.any() else 0
        section["quality_histogram"] = p.qual_hist[:top].tolist()
    return section


def _sequencing(before: list[QcProfile]) -> str:
    cycles = " + ".join(f"{p.total_cycles} cycles" for p in before)
    return f"{'paired' if len(before) == 2 else 'single'} end ({cycles})"


def insert_size_section(hist: np.ndarray) -> dict:
    """fastp's `insert_size` from its histogram of INSERT_SIZE_MAX + 1 slots (the last
    counts pairs with no overlap or a longer insert): the first most frequent size."""
    hist = np.asarray(hist, np.int64)
    known = hist[:-1]
    return {
        "peak": int(np.argmax(known)) if len(known) else 0,
        "unknown": int(hist[-1]),
        "histogram": known.tolist(),
    }


def fastp_report(
    before: list[QcProfile],
    after: list[QcProfile],
    filtering: dict,
    duplication_rate: float | None,
    command: str,
    extra: dict | None = None,
    *,
    insert_sizes: np.ndarray | None = None,
    overrepresented: list[list[dict[str, int]]] | None = None,
    merged: bool = False,
) -> dict:
    """fastp's JSON report as a dict. `before`/`after` are [read1] or [read1, read2];
    `filtering` becomes `filtering_result` as given; `insert_sizes` (pairs) is fastp's
    insert size histogram; `overrepresented` is, per mate, [before, after] sequence →
    sampled count (with -p). `extra` keys (e.g. `adapter_cutting`, seqray's own
    accounting) join the top level before the per-mate sections and may not replace a
    key made here. With `merged` (pairs merged, -m) `after` is [the merged file's reads]
    and its section is fastp's `merged_and_filtered`."""
    if merged and (len(before) != 2 or len(after) != 1):
        raise ValueError("merged: before must be [read1, read2] and after [merged reads]")
    if len(before) not in (1, 2) or (len(after) != len(before) and not merged):
        raise ValueError("before/after must both be [read1] or [read1, read2]")
    report: dict = {
        "summary": {
            "fastp_version": f"seqray {__version__}",
            "sequencing": _sequencing(before),
            "before_filtering": _totals(before),
            "after_filtering": _totals(after),
        },
        "filtering_result": dict(filtering),
    }
    if duplication_rate is not None:
        report["duplication"] = {"rate": fastp_float(duplication_rate)}
    if insert_sizes is not None:
        report["insert_size"] = insert_size_section(insert_sizes)
    for key, value in (extra or {}).items():
        if key in report or key == "command" or key.startswith(("read1_", "read2_")):
            raise ValueError(f"extra report key {key!r} would replace a fastp key")
        report[key] = value
    for j, (stage, profiles) in enumerate((("before", before), ("after", after))):
        for i, p in enumerate(profiles):
            over = None
            if overrepresented is not None and i < len(overrepresented):
                over = overrepresented[i][j]
            name = "merged_and_filtered" if merged and j else f"read{i + 1}_{stage}_filtering"
            report[name] = profile_section(p, over)
    # fastp's order: read1_before, read2_before, read1_after, read2_after, command
    report["command"] = command
    return report


def report_bytes(report: dict) -> bytes:
    """Indented with tabs like fastp (MultiQC looks for `"before_filtering": {` in the
    first 50 lines); lists stay on one line each."""
    return (_dump(report, 0) + "\n").encode()


def _dump(obj, depth: int) -> str:
    if isinstance(obj, dict) and obj:
        pad = "\t" * (depth + 1)
        items = [f"{pad}{json.dumps(str(k))}: {_dump(v, depth + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + "\t" * depth + "}"
    return json.dumps(
        obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_plain
    )


def _plain(obj):
    """NumPy scalars and arrays (e.g. counters a stage passes in) as JSON values."""
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_json_report(report: dict, uri: str) -> WrittenFile:
    """Writes the report atomically (local path or s3://)."""
    return write_file(uri, report_bytes(report))
