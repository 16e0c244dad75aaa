"""Running a pipeline: plan chunks, process them (in-process or on Ray), journal each
finished chunk, then join outputs, write reports and the manifest.

The pipeline definition (`Pipeline`, `process_chunk`) knows nothing of where it runs; the
two runners only decide where `process_chunk` is called. Outputs depend only on the chunk
plan, so both runners, with any worker count, write byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, cast

import pyarrow as pa
import pyarrow.fs as pafs

from .. import __version__
from .._alloc import keep_freed_memory, release_free_memory
from ..errors import ConfigError, SeqrayError
from ..io.buffers import values_offsets
from ..io.chunks import Chunk
from ..io.formats import WrittenShard
from ..io.fs import filesystem_for, join
from ..io.parse import ReadOptions, count_chunk_records
from ..io.readers import open_chunk
from ..io.schema import SEQ, SEQ2, read_schema
from ..io.sources import InputFile, number_chunks
from ..io.writers import AtomicFile
from .config import PipelineConfig, absolute_paths
from .manifest import MANIFEST, Journal, write_manifest
from .outputs import STATE_DIR, Target, check_clashes, normalize, within
from .ownership import claim_output
from .progress import Progress, ReportingMapper
from .registry import FinishContext, MapStage, PrepareContext, SinkStage, Stage, make_stage
from .stages import ReadStage

# below this much input, `runner: auto` stays in-process: starting Ray costs seconds
AUTO_RAY_BYTES = 256 * 1024 * 1024


def _bases(table: pa.Table) -> int:
    n = 0
    for c in (SEQ, SEQ2):
        if c in table.column_names:
            _, offsets = values_offsets(table.column(c))
            n += int(offsets[-1]) if len(offsets) else 0
    return n


@dataclass
class StageCounter:
    reads_in: int = 0
    bases_in: int = 0
    reads_out: int = 0
    bases_out: int = 0
    seconds: float = 0.0

    def __iadd__(self, o: StageCounter) -> StageCounter:
        self.reads_in += o.reads_in
        self.bases_in += o.bases_in
        self.reads_out += o.reads_out
        self.bases_out += o.bases_out
        self.seconds += o.seconds
        return self


@dataclass
class Pipeline:
    config: PipelineConfig
    source: ReadStage
    stages: list[Stage]  # map and sink stages, in config order
    scan: bool = False  # a prepare pass: its rejects are the main pass's to write

    @classmethod
    def from_config(cls, config: PipelineConfig) -> Pipeline:
        objs = [make_stage(c) for c in config.stages]
        for i, st in enumerate(objs):
            st.index = i  # its place in the config (`stages[i]`): names its private files
            if isinstance(st, SinkStage):
                st.upstream = [s for s in objs[1:i] if isinstance(s, MapStage)]
        _check_reads_flow(objs)
        return cls(config, cast(ReadStage, objs[0]), objs[1:])

    @property
    def names(self) -> list[str]:
        return ["read"] + [s.name for s in self.stages]

    def read_options(self) -> ReadOptions:
        run = self.config.run
        return self.source.options(run.block_bases, run.on_error == "skip")

    def targets(self, output: str, paired: bool) -> list[Target]:
        """Everything the run writes: each stage's files and shard directories, the
        manifest, rejects, and the run's own state directory."""
        out = [Target(join(output, STATE_DIR), "dir", "seqray's run state")]
        for i, st in enumerate(self.stages, start=1):
            out += st.targets(output, paired, f"stages[{i}] ({st.name})")
        out.append(Target(join(output, MANIFEST), "file", "the manifest"))
        if self.config.run.on_error == "skip":
            rejects = "rejects (on_error: skip)"
            out.append(Target(join(output, "rejects"), "dir", rejects, "part-*.jsonl"))
        return out

    def input_paths(self) -> list[str]:
        return [p for st in self.stages for p in st.input_paths()]

    def schemas(self, paired: bool) -> list[pa.Schema]:
        """The schema of the batches entering each stage, then of those leaving the last."""
        out = [read_schema(paired)]
        for st in self.stages:
            out.append(st.output_schema(out[-1]) if isinstance(st, MapStage) else out[-1])
        return out


def _check_reads_flow(stages: list[Stage]) -> None:
    """A stage that needs reads cannot follow one whose output is not reads any more."""
    maker = None
    for i, st in enumerate(stages):
        if maker is not None and st.needs_reads():
            raise ConfigError(
                f"invalid pipeline: stages[{i}] ({st.name}) needs reads, but "
                f"stages[{maker[0]}] ({maker[1]}) before it turns them into something else: "
                "move it before that stage" + (", or write Parquet" if st.name == "write" else "")
            )
        if maker is None and isinstance(st, MapStage) and not st.keeps_reads():
            maker = (i, st.name)


def _chunk_ids(chunks: list[Chunk]) -> dict[str, str]:
    order = {s: i for i, s in enumerate(dict.fromkeys(c.source for c in chunks))}
    return {c.key: f"{order[c.source]:04d}-{c.index:05d}" for c in chunks}


def _run_maps(pipeline: Pipeline, table: pa.Table, chunk: Chunk, schemas: list[pa.Schema]):
    """One batch through the map stages: per-stage counters, fresh accumulators, and the
    table each sink receives. Pure apart from its own outputs, so batches can run on threads.
    Each map stage's batches must have the schema it declares (`schemas`: what enters each
    stage): a sink writing typed files relies on it."""
    counters = [StageCounter() for _ in pipeline.stages]
    accs = [s.new_accumulator() if isinstance(s, MapStage) else None for s in pipeline.stages]
    to_sinks = []
    n, b = len(table), _bases(table)
    for i, st in enumerate(pipeline.stages):
        c = counters[i]
        c.reads_in += n
        c.bases_in += b
        if isinstance(st, MapStage):
            t0 = time.perf_counter()
            table = st.transform(table, accs[i], chunk)
            c.seconds += time.perf_counter() - t0
            if not table.schema.equals(schemas[i + 1]):
                raise RuntimeError(
                    f"stage {st.name} returned batches with columns {table.schema} "
                    f"but declares {schemas[i + 1]}"
                )
            n, b = len(table), _bases(table)
        else:
            to_sinks.append((i, table))
        c.reads_out += n
        c.bases_out += b
    return counters, accs, to_sinks


def process_chunk(
    pipeline: Pipeline,
    chunk: Chunk,
    chunk_id: str,
    output: str,
    threads: int = 1,
    on_batch: Callable[[int, int], None] | None = None,
) -> dict:
    """Reads one chunk through every stage and writes its shards; returns its outcome.

    With `threads` > 1 the map stages of successive batches run on a thread pool (the Numba
    kernels release the GIL) while this thread parses, and one more thread writes (gzip and
    hashing release it too); results are taken in batch order, accumulators merged and
    tables written in that order, so outputs do not depend on `threads`. `on_batch(raw
    bytes read, records)` hears how far the chunk is after each batch (progress)."""
    opts = pipeline.read_options()
    counters = [StageCounter() for _ in pipeline.names]
    accs = [s.new_accumulator() if isinstance(s, MapStage) else None for s in pipeline.stages]
    writers: dict[int, list] = {}
    reader = open_chunk(chunk, opts)
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    write_pool = ThreadPoolExecutor(1) if threads > 1 else None  # one thread: batch order
    pending: deque = deque()
    writing: deque = deque()

    def write(to_sinks) -> None:
        for i, table in to_sinks:
            t0 = time.perf_counter()
            for w in writers[i]:
                w.write(table)
            counters[i + 1].seconds += time.perf_counter() - t0

    def take(result) -> None:
        batch_counters, batch_accs, to_sinks = result
        for c, bc in zip(counters[1:], batch_counters):
            c += bc
        for i, a in enumerate(batch_accs):
            if a is not None:
                accs[i] += a
        if write_pool is None:
            write(to_sinks)
            return
        writing.append(write_pool.submit(write, to_sinks))
        while len(writing) > 2 or (writing and writing[0].done()):
            writing.popleft().result()  # re-raises a writer's error here

    try:
        for i, st in enumerate(pipeline.stages):
            if isinstance(st, SinkStage):
                writers[i] = st.open(chunk, chunk_id, output)
        schemas = pipeline.schemas(chunk.paired)
        it = iter(reader)
        while True:
            t0 = time.perf_counter()
            table = next(it, None)
            counters[0].seconds += time.perf_counter() - t0
            if table is None:
                break
            counters[0].reads_out += len(table)
            counters[0].bases_out += _bases(table)
            if on_batch is not None:
                on_batch(min(reader.consumed, chunk.end - chunk.start), counters[0].reads_out)
            if pool is None:
                take(_run_maps(pipeline, table, chunk, schemas))
                continue
            pending.append(pool.submit(_run_maps, pipeline, table, chunk, schemas))
            while len(pending) > 2 * threads or (pending and pending[0].done()):
                take(pending.popleft().result())
        while pending:
            take(pending.popleft().result())
        while writing:
            writing.popleft().result()
        shards = []
        for i, ws in writers.items():
            for w in ws:
                shard = w.commit().to_json()
                shards.append({**shard, "stage": pipeline.stages[i].name, "stage_index": i})
    except BaseException:
        for f in (*pending, *writing):
            f.cancel()
        if write_pool is not None:
            write_pool.shutdown(wait=True)  # no write may run while the writers abort
        for ws in writers.values():
            for w in ws:
                w.abort()
        raise
    finally:
        for ex in (pool, write_pool):
            if ex is not None:
                ex.shutdown(wait=True, cancel_futures=True)
    result = reader.result
    counters[0].reads_in = result.records  # records read, rejected ones included
    counters[0].bases_in = counters[0].bases_out
    if result.rejects and not pipeline.scan:
        shards.append(_write_rejects(result.rejects, chunk_id, output))
    return {
        "chunk": chunk.key,
        "chunk_id": chunk_id,
        "source": chunk.source,
        "mate": chunk.mate,
        "index": chunk.index,
        "first_record": chunk.first_record,
        "records": result.records,
        "rejected": len(result.rejects),
        "digest": result.digest,
        "shards": shards,
        "counters": [c.__dict__ for c in counters],
        "accumulators": {str(i): acc.to_json() for i, acc in enumerate(accs) if acc is not None},
    }


def _write_rejects(rejects, chunk_id: str, output: str) -> dict:
    """Bad records, one JSON object a line: file, record (1-based), reason, raw text."""
    f = AtomicFile(join(output, "rejects", f"part-{chunk_id}.jsonl"))
    for r in rejects:
        line = {
            "file": r.source,
            "record": r.record + 1,
            "reason": r.reason,
            "text": r.text.decode("latin-1"),
        }
        f.write((json.dumps(line) + "\n").encode())
    f.commit()
    shard = WrittenShard.of_file(f.written(len(rejects))).to_json()
    return {**shard, "stage": "rejects", "stage_index": -1}


# -- runners ----------------------------------------------------------------------------

OutcomeSink = Callable[[dict], None]


class LocalRunner:
    """Processes chunks one after another in this process: no start-up cost."""

    name = "local"

    def __init__(self, threads: int | None = None):
        self.threads = threads or os.cpu_count() or 1

    def map(self, fn: Callable, items: Sequence, on_done: Callable[[int], None] | None = None):
        out = []
        for x in items:
            out.append(fn(x))
            if on_done is not None:
                on_done(len(out))
        return out

    def run(
        self,
        pipeline: Pipeline,
        chunks: list[Chunk],
        ids: dict[str, str],
        output: str,
        done: dict[str, dict],
        on_outcome: OutcomeSink,
        on_batch: Callable[[str, int, int], None] | None = None,
    ) -> None:
        if any(c.split_pair for c in chunks):
            # R2 starts of split pairs need every chunk's count first
            chunks = number_chunks(chunks, pipeline.read_options(), known=_journaled(done))
        prev: dict[str, int] = {}  # source -> ordinal after the last chunk seen
        for ch in chunks:
            first = prev.get(ch.source, 0) if ch.index else 0
            if ch.key in done:
                prev[ch.source] = first + done[ch.key]["records"]
                continue
            outcome = process_chunk(
                pipeline,
                replace(ch, first_record=first),
                ids[ch.key],
                output,
                self.threads,
                on_batch and partial(on_batch, ch.key),
            )
            prev[ch.source] = first + outcome["records"]
            on_outcome(outcome)


def _journaled(done: dict[str, dict]) -> dict[str, int]:
    """Record counts of chunks finished before (resume): no need to count them again."""
    return {k: v["records"] for k, v in done.items()}


def _process_row(row: dict) -> dict:
    keep_freed_memory()
    pipeline, chunk, chunk_id, output = pickle.loads(row["task"])
    try:
        return {
            "outcome": json.dumps(process_chunk(pipeline, chunk, chunk_id, output)),
            "error": b"",
        }
    except SeqrayError as exc:
        # a user's data error travels back as data: Ray would wrap it beyond recognition
        return {"outcome": "", "error": pickle.dumps(exc)}


def _count_one(chunk: Chunk, options: ReadOptions) -> int:
    return count_chunk_records(chunk, options)


def _raise_shipped(row: dict) -> None:
    if row["error"]:
        raise pickle.loads(row["error"])


def _call_shipping_errors(fn: Callable, item):
    keep_freed_memory()
    try:
        return True, fn(item)
    except SeqrayError as exc:
        return False, pickle.dumps(exc)


class RayRunner:
    """Processes chunks as a Ray Data stream, local cluster or `address`."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None):
        self.address = address
        self.num_cpus = num_cpus

    def start(self) -> None:
        import ray

        if ray.is_initialized():
            return
        kwargs: dict = {
            "include_dashboard": False,
            "log_to_driver": False,
            "configure_logging": False,
        }
        address = self.address or os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=self.num_cpus, **kwargs)
        import ray.data

        logging.getLogger("ray.data").setLevel(logging.WARNING)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.execution_options.preserve_order = False

    def _map(self, fn, tasks: list[bytes]) -> Iterable[dict]:
        import ray.data

        if not tasks:
            return []
        ds = ray.data.from_items([{"task": t} for t in tasks], override_num_blocks=len(tasks))
        return ds.map(fn, num_cpus=1).iter_rows()

    def map(self, fn: Callable, items: Sequence, on_done: Callable[[int], None] | None = None):
        """One Ray task per item, results in item order (for reduce steps in `finish`)."""
        import ray

        self.start()
        remote = ray.remote(num_cpus=1)(_call_shipping_errors)
        refs = [remote.remote(fn, x) for x in items]
        pending = list(refs)
        while pending and on_done is not None:
            _, pending = ray.wait(pending, num_returns=1)
            on_done(len(refs) - len(pending))
        results = ray.get(refs)
        for ok, value in results:
            if not ok:
                raise pickle.loads(value)
        return [value for _, value in results]

    def count(self, chunks: list[Chunk], options: ReadOptions) -> list[int]:
        """Records of each chunk (in order), counted in parallel tasks (plain Ray tasks:
        a Ray Data stream costs about a second more to set up)."""
        return self.map(partial(_count_one, options=options), chunks)

    def run(
        self,
        pipeline: Pipeline,
        chunks: list[Chunk],
        ids: dict[str, str],
        output: str,
        done: dict[str, dict],
        on_outcome: OutcomeSink,
        on_batch: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self.start()
        # ordinals of split files: counts from the journal where known, else counted now
        chunks = number_chunks(chunks, pipeline.read_options(), self.count, _journaled(done))
        tasks = [
            pickle.dumps((pipeline, ch, ids[ch.key], output)) for ch in chunks if ch.key not in done
        ]
        for row in self._map(_process_row, tasks):
            _raise_shipped(row)
            on_outcome(json.loads(row["outcome"]))


# -- the driver -------------------------------------------------------------------------


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


def _finished(prev, verified: int, t_start: float) -> RunResult:
    """The result of `--resume` on a finished run: verified, nothing run again."""
    m = prev.manifest
    return RunResult(
        prev.output,
        join(prev.output, MANIFEST),
        "none",
        len(m.get("chunks", [])),
        len(m.get("chunks", [])),
        {n: StageCounter(**c) for n, c in m.get("stages", {}).items()},
        m.get("reports", {}),
        m.get("reads", {}).get("rejected", 0),
        time.perf_counter() - t_start,
        verified=verified,
        inputs=m.get("inputs", []),
    )


def _input_checksums(inputs: list[InputFile], outcomes: list[dict]) -> dict[str, str]:
    """sha256 of each input: of the file itself when read as one chunk, else of the
    concatenated sha256 digests of its chunks (marked 'sha256-chunks')."""
    by_source: dict[str, list[str]] = {}
    for o in sorted(outcomes, key=lambda o: (o["source"], o["index"])):
        digests = o["digest"].split("+")
        by_source.setdefault(o["source"], []).append(digests[0])
        if len(digests) > 1:
            by_source.setdefault(o["mate"], []).append(digests[1])
    out = {}
    for src, ds in by_source.items():
        out[src] = (
            ("sha256:" + ds[0])
            if len(ds) == 1
            else ("sha256-chunks:" + hashlib.sha256("".join(ds).encode()).hexdigest())
        )
    return out


class _PassProgress:
    """Progress of one pass over the chunks: bytes of input and reads, per chunk finished
    and (in-process) per batch."""

    def __init__(self, progress: Progress, name: str, chunks: list[Chunk], done: dict):
        self.progress = progress
        self.sizes = {c.key: c.end - c.start for c in chunks}
        self.bytes = sum(self.sizes[k] for k in done)
        self.reads = sum(o["records"] for o in done.values())
        progress.phase(name, sum(self.sizes.values()))
        progress.update(self.bytes, self.reads)

    def outcome(self, o: dict) -> None:
        self.bytes += self.sizes[o["chunk"]]
        self.reads += o["records"]
        self.progress.update(self.bytes, self.reads)

    def batch(self, key: str, consumed: int, reads: int) -> None:
        self.progress.update(self.bytes + consumed, self.reads + reads)


def _prepare_stages(
    pipeline, chunks, ids, output, runner, config_hash, resume, progress: Progress
) -> list[dict]:
    """Runs the data passes that stages such as duplicate marking need before the main
    one; returns what each did (chunks scanned, or the work of an interrupted run reused)."""
    order = list(dict.fromkeys(c.source for c in chunks))
    done = []
    for i, st in enumerate(pipeline.stages):
        if not (isinstance(st, MapStage) and st.needs_prepare()):
            continue
        scanned: list[int] = []

        def scan(sink, i=i, st=st, scanned=scanned) -> list[dict]:
            before = [s for s in pipeline.stages[:i] if isinstance(s, MapStage)]
            pre = replace(pipeline, stages=[*before, sink], scan=True)
            got: dict[str, dict] = {}
            bar = _PassProgress(progress, f"{st.name}: first pass", chunks, {})

            def on_outcome(o: dict) -> None:
                got[o["chunk"]] = o
                bar.outcome(o)

            runner.run(pre, chunks, ids, output, {}, on_outcome, bar.batch)
            scanned.append(len(got))
            return [got[c.key] for c in chunks]

        t0 = time.perf_counter()
        size = sum(c.end - c.start for c in chunks)
        mapper = ReportingMapper(runner, progress, f"{st.name}: merging")
        ctx = PrepareContext(output, mapper, i, config_hash, resume, order, size, scan)
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


def choose_runner(config: PipelineConfig, inputs: list[InputFile], runner: str | None):
    kind = runner or config.run.runner
    if kind == "auto":
        total = sum(i.info.size for i in inputs)
        kind = (
            "ray"
            if (total > AUTO_RAY_BYTES or config.run.address or os.environ.get("RAY_ADDRESS"))
            else "local"
        )
    if kind == "ray":
        return RayRunner(config.run.address, config.run.num_cpus)
    return LocalRunner(config.run.num_cpus)


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
        "config_hash": config.output_hash(),
        "inputs": [{"uri": i.info.uri, "size": i.info.size, "mtime": i.info.mtime} for i in inputs],
        "targets": [
            {**t.to_json(), "external": not within(normalize(t.uri), out_dir)} for t in targets
        ],
    }
    claim = claim_output(output, targets, header, resume=resume, overwrite=overwrite)
    if claim.verified is not None:  # a finished run, found intact: nothing to do
        return _finished(claim.previous, claim.verified, t_start)
    journal = Journal(output)
    done = {k: v for k, v in claim.done.items() if k in {c.key for c in chunks}}

    progress = progress or Progress()
    ids = _chunk_ids(chunks)
    outcomes: dict[str, dict] = dict(done)
    the_runner = choose_runner(config, inputs, runner)
    prepared = _prepare_stages(
        pipeline, chunks, ids, output, the_runner, header["config_hash"], resume, progress
    )
    bar = _PassProgress(progress, "reading", chunks, done)

    def on_outcome(o: dict) -> None:
        journal.record(o)
        outcomes[o["chunk"]] = o
        bar.outcome(o)

    the_runner.run(pipeline, chunks, ids, output, done, on_outcome, bar.batch)

    ordered = [outcomes[c.key] for c in chunks]
    counters = {n: StageCounter() for n in pipeline.names}
    keys = [f"{i}:{n}" for i, n in enumerate(pipeline.names)]
    merged = [StageCounter() for _ in keys]
    for o in ordered:
        for m, c in zip(merged, o["counters"]):
            m += StageCounter(**c)
    counters = (
        dict(zip(pipeline.names, merged))
        if len(set(pipeline.names)) == len(pipeline.names)
        else dict(zip(keys, merged))
    )

    reports: dict[str, dict] = {}
    files = []
    recorded: list[dict] = []

    def record(f, stage: str) -> None:
        entry = {"uri": f.uri, "bytes": f.bytes, "sha256": f.sha256, "stage": stage}
        journal.record_file(entry)
        recorded.append(entry)

    ctx = FinishContext(
        output=output,
        runner=the_runner,
        reports=reports,
        input_order=[i.info.uri for i in inputs],
        input_formats={i.info.uri: i.fmt or "" for i in inputs},
        on_record=record,
    )
    for i, st in enumerate(pipeline.stages):
        ctx.runner = ReportingMapper(the_runner, progress, f"{st.name}: finishing")
        ctx.stage = f"stages[{i + 1}] ({st.name})"
        if isinstance(st, MapStage):
            acc = st.new_accumulator()
            for o in ordered:
                data = o["accumulators"].get(str(i))
                if data is not None:
                    acc += st.accumulator_from_json(data)
            reports[st.name] = st.finish(acc, ctx)
        elif isinstance(st, SinkStage):
            shards = [s for o in ordered for s in o["shards"] if s["stage_index"] == i]
            for f in st.finish(shards, ctx):
                ctx.record(f)
                files.append(
                    {
                        "uri": f.uri,
                        "rows": f.rows,
                        "bytes": f.bytes,
                        "sha256": f.sha256,
                        "stage": st.name,
                        "format": getattr(st.config, "format", None),
                    }
                )
    rejects = [s for o in ordered for s in o["shards"] if s["stage"] == "rejects"]
    rejected = sum(o["rejected"] for o in ordered)
    shard_uris = {f["uri"] for f in files}
    others = [f for f in recorded if f["uri"] not in shard_uris]
    checksums = _input_checksums(inputs, ordered)
    input_entries = [
        {
            **h,
            "format": i.fmt,
            "compression": i.compression.value,
            "phred_offset": i.phred_offset if i.fmt == "FASTQ" else None,
            "phred_source": i.phred_source,
            "phred_evidence": i.phred_evidence,
            "checksum": checksums.get(i.info.uri),
        }
        for h, i in zip(header["inputs"], inputs)
    ]
    manifest = write_manifest(
        output,
        {
            "config": config.canonical(),
            "config_hash": header["config_hash"],
            "inputs": input_entries,
            "chunks": [
                {
                    "id": o["chunk_id"],
                    "source": o["source"],
                    "records": o["records"],
                    "rejected": o["rejected"],
                }
                for o in ordered
            ],
            "shards": files,
            "files": others,
            "rejects": rejects,
            "stages": {n: c.__dict__ for n, c in counters.items()},
            "prepare": prepared,
            "resumed_chunks": len(done),
            "reports": reports,
            "reads": {"in": sum(o["records"] for o in ordered), "rejected": rejected},
        },
    )
    # the parts of single-file outputs are no longer needed once the manifest commits
    parts = join(output, "_seqray", "parts")
    pfs, ppath = filesystem_for(parts)
    if pfs.get_file_info(ppath).type == pafs.FileType.Directory:
        pfs.delete_dir(ppath)
    return RunResult(
        output,
        manifest,
        the_runner.name,
        len(chunks),
        len(done),
        counters,
        reports,
        rejected,
        time.perf_counter() - t_start,
        prepare=prepared,
        inputs=input_entries,
    )
