"""The in-process runner: chunks one after another in this process, no start-up cost."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from ...io.chunks import Chunk
from ...io.sources import Numbering, number_chunks
from ..chunk import process_chunk
from ..definition import Pipeline
from ..records import ChunkOutcome
from ..registry import Resources
from . import BatchSink, OutcomeSink, journaled


@dataclass
class LocalShared:
    """An object shared in-process: the object itself."""

    obj: Any

    def get(self) -> Any:
        return self.obj


class LocalPool:
    """Workers in this process, each called in its own thread: their kernels release the
    GIL (Numba `nogil`), so the threads run side by side."""

    def __init__(self, workers: list[Any]):
        self.workers = workers
        self.size = len(workers)

    def call(self, method: str, args: Sequence[tuple[Any, ...]]) -> list[Any]:
        if self.size == 1:
            return [getattr(self.workers[0], method)(*args[0])]
        with ThreadPoolExecutor(self.size) as threads:
            futures = [threads.submit(getattr(w, method), *a) for w, a in zip(self.workers, args)]
            return [f.result() for f in futures]

    def close(self) -> None:
        self.workers = []


class LocalRunner:
    name = "local"

    def __init__(self, threads: int | None = None):
        self.threads = threads or os.cpu_count() or 1

    def start(self) -> None:
        pass

    def check(self, pipeline: Pipeline) -> None:
        pass

    def share(self, obj: Any) -> LocalShared:
        return LocalShared(obj)

    def pool(
        self, factory: Callable[..., Any], args: Sequence[tuple[Any, ...]], res: Resources
    ) -> LocalPool:
        return LocalPool([factory(*a) for a in args])

    def worker_cpus(self, workers: int) -> int:
        return max(1, self.threads // max(workers, 1))

    def map(
        self,
        fn: Callable[[Any], Any],
        items: Sequence[Any],
        on_done: Callable[[int], None] | None = None,
    ) -> list[Any]:
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
        done: dict[str, ChunkOutcome],
        on_outcome: OutcomeSink,
        on_batch: BatchSink | None = None,
    ) -> None:
        if any(c.split_pair for c in chunks):
            # R2 starts of split pairs need every chunk's count first
            chunks = number_chunks(chunks, pipeline.read_options(), known=journaled(done))
        pipeline.setup(self.threads)  # this process is the one worker: stateful stages build once
        numbering = Numbering()  # ordinals as the chunks are read, no counting pass
        for ch in chunks:
            first = numbering.first(ch)
            if ch.key in done:
                numbering.advance(ch, first, done[ch.key].records)
                continue
            outcome = process_chunk(
                pipeline,
                replace(ch, first_record=first),
                ids[ch.key],
                output,
                self.threads,
                on_batch and partial(on_batch, ch.key),
            )
            numbering.advance(ch, first, outcome.records)
            on_outcome(outcome)
