"""Python API: `run_qc(...)`, fastp's trimming and filtering as one seqray pipeline."""

from __future__ import annotations

from typing import Any

from ..io.fs import join

# fastp's -z/--compression (gzip levels 1..9, default 4) → isal's levels 0..3 (seqray's
# gzip/BGZF output): fastp's default gives seqray's default level for FASTQ, 1
ISAL_LEVEL = {1: 0, 2: 1, 3: 1, 4: 1, 5: 2, 6: 2, 7: 2, 8: 3, 9: 3}


def isal_level(fastp_level: int) -> int:
    """The isal level that fastp's compression level 1..9 stands for (`ISAL_LEVEL`)."""
    try:
        return ISAL_LEVEL[fastp_level]
    except KeyError:
        raise ValueError(f"compression level {fastp_level}: fastp's levels are 1..9") from None


def qc_pipeline(
    in1: str | list[str],
    in2: str | list[str] | None = None,
    *,
    out1: str | None = None,
    out2: str | None = None,
    failed_out: str | None = None,
    merged_out: str | None = None,
    outdir: str = "seqray_qc",
    phred64: bool = False,
    dots_to_n: bool = False,
    compression: int = 4,
    bgzf: bool = False,
    num_cpus: int | None = None,
    runner: str = "auto",
    **options: Any,
) -> dict:
    """The pipeline config (a dict for `parse_config`) of a QC run.

    `options` are `QcConfig` fields (fastp's long option names, e.g. `cut_tail=True`,
    `adapter_sequence="AGATCGG..."`, `dedup=True`, `json_report="qc.json"`). With `out1`
    (and `out2` for pairs) the passed reads are written there as FASTQ (gzip when the name
    ends in .gz; BGZF with `bgzf`), else to `outdir`/reads.fastq.gz (reads_R1/_R2 for
    pairs); the manifest and run state go to `outdir`. `failed_out` (fastp's
    --failed_out) gets the reads that fail a filter, names tagged with the reason (a
    second `write` of the qc stage's `failed` branch). `merged_out` (fastp's
    --merged_out, with `merge=True`) gets the merged pairs (the `merged` branch; see
    `seqray.qc.merge`). `compression` is fastp's gzip
    level 1..9 (`isal_level` maps it onto isal's 0..3). A '.' in a read is kept, as fastp
    keeps it, unless `dots_to_n`."""
    read: dict[str, Any] = {
        "paths": in1,
        "phred_offset": 64 if phred64 else "auto",
        "keep_dots": not dots_to_n,
    }
    if in2 is not None:
        read["mate_paths"] = in2
    stages: list[dict] = [{"read": read}, {"qc": options}]
    gz_write = {"compression": "bgzf" if bgzf else "gzip", "level": isal_level(compression)}
    if out1 is not None:
        if in2 is not None and out2 is None:
            raise ValueError("paired input needs out2 as well as out1")
        files = [out1] + ([out2] if in2 is not None and out2 is not None else [])
        gz = [f.endswith(".gz") for f in files]
        if len(set(gz)) != 1:
            raise ValueError("out1 and out2 must both be gzipped (.gz) or both plain")
        if bgzf and not gz[0]:
            raise ValueError("BGZF output is gzip: name the output files .gz")
        compressed = gz_write if gz[0] else {"compression": "none"}
        stages.append({"write": {"format": "fastq", **compressed, "files": files}})
    else:
        stages.append({"write": {"format": "fastq", **gz_write}})
    if failed_out is not None:
        stages.append({"write": _branch_write(failed_out, "failed", gz_write, bgzf)})
    if options.get("merge"):
        if in2 is None:
            raise ValueError("merging (merge=True) needs paired input (in2)")
        if merged_out is None:
            raise ValueError("merging (merge=True) needs merged_out")
        stages.append({"write": _branch_write(merged_out, "merged", gz_write, bgzf)})
    run: dict[str, Any] = {"runner": runner}
    if num_cpus:
        run["num_cpus"] = num_cpus
    return {"output": outdir, "run": run, "stages": stages}


def _branch_write(path: str, branch: str, gz_write: dict, bgzf: bool) -> dict:
    """A `write` of the qc stage's branch `branch` to one FASTQ file."""
    if bgzf and not path.endswith(".gz"):
        raise ValueError(f"BGZF output is gzip: name the {branch} reads' file .gz")
    compressed = gz_write if path.endswith(".gz") else {"compression": "none"}
    return {"format": "fastq", **compressed, "files": [path], "branch": branch}


def run_qc(
    in1: str | list[str],
    in2: str | list[str] | None = None,
    *,
    overwrite: bool = False,
    **kwargs: Any,
) -> dict:
    """Runs QC and returns the `qc` report: reads and bases in, passed, per filter reason
    and duplicated, per input file and in total (see `qc_pipeline` for the arguments)."""
    from ..pipeline.config import parse_config
    from ..pipeline.driver import run_pipeline

    cfg = parse_config(qc_pipeline(in1, in2, **kwargs))
    result = run_pipeline(cfg, overwrite=overwrite)
    report = dict(result.reports["qc"])
    report["manifest"] = result.manifest or join(cfg.output, "manifest.json")
    return report
