"""One chunk through the pipeline: read its batches, run the map stages, write the sinks'
shards; what came of it is a `ChunkOutcome`. Called by every runner, wherever it runs."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pyarrow as pa

from ..io.chunks import Chunk
from ..io.fs import join
from ..io.readers import open_chunk
from ..io.writers import AtomicFile
from .definition import Pipeline
from .kinds import BatchKind
from .records import ChunkOutcome, FileRecord, ShardRecord, StageCounter
from .registry import MapStage, Routed, SinkStage


def chunk_ids(chunks: list[Chunk]) -> dict[str, str]:
    """chunk key → its name in shard files: the input's place in the plan, the chunk's."""
    order = {s: i for i, s in enumerate(dict.fromkeys(c.source for c in chunks))}
    return {c.key: f"{order[c.source]:04d}-{c.index:05d}" for c in chunks}


def _count(counter: StageCounter, kind: BatchKind, table: pa.Table, side: str) -> None:
    if side == "in":
        counter.rows_in += len(table)
    else:
        counter.rows_out += len(table)
    for measure, n in kind.measure(table).items():
        counter.add(f"{measure}_{side}", n)


def _check_kinds(pipeline: Pipeline, schemas: list[pa.Schema], kinds: list[BatchKind]) -> None:
    """Each map stage's declared schema has the columns of the kind it says it gives."""
    for i, st in enumerate(pipeline.stages, start=1):
        missing = kinds[i].missing(schemas[i])
        if missing:
            raise RuntimeError(
                f"stage {st.name} gives {kinds[i]} but its batches lack {', '.join(missing)}"
            )


def _run_maps(
    pipeline: Pipeline,
    table: pa.Table,
    chunk: Chunk,
    schemas: list[pa.Schema],
    kinds: list[BatchKind],
) -> tuple[list[StageCounter], list[Any], list[tuple[int, pa.Table]]]:
    """One batch through the map stages: per-stage counters, fresh accumulators, and the
    table each sink receives (a sink that takes a branch: the rows its router routed
    there). Pure apart from its own outputs, so batches can run on threads. Each map
    stage's batches and branches must have the schemas it declares (`schemas`: what enters
    each stage): a sink writing typed files relies on it."""
    counters = [StageCounter() for _ in pipeline.stages]
    accs = [s.new_accumulator() if isinstance(s, MapStage) else None for s in pipeline.stages]
    to_sinks = []
    routed: dict[tuple[int, str], pa.Table] = {}  # (router's index, branch) → rows
    for i, st in enumerate(pipeline.stages):
        c = counters[i]
        if isinstance(st, SinkStage) and st.router is not None:
            # counts and receives its branch's rows; the batches pass on
            rows = routed.get((st.router.index, st.branch() or ""))
            if rows is not None:
                kind = kinds[st.router.index - 1]
                _count(c, kind, rows, "in")
                _count(c, kind, rows, "out")
                to_sinks.append((i, rows))
            continue
        _count(c, kinds[i], table, "in")
        if isinstance(st, MapStage):
            t0 = time.perf_counter()
            out = st.transform(table, accs[i], chunk)
            c.seconds += time.perf_counter() - t0
            if isinstance(out, Routed):
                for name, rows in out.branches.items():
                    want = st.branch_schema(name, schemas[i])
                    if not rows.schema.equals(want):
                        raise RuntimeError(
                            f"stage {st.name} routed rows with columns {rows.schema} to "
                            f"branch {name!r}, which it declares as {want}"
                        )
                    routed[(st.index, name)] = rows
                out = out.table
            table = out
            if not table.schema.equals(schemas[i + 1]):
                raise RuntimeError(
                    f"stage {st.name} returned batches with columns {table.schema} "
                    f"but declares {schemas[i + 1]}"
                )
        else:
            to_sinks.append((i, table))
        _count(c, kinds[i + 1], table, "out")
    return counters, accs, to_sinks


def process_chunk(
    pipeline: Pipeline,
    chunk: Chunk,
    chunk_id: str,
    output: str,
    threads: int = 1,
    on_batch: Callable[[int, int], None] | None = None,
) -> ChunkOutcome:
    """Reads one chunk through every stage and writes its shards.

    With `threads` > 1 the map stages of successive batches run on a thread pool (the Numba
    kernels release the GIL) while this thread parses (and shows each batch, in order, to
    the first map stage's `in_order` view, e.g. inline duplicate marking), and one more
    thread writes (gzip and hashing release it too); results are taken in batch order,
    accumulators merged and tables written in that order, so outputs do not depend on
    `threads`. `on_batch(raw
    bytes read, records)` hears how far the chunk is after each batch (progress)."""
    opts = pipeline.read_options()
    kinds = pipeline.kinds()
    counters = [StageCounter() for _ in pipeline.names]
    accs = [s.new_accumulator() if isinstance(s, MapStage) else None for s in pipeline.stages]
    writers: dict[int, list] = {}
    reader = open_chunk(chunk, opts)
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    write_pool = ThreadPoolExecutor(1) if threads > 1 else None  # one thread: batch order
    pending: deque[Future] = deque()
    writing: deque[Future] = deque()

    def write(to_sinks: list[tuple[int, pa.Table]]) -> None:
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

    shards: list[ShardRecord] = []
    first = next((s for s in pipeline.stages if isinstance(s, MapStage)), None)
    in_order = None
    try:
        for i, st in enumerate(pipeline.stages):
            if isinstance(st, SinkStage):
                writers[i] = st.open(chunk, chunk_id, output)
        in_order = first.in_order(chunk) if first is not None else None
        schemas = pipeline.schemas(chunk.paired)
        _check_kinds(pipeline, schemas, kinds)
        it = iter(reader)
        while True:
            t0 = time.perf_counter()
            table = next(it, None)
            counters[0].seconds += time.perf_counter() - t0
            if table is None:
                break
            _count(counters[0], kinds[0], table, "out")
            if on_batch is not None:
                on_batch(min(reader.consumed, chunk.end - chunk.start), counters[0].rows_out)
            if in_order is not None:
                in_order.see(table)
            if pool is None:
                take(_run_maps(pipeline, table, chunk, schemas, kinds))
                continue
            pending.append(pool.submit(_run_maps, pipeline, table, chunk, schemas, kinds))
            while len(pending) > 2 * threads or (pending and pending[0].done()):
                take(pending.popleft().result())
        while pending:
            take(pending.popleft().result())
        while writing:
            writing.popleft().result()
        for i, ws in writers.items():
            for w in ws:
                shard = w.commit()
                files = [FileRecord(f.uri, f.bytes, f.sha256) for f in shard.files]
                name = pipeline.stages[i].name
                shards.append(ShardRecord(shard.uri, shard.rows, files, name, i, shard.arrays))
    except BaseException:
        for fut in (*pending, *writing):
            fut.cancel()
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
        if in_order is not None:
            in_order.close()
    result = reader.result
    counters[0].rows_in = result.records  # records read, rejected ones included
    if result.rejects and not pipeline.scan:
        shards.append(_write_rejects(result.rejects, chunk_id, output))
    return ChunkOutcome(
        chunk=chunk.key,
        chunk_id=chunk_id,
        source=chunk.source,
        mate=chunk.mate,
        index=chunk.index,
        first_record=chunk.first_record or 0,
        records=result.records,
        rejected=len(result.rejects),
        digest=result.digest,
        shards=shards,
        counters=counters,
        accumulators={str(i): acc.to_json() for i, acc in enumerate(accs) if acc is not None},
    )


def _write_rejects(rejects: list[Any], chunk_id: str, output: str) -> ShardRecord:
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
    files = [FileRecord(f.uri, f.size, f.sha.hexdigest())]
    return ShardRecord(f.uri, len(rejects), files, "rejects", -1)
