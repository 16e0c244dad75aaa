"""`seqray run CONFIG`: run a pipeline, with progress and a per-stage summary."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from .common import console, typed_option, validated
from .options import (
    ADDRESS,
    OVERWRITE,
    QUIET,
    RESUME,
    RUNNER,
    SHARED_OUTPUT,
    THREADS,
    Runner,
    output_option,
    run_section,
)
from .progress import progress_for

if TYPE_CHECKING:
    from ..pipeline.driver import RunResult


def run(
    ctx: typer.Context,
    config: str = typer.Argument(..., help="Pipeline YAML."),
    output: str | None = output_option(
        "Output directory (overrides the config; paths the config places under its output "
        "move with it).",
        required=False,
    ),
    threads: int | None = THREADS,
    runner: Runner | None = RUNNER,
    address: str | None = ADDRESS,
    shared_output: bool = SHARED_OUTPUT,
    overwrite: bool = OVERWRITE,
    resume: bool = RESUME,
    quiet: bool = QUIET,
) -> None:
    """Run the pipeline in CONFIG; outputs and manifest.json go to its output directory."""
    # imported here: pydantic and the stage registry are not needed by the quick commands
    from ..errors import ConfigError
    from ..pipeline.config import RunSettings, load_config, relocate
    from ..pipeline.driver import run_pipeline

    cfg = load_config(config)
    updates = run_section(threads, runner, address, shared_output)
    if updates:
        settings = {**cfg.run.model_dump(), **updates}
        run = validated(ctx, RunSettings, settings, {"num_cpus": "threads"})
        cfg = cfg.model_copy(update={"run": run})
    if output:
        try:
            cfg = relocate(cfg, output)
        except ConfigError as exc:
            hint = typed_option(["-o", "--output"])
            raise typer.BadParameter(str(exc), param_hint=hint) from None
    with progress_for(quiet) as progress:
        result = run_pipeline(cfg, resume=resume, overwrite=overwrite, progress=progress)
    print_summary(result)


def print_qualities(inputs: list[dict], most: int = 4) -> None:
    """How each FASTQ input's quality encoding was decided (detected or set): one line a
    file, or a count where many files share the decision."""
    fastq = [i for i in inputs if i.get("phred_offset")]
    groups: dict[tuple, list[dict]] = {}
    for i in fastq:
        groups.setdefault((i["phred_offset"], i.get("phred_source")), []).append(i)
    for (offset, source), files in groups.items():
        how = "set in the config" if source == "set" else "detected"
        if len(files) > most:
            console.print(f"qualities: Phred+{offset} ({how}) in {len(files)} files")
            continue
        for i in files:
            why = f": {i['phred_evidence']}" if source != "set" and i.get("phred_evidence") else ""
            console.print(
                f"qualities: {i['uri']} Phred+{offset} ({how}{why})",
                highlight=False,
                soft_wrap=True,
            )


def _amounts(rows: int, kind: str, measures: dict[str, int], side: str) -> str:
    """`2,000 reads, 300,000 bases`: rows named by their kind, then the kind's measures."""
    from ..pipeline.kinds import KINDS

    named = KINDS[kind].rows if kind in KINDS else "rows"
    parts = [f"{rows:,} {named}"]
    parts += [f"{n:,} {m.removesuffix(side)}" for m, n in measures.items() if m.endswith(side)]
    return ", ".join(parts)


def print_summary(r: RunResult) -> None:
    """A table per stage: rows in/out named by their kind with the kind's measures (bases
    of reads, tokens of token rows), time, throughput (r: RunResult), then a line per stage
    of what it found."""
    from ..pipeline.registry import stage_class

    if r.verified:
        console.print(
            f"{r.output}: the run there is finished; its {r.verified} files are intact "
            "(sizes and sha256 as the manifest lists them): nothing to do",
            highlight=False,
        )
        return
    t = Table(
        "stage",
        "in",
        "out",
        "seconds",
        "rows/s",
        title=f"seqray run ({r.runner} runner, {r.chunks} chunks"
        + (f", {r.resumed_chunks} resumed" if r.resumed_chunks else "")
        + ")",
        box=None,
        header_style="bold",
    )
    for name, c in r.counters.items():
        takes, gives = r.kinds.get(name, ("", ""))
        rate = f"{c.rows_in / c.seconds:,.0f}" if c.seconds > 0 else "-"
        t.add_row(
            name,
            _amounts(c.rows_in, takes, c.measures, "_in"),
            _amounts(c.rows_out, gives, c.measures, "_out"),
            f"{c.seconds:.2f}",
            rate,
        )
    console.print(t)
    for name, report in r.reports.items():
        cls = stage_class(name)
        line = cls.summarize(report) if cls is not None and report else None
        if line:
            console.print(f"[bold]{name}:[/] {line}", highlight=False, soft_wrap=True)
    print_qualities(r.inputs)
    for p in r.prepare:
        if p["reused"]:
            console.print(
                f"[bold]{p['stage']}:[/] first pass reused from the interrupted run",
                highlight=False,
            )
    if r.rejected:
        console.print(f"[yellow]{r.rejected} bad records skipped[/] (see {r.output}/rejects/)")
    console.print(f"manifest: {r.manifest}  ({r.seconds:.1f} s)", highlight=False)
