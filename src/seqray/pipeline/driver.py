"""Running a pipeline: check every output, plan chunks, run the prepare passes and the
main pass on a runner (journaling each finished chunk), then finish the stages and write
the manifest.

Outputs depend only on the chunk plan, so both runners, with any worker count, write
byte-identical files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from .. import __version__
from .._alloc import release_free_memory
from ..errors import ConfigError
from ..io.chunks import Chunk
from ..io.fs import join
from .chunk import chunk_ids
from .cluster import check_cluster
from .config import PipelineConfig, absolute_paths
from .definition import Pipeline
from .finishing import finish_run
from .manifest import JOURNAL_VERSION, MANIFEST, Journal
from .outputs import check_clashes, normalize, within
from .ownership import Previous, claim_output
from .progress import Progress, ReportingMapper
from .records import ChunkOutcome, StageCounter
from .registry import MapStage, PrepareContext
from .runners import Runner, choose_runner


@dataclass
class RunResult:
    output: str
    manifest: str
    runner: str
    chunks: int
    resumed_chunks: int
    counters: dict[str, StageCounter]
    reports: dict[str, dict] = field(default_factory=dict)
    rejected: int = 0
    seconds: float = 0.0
    verified: int = 0  # `--resume` of a finished run: files found intact (nothing was run)
    prepare: list[dict] = field(default_factory=list)  # what each prepare pass did
    inputs: list[dict] = field(default_factory=list)  # the manifest's input entries
    kinds: dict[str, tuple[str, str]] = field(default_factory=dict)  # stage -> kinds in, out


def _finished(prev: Previous, verified: int, t_start: float, keys: list[str]) -> RunResult:
    """The result of `--resume` on a finished run: verified, nothing run again (`keys`:
    the stages' counter keys, in config order)."""
    m = prev.manifest or {}
    listed = m.get("stages", {})
    stages = {k: listed[k] for k in keys if k in listed}
    return RunResult(
        prev.output,
        join(prev.output, MANIFEST),
        "none",
        len(m.get("chunks", [])),
        len(m.get("chunks", [])),
        {n: StageCounter.from_json(c) for n, c in stages.items()},
        m.get("reports", {}),
        m.get("reads", {}).get("rejected", 0),
        time.perf_counter() - t_start,
        verified=verified,
        inputs=m.get("inputs", []),
        kinds={n: (c.get("takes", ""), c.get("gives", "")) for n, c in stages.items()},
    )


class _PassProgress:
    """Progress of one pass over the chunks: bytes of input and reads, per chunk finished
    and (in-process) per batch."""

    def __init__(self, progress: Progress, name: str, chunks: list[Chunk], done: dict):
        self.progress = progress
        self.sizes = {c.key: c.end - c.start for c in chunks}
        self.bytes = sum(self.sizes[k] for k in done)
        self.reads = sum(o.records for o in done.values())
        progress.phase(name, sum(self.sizes.values()))
        progress.update(self.bytes, self.reads)

    def outcome(self, o: ChunkOutcome) -> None:
        self.bytes += self.sizes[o.chunk]
        self.reads += o.records
        self.progress.update(self.bytes, self.reads)

    def batch(self, key: str, consumed: int, reads: int) -> None:
        self.progress.update(self.bytes + consumed, self.reads + reads)


def _prepare_stages(
    pipeline: Pipeline,
    chunks: list[Chunk],
    ids: dict[str, str],
    output: str,
    runner: Runner,
    config_hash: str,
    resume: bool,
    progress: Progress,
) -> list[dict]:
    """Runs the data passes that stages such as duplicate marking need before the main
    one; returns what each did (chunks scanned, or the work of an interrupted run reused)."""
    order = list(dict.fromkeys(c.source for c in chunks))
    mates = {c.source: c.mate for c in chunks}
    done = []
    for i, st in enumerate(pipeline.stages):
        if not (isinstance(st, MapStage) and st.needs_prepare()):
            continue
        scanned: list[int] = []

        def scan(sink, i=i, st=st, scanned=scanned) -> list[ChunkOutcome]:
            before = [s for s in pipeline.stages[:i] if isinstance(s, MapStage)]
            pre = replace(pipeline, stages=[*before, sink], scan=True)
            got: dict[str, ChunkOutcome] = {}
            bar = _PassProgress(progress, f"{st.name}: first pass", chunks, {})

            def on_outcome(o: ChunkOutcome) -> None:
                got[o.chunk] = o
                bar.outcome(o)

            runner.run(pre, chunks, ids, output, {}, on_outcome, bar.batch)
            scanned.append(len(got))
            return [got[c.key] for c in chunks]

        t0 = time.perf_counter()
        size = sum(c.end - c.start for c in chunks)
        mapper = ReportingMapper(runner, progress, f"{st.name}: merging")
        ctx = PrepareContext(
            output, mapper, i, config_hash, resume, order, size, scan, progress=progress,
            mate_order=[mates.get(s) for s in order],
            read_options=pipeline.read_options(), chunks=len(chunks),
            first_map=not any(isinstance(s, MapStage) for s in pipeline.stages[:i]),
        )  # fmt: skip
        st.prepare(ctx)
        release_free_memory()
        done.append(
            {
                "stage": st.name,
                "index": i,
                "reused": ctx.reused,
                "chunks_scanned": sum(scanned),
                "seconds": round(time.perf_counter() - t0, 3),
            }
        )
    return done


def run_pipeline(
    config: PipelineConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    runner: str | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Runs a pipeline: checks every output first, then the prepare passes, the main pass
    and the stages' finishing steps; the manifest is written last. `progress` hears how
    far each pass is."""
    t_start = time.perf_counter()
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite exclude each other: choose one")
    config = absolute_paths(config)  # what the run records means the same from anywhere
    pipeline = Pipeline.from_config(config)
    output = config.output
    chunks, inputs = pipeline.source.plan(config.run.chunk_bytes)
    # everything the run writes, checked before the first read
    targets = pipeline.targets(output, paired=any(c.paired for c in chunks))
    check_clashes(
        targets,
        [i.info.uri for i in inputs] + pipeline.input_paths(),
        output,
        pipeline.source.roots(),
    )
    out_dir = normalize(output)
    header: dict[str, Any] = {
        "seqray_version": __version__,
        "journal_version": JOURNAL_VERSION,
        "config_hash": config.output_hash(),
        "inputs": [{"uri": i.info.uri, "size": i.info.size, "mtime": i.info.mtime} for i in inputs],
        "targets": [
            {**t.to_json(), "external": not within(normalize(t.uri), out_dir)} for t in targets
        ],
    }
    the_runner = choose_runner(config, inputs, runner)

    def before_write() -> None:
        # what the runner cannot run, and on a cluster, what not every node sees
        the_runner.check(pipeline)
        extra = pipeline.input_paths()
        check_cluster(the_runner, output, config.run.shared_output, inputs, extra)

    claim = claim_output(
        output, targets, header, resume=resume, overwrite=overwrite, before_write=before_write
    )
    if claim.verified is not None:  # a finished run, found intact: nothing to do
        return _finished(claim.previous, claim.verified, t_start, pipeline.counter_keys())
    journal = Journal(output)
    keys = {c.key for c in chunks}
    done = {k: ChunkOutcome.from_json(v) for k, v in claim.done.items() if k in keys}

    progress = progress or Progress()
    ids = chunk_ids(chunks)
    outcomes: dict[str, ChunkOutcome] = dict(done)
    prepared = _prepare_stages(
        pipeline, chunks, ids, output, the_runner, header["config_hash"], resume, progress
    )
    bar = _PassProgress(progress, "reading", chunks, done)

    def on_outcome(o: ChunkOutcome) -> None:
        journal.record(o.to_json())
        outcomes[o.chunk] = o
        bar.outcome(o)

    the_runner.run(pipeline, chunks, ids, output, done, on_outcome, bar.batch)

    ordered = [outcomes[c.key] for c in chunks]
    finished = finish_run(
        pipeline, ordered, inputs, header, prepared, len(done), the_runner, journal, progress
    )
    return RunResult(
        output,
        finished.manifest,
        the_runner.name,
        len(chunks),
        len(done),
        finished.counters,
        finished.reports,
        finished.rejected,
        time.perf_counter() - t_start,
        prepare=prepared,
        inputs=finished.inputs,
        kinds=finished.kinds,
    )
