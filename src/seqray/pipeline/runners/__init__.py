"""Runners: where chunks are processed. Both take the same pipeline and give the same
outputs; they differ only in where `process_chunk` runs and how objects reach it."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ...io.chunks import Chunk
from ...io.sources import InputFile
from ..config import PipelineConfig
from ..definition import Pipeline
from ..records import ChunkOutcome
from ..registry import Resources, Shared

# below this much input, `runner: auto` stays in-process: starting Ray costs seconds
AUTO_RAY_BYTES = 256 * 1024 * 1024

OutcomeSink = Callable[[ChunkOutcome], None]
BatchSink = Callable[[str, int, int], None]  # chunk key, raw bytes read, records


class WorkerLost(Exception):
    """A worker of a pool died (its process was killed, its node was lost): what it was
    doing must be redone elsewhere."""


class WorkerPool(Protocol):
    """Long-lived workers, each holding its own state (a share of a training corpus, a
    model replica). `call` runs `method` on every worker at once, with one argument tuple
    per worker, and gives the results in worker order; a user's error is re-raised intact,
    a worker's death raises `WorkerLost`."""

    size: int

    def call(self, method: str, args: Sequence[tuple[Any, ...]]) -> list[Any]: ...

    def close(self) -> None: ...


class Runner(Protocol):
    name: str

    def start(self) -> None:
        """Connects to (or starts) what it runs on; before anything is read."""

    def check(self, pipeline: Pipeline) -> None:
        """Refuses, before anything is written, a pipeline it cannot run (resources no node
        of the cluster has)."""

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
        """Processes every chunk not `done`, numbering records first; each outcome goes to
        `on_outcome` in the driver as soon as it is there."""

    def map(
        self,
        fn: Callable[[Any], Any],
        items: Sequence[Any],
        on_done: Callable[[int], None] | None = None,
    ) -> list[Any]:
        """fn over items where the pipeline runs, results in item order (reduce steps)."""

    def share(self, obj: Any) -> Shared:
        """Hands a large read-only object to the workers, once."""

    def pool(
        self, factory: Callable[..., Any], args: Sequence[tuple[Any, ...]], res: Resources
    ) -> WorkerPool:
        """One long-lived worker per argument tuple, `factory(*args[i])`, each with `res`."""

    def worker_cpus(self, workers: int) -> int:
        """The CPUs each of `workers` pool workers can have, all alive at once."""


def choose_runner(config: PipelineConfig, inputs: list[InputFile], runner: str | None) -> Runner:
    kind = runner or config.run.runner
    if kind == "auto":
        total = sum(i.info.size for i in inputs)
        kind = (
            "ray"
            if (total > AUTO_RAY_BYTES or config.run.address or os.environ.get("RAY_ADDRESS"))
            else "local"
        )
    if kind == "ray":
        from .ray import RayRunner

        return RayRunner(config.run.address, config.run.num_cpus)
    from .local import LocalRunner

    return LocalRunner(config.run.num_cpus)


def journaled(done: dict[str, ChunkOutcome]) -> dict[str, int]:
    """Record counts of chunks finished before (resume): no need to count them again."""
    return {k: v.records for k, v in done.items()}
