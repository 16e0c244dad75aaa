"""`seqray qc`: fastp's trimming and filtering with fastp's flags, on seqray's pipeline."""

from __future__ import annotations

import os
import shlex
import sys
from typing import Any

import typer
from rich.table import Table

from ..errors import OutputError
from .common import console, pipeline_config
from .options import (
    ADDRESS,
    OVERWRITE,
    QUIET,
    RESUME,
    RUN_PANEL,
    RUNNER,
    SHARED_OUTPUT,
    Runner,
    run_section,
)
from .progress import progress_for

_S = "Trimming"
_F = "Filtering"
_A = "Adapters"
_R = "Reports"
_U = "UMI"


def _abs(path: str | None) -> str | None:
    if path is None or "://" in path:
        return path
    return os.path.abspath(path)


def qc(
    ctx: typer.Context,
    in1: list[str] = typer.Option(..., "-i", "--in1", help="Read 1 input(s) (FASTQ, gz, BAM...)."),
    in2: list[str] = typer.Option(None, "-I", "--in2", help="Read 2 input(s) for pairs."),
    out1: str = typer.Option(None, "-o", "--out1", help="Passed read 1 (FASTQ, .gz to gzip)."),
    out2: str = typer.Option(None, "-O", "--out2", help="Passed read 2."),
    failed_out: str = typer.Option(
        None,
        "--failed_out",
        help="Reads that fail a filter, the reason appended to their names (as fastp).",
    ),
    merge: bool = typer.Option(
        False,
        "-m",
        "--merge",
        help="Pairs: merge each overlapping pair into one read, written to --merged_out; "
        "pairs that do not merge go to -o/-O (turns -c on, as fastp).",
    ),
    merged_out: str | None = typer.Option(
        None, "--merged_out", help="With -m: the merged reads (FASTQ, .gz to gzip)."
    ),
    include_unmerged: bool = typer.Option(
        False,
        "--include_unmerged",
        help="With -m: write the mates of pairs that do not merge to --merged_out too.",
    ),
    phred64: bool = typer.Option(False, "-6", "--phred64", help="Input qualities are Phred+64."),
    compression: int = typer.Option(
        4,
        "-z",
        "--compression",
        min=1,
        max=9,
        help="Gzip level of .gz output, fastp's 1..9 (mapped onto isal's 0..3; see docs/qc.md).",
    ),
    bgzf: bool = typer.Option(
        False, "--bgzf", help="Write .gz output as BGZF (blocked gzip: indexable, splittable)."
    ),
    # filters
    disable_quality_filtering: bool = typer.Option(
        False, "-Q", "--disable_quality_filtering", rich_help_panel=_F
    ),
    qualified_quality_phred: int = typer.Option(
        15,
        "-q",
        "--qualified_quality_phred",
        help="A base is qualified when Q >= this.",
        rich_help_panel=_F,
    ),
    unqualified_percent_limit: int = typer.Option(
        40,
        "-u",
        "--unqualified_percent_limit",
        help="Max % of unqualified bases.",
        rich_help_panel=_F,
    ),
    n_base_limit: int = typer.Option(
        5, "-n", "--n_base_limit", help="Max N bases.", rich_help_panel=_F
    ),
    average_qual: int = typer.Option(
        0, "-e", "--average_qual", help="Min mean quality (0: off).", rich_help_panel=_F
    ),
    disable_length_filtering: bool = typer.Option(
        False, "-L", "--disable_length_filtering", rich_help_panel=_F
    ),
    length_required: int = typer.Option(15, "-l", "--length_required", rich_help_panel=_F),
    length_limit: int = typer.Option(
        0, "--length_limit", help="Max length (0: none).", rich_help_panel=_F
    ),
    low_complexity_filter: bool = typer.Option(
        False, "-y", "--low_complexity_filter", rich_help_panel=_F
    ),
    complexity_threshold: int = typer.Option(
        30, "-Y", "--complexity_threshold", rich_help_panel=_F
    ),
    dedup: bool = typer.Option(
        False, "-D", "--dedup", help="Drop later copies of a raw read (pair).", rich_help_panel=_F
    ),
    # UMI
    umi: bool = typer.Option(
        False, "-U", "--umi", help="Move each read's UMI into its name.", rich_help_panel=_U
    ),
    umi_loc: str = typer.Option(
        None,
        "--umi_loc",
        help="index1, index2, read1, read2, per_index or per_read.",
        rich_help_panel=_U,
    ),
    umi_len: int = typer.Option(
        0, "--umi_len", min=0, help="UMI length in reads.", rich_help_panel=_U
    ),
    umi_prefix: str = typer.Option(
        None, "--umi_prefix", help="Name tag PREFIX_UMI (letters, digits).", rich_help_panel=_U
    ),
    umi_skip: int = typer.Option(
        0, "--umi_skip", min=0, max=100, help="Bases cut after a read's UMI.", rich_help_panel=_U
    ),
    # trimming
    trim_front1: int = typer.Option(0, "-f", "--trim_front1", rich_help_panel=_S),
    trim_tail1: int = typer.Option(0, "-t", "--trim_tail1", rich_help_panel=_S),
    trim_front2: int = typer.Option(
        None, "-F", "--trim_front2", help="Default: as read 1.", rich_help_panel=_S
    ),
    trim_tail2: int = typer.Option(
        None, "-T", "--trim_tail2", help="Default: as read 1.", rich_help_panel=_S
    ),
    max_len1: int = typer.Option(0, "-b", "--max_len1", rich_help_panel=_S),
    max_len2: int = typer.Option(
        None, "-B", "--max_len2", help="Default: as read 1.", rich_help_panel=_S
    ),
    cut_front: bool = typer.Option(False, "-5", "--cut_front", rich_help_panel=_S),
    cut_tail: bool = typer.Option(False, "-3", "--cut_tail", rich_help_panel=_S),
    cut_right: bool = typer.Option(False, "-r", "--cut_right", rich_help_panel=_S),
    cut_window_size: int = typer.Option(4, "-W", "--cut_window_size", rich_help_panel=_S),
    cut_mean_quality: int = typer.Option(20, "-M", "--cut_mean_quality", rich_help_panel=_S),
    cut_front_window_size: int = typer.Option(None, "--cut_front_window_size", rich_help_panel=_S),
    cut_front_mean_quality: int = typer.Option(
        None, "--cut_front_mean_quality", rich_help_panel=_S
    ),
    cut_tail_window_size: int = typer.Option(None, "--cut_tail_window_size", rich_help_panel=_S),
    cut_tail_mean_quality: int = typer.Option(None, "--cut_tail_mean_quality", rich_help_panel=_S),
    cut_right_window_size: int = typer.Option(None, "--cut_right_window_size", rich_help_panel=_S),
    cut_right_mean_quality: int = typer.Option(
        None, "--cut_right_mean_quality", rich_help_panel=_S
    ),
    trim_poly_g: bool = typer.Option(
        False,
        "-g",
        "--trim_poly_g",
        help="Force poly-G trimming (default: by read names).",
        rich_help_panel=_S,
    ),
    disable_trim_poly_g: bool = typer.Option(
        False, "-G", "--disable_trim_poly_g", rich_help_panel=_S
    ),
    poly_g_min_len: int = typer.Option(10, "--poly_g_min_len", rich_help_panel=_S),
    trim_poly_x: bool = typer.Option(False, "-x", "--trim_poly_x", rich_help_panel=_S),
    poly_x_min_len: int = typer.Option(10, "--poly_x_min_len", rich_help_panel=_S),
    # adapters
    disable_adapter_trimming: bool = typer.Option(
        False, "-A", "--disable_adapter_trimming", rich_help_panel=_A
    ),
    adapter_sequence: str = typer.Option(
        None,
        "-a",
        "--adapter_sequence",
        help="Read 1 adapter. Default: detected for single-end reads (as fastp), none for pairs.",
        rich_help_panel=_A,
    ),
    adapter_sequence_r2: str = typer.Option(
        None, "--adapter_sequence_r2", help="Default: as read 1.", rich_help_panel=_A
    ),
    overlap_len_require: int = typer.Option(30, "--overlap_len_require", rich_help_panel=_A),
    overlap_diff_limit: int = typer.Option(5, "--overlap_diff_limit", rich_help_panel=_A),
    overlap_diff_percent_limit: int = typer.Option(
        20, "--overlap_diff_percent_limit", rich_help_panel=_A
    ),
    correction: bool = typer.Option(
        False,
        "-c",
        "--correction",
        help="Correct mismatched bases in the overlap of a pair (Q30+ over Q14-).",
        rich_help_panel=_A,
    ),
    # run and reports
    json_report: str = typer.Option(
        None, "-j", "--json", help="fastp-style JSON report.", rich_help_panel=_R
    ),
    html_report: str = typer.Option(
        None, "-h", "--html", help="fastp-style HTML report.", rich_help_panel=_R
    ),
    report_title: str = typer.Option(
        "seqray qc report", "-R", "--report_title", rich_help_panel=_R
    ),
    dont_eval_duplication: bool = typer.Option(
        False,
        "--dont_eval_duplication",
        help="Reports without the duplication rate (saves the pass over the input that "
        "finds the duplicates; -D still needs it).",
        rich_help_panel=_R,
    ),
    overrepresentation_analysis: bool = typer.Option(
        False,
        "-p",
        "--overrepresentation_analysis",
        help="Report overrepresented sequences.",
        rich_help_panel=_R,
    ),
    overrepresentation_sampling: int = typer.Option(
        20,
        "-P",
        "--overrepresentation_sampling",
        min=1,
        max=10000,
        help="Count overrepresented sequences in one of this many reads (1-10000).",
        rich_help_panel=_R,
    ),
    # fastp's -w/--thread (its -t trims read 1's tail), and seqray's --threads
    threads: int | None = typer.Option(
        None,
        "-w",
        "--thread",
        "--threads",
        min=1,
        help="CPUs to use (default: all).",
        rich_help_panel=RUN_PANEL,
    ),
    outdir: str = typer.Option(
        None,
        "--outdir",
        help="Keep the manifest and run state here (default with -o: a hidden directory "
        "beside out1, removed when the run completes; without -o: seqray_qc, which also "
        "holds the reads).",
        rich_help_panel=RUN_PANEL,
    ),
    keep_manifest: bool = typer.Option(
        False,
        "--keep-manifest",
        help="Keep the manifest and run state in <out1>.seqray (a later --overwrite can "
        "then replace the outputs).",
        rich_help_panel=RUN_PANEL,
    ),
    dots_to_n: bool = typer.Option(
        False,
        "--dots-to-n",
        help="Write '.' in reads as N (default: kept, as fastp does).",
        rich_help_panel=_F,
    ),
    runner: Runner | None = RUNNER,
    address: str | None = ADDRESS,
    shared_output: bool = SHARED_OUTPUT,
    overwrite: bool = OVERWRITE,
    resume: bool = RESUME,
    quiet: bool = QUIET,
) -> None:
    """Trim and filter reads as fastp does (same flags and defaults; see docs/qc.md)."""
    from ..io.fs import exists
    from ..pipeline.driver import run_pipeline
    from ..pipeline.ownership import discard_finished_run
    from ..qc.api import qc_pipeline
    from .run_cmd import print_qualities, print_summary

    if trim_poly_g and disable_trim_poly_g:
        raise typer.BadParameter("-g and -G exclude each other", param_hint="'-g' / '-G'")
    if in2 and out1 and not out2:
        raise typer.BadParameter("paired input written with -o needs -O too", param_hint="'-O'")
    if out2 and not in2:
        raise typer.BadParameter(
            "-O writes read 2 of pairs: give read 2 with -I", param_hint="'-O'"
        )
    if out2 and not out1:
        raise typer.BadParameter("-O needs -o for read 1", param_hint="'-o'")
    check_merging(merge, merged_out, bool(in2), out1, out2)
    if correction and not in2 and not merge:  # as fastp: a warning, and the run goes on
        console.print(
            "[yellow]warning:[/] base correction (-c) needs paired reads; ignored for "
            "single-end input",
            highlight=False,
        )
        correction = False
    if not merge:
        merged_out = None  # fastp ignores --merged_out (and --include_unmerged) without -m
        include_unmerged = False
    options: dict[str, Any] = {
        k: v
        for k, v in dict(
            disable_quality_filtering=disable_quality_filtering,
            qualified_quality_phred=qualified_quality_phred,
            unqualified_percent_limit=unqualified_percent_limit,
            n_base_limit=n_base_limit,
            average_qual=average_qual,
            disable_length_filtering=disable_length_filtering,
            length_required=length_required,
            length_limit=length_limit,
            low_complexity_filter=low_complexity_filter,
            complexity_threshold=complexity_threshold,
            dedup=dedup,
            umi=umi or None,
            umi_loc=umi_loc.lower() if umi_loc else None,
            umi_len=umi_len or None,
            umi_prefix=umi_prefix,
            umi_skip=umi_skip or None,
            trim_front1=trim_front1,
            trim_tail1=trim_tail1,
            trim_front2=trim_front2,
            trim_tail2=trim_tail2,
            max_len1=max_len1,
            max_len2=max_len2,
            cut_front=cut_front,
            cut_tail=cut_tail,
            cut_right=cut_right,
            cut_window_size=cut_window_size,
            cut_mean_quality=cut_mean_quality,
            cut_front_window_size=cut_front_window_size,
            cut_front_mean_quality=cut_front_mean_quality,
            cut_tail_window_size=cut_tail_window_size,
            cut_tail_mean_quality=cut_tail_mean_quality,
            cut_right_window_size=cut_right_window_size,
            cut_right_mean_quality=cut_right_mean_quality,
            trim_poly_g=True if trim_poly_g else (False if disable_trim_poly_g else None),
            poly_g_min_len=poly_g_min_len,
            trim_poly_x=trim_poly_x,
            poly_x_min_len=poly_x_min_len,
            disable_adapter_trimming=disable_adapter_trimming,
            adapter_sequence=adapter_sequence,
            adapter_sequence_r2=adapter_sequence_r2,
            overlap_len_require=overlap_len_require,
            overlap_diff_limit=overlap_diff_limit,
            overlap_diff_percent_limit=overlap_diff_percent_limit,
            correction=correction,
            merge=merge or None,
            include_unmerged=include_unmerged or None,
            json_report=_abs(json_report),
            html_report=_abs(html_report),
            report_title=report_title,
            dont_eval_duplication=dont_eval_duplication,
            overrepresentation_analysis=overrepresentation_analysis,
            overrepresentation_sampling=overrepresentation_sampling,
            command="seqray qc " + shlex.join(sys.argv[2:] if len(sys.argv) > 2 else []),
        ).items()
        if v is not None
    }
    transient = outdir is None and out1 is not None and not keep_manifest
    if outdir is None:
        outdir = (
            (out1 + ".seqray" if keep_manifest else hidden_run_dir(out1)) if out1 else "seqray_qc"
        )
    if transient and not exists(outdir):
        outputs = [f for f in (out1, out2, failed_out, merged_out, json_report, html_report) if f]
        check_no_earlier_outputs(outputs, [*in1, *(in2 or [])])
    try:
        data = qc_pipeline(
            list(in1),
            list(in2) if in2 else None,
            out1=_abs(out1),
            out2=_abs(out2),
            failed_out=_abs(failed_out),
            merged_out=_abs(merged_out),
            outdir=outdir,
            phred64=phred64,
            dots_to_n=dots_to_n,
            compression=compression,
            bgzf=bgzf,
            **options,
        )
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="'-o' / '-O'") from None
    data["run"].update(run_section(threads, runner, address, shared_output))
    cfg = pipeline_config(ctx, data, "seqray qc", {"num_cpus": "threads"})
    with progress_for(quiet) as progress:
        result = run_pipeline(cfg, overwrite=overwrite, resume=resume, progress=progress)
    if result.verified:
        print_summary(result)
    else:
        print_qc_summary(result.reports["qc"])
        print_qualities(result.inputs)
    if transient:
        try:
            discard_finished_run(outdir)
        except OutputError as e:
            console.print(f"[yellow]note:[/] {e}", highlight=False)
        console.print(f"done ({result.seconds:.1f} s)", highlight=False)
    elif not result.verified:
        console.print(f"manifest: {result.manifest}  ({result.seconds:.1f} s)", highlight=False)


def check_merging(
    merge: bool, merged_out: str | None, paired: bool, out1: str | None, out2: str | None
) -> None:
    """fastp's rules for -m: pairs, and --merged_out, a file of its own."""
    if not merge:
        if merged_out:
            console.print(
                "[yellow]note:[/] --merged_out without -m/--merge is ignored (as fastp)",
                highlight=False,
            )
        return
    if not paired:
        raise typer.BadParameter(
            "merging needs read 2: give it with -I/--in2", param_hint="'-m' / '--in2'"
        )
    if not merged_out:
        raise typer.BadParameter(
            "merging needs --merged_out for the merged reads", param_hint="'--merged_out'"
        )
    for flag, other in (("-o/--out1", out1), ("-O/--out2", out2)):
        if other and os.path.abspath(other) == os.path.abspath(merged_out):
            raise typer.BadParameter(
                f"--merged_out and {flag} must be different files", param_hint="'--merged_out'"
            )


def hidden_run_dir(out1: str) -> str:
    """Where a qc run keeps its manifest and journal while it runs: `.NAME.seqray` beside
    out1 (hidden, and kept after a failure or a kill so that --resume can finish)."""
    if "://" in out1:
        base, _, name = out1.rpartition("/")
        return f"{base}/.{name}.seqray"
    d, name = os.path.split(os.path.abspath(out1))
    return os.path.join(d, f".{name}.seqray")


def check_no_earlier_outputs(files: list[str], inputs: list[str]) -> None:
    """An output file already there, with no run record beside it, is refused by name
    before anything runs: seqray replaces only files it can show it wrote, and a qc run's
    record goes when the run completes. (An output that is an input is left to the run's
    own check, which says so.)"""
    from ..io.fs import exists
    from ..pipeline.outputs import same_file

    for f in files:
        if exists(f) and not any(same_file(f, i) for i in inputs):
            raise OutputError(
                f"{f}: already exists, and no seqray run record says seqray wrote it (a qc "
                "run's record is removed when it completes; --keep-manifest keeps it for a "
                "later --overwrite): remove it or choose another name"
            )


def print_qc_summary(report: dict) -> None:
    """fastp's "Filtering result", per file and in total: reads and bases by outcome;
    first, as fastp, the single-end adapter detection's outcome when it ran."""
    found = report.get("adapter_detected")
    if found is not None:
        lines = ["Detecting adapter sequence for read1..."]
        if found["known_as"]:
            lines.append(f">{found['known_as']}")
        lines.append(found["sequence"] or "No adapter detected for read1")
        console.print("\n".join(lines) + "\n", highlight=False, markup=False)
    rows = [
        ("passed", "passed_filter"),
        ("low quality", "low_quality"),
        ("too many N", "too_many_N"),
        ("too short", "too_short"),
        ("too long", "too_long"),
        ("low complexity", "low_complexity"),
        ("duplicated", "duplicated"),
    ]
    t = Table("outcome", "reads", "bases", "% reads", title="seqray qc", box=None)
    n = report["reads_in"] or 1
    for label, key in rows:
        reads = report[f"{key}_reads"]
        t.add_row(label, f"{reads:,}", f"{report[f'{key}_bases']:,}", f"{100 * reads / n:.2f}")
    t.add_row("reads in", f"{report['reads_in']:,}", f"{report['bases_in']:,}", "100.00")
    console.print(t)
