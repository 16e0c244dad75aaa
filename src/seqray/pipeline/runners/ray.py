"""The Ray runner: chunks as Ray tasks (or, for stateful stages, on a pool of actors), on
a local Ray instance or the cluster at `address`.

The pipeline goes to the object store once and every task or actor takes it from there;
objects stages share (`share`) go there once too, so a task carries references only.
Outcomes stream back as tasks finish; a user's data error (`SeqrayError`) travels back as
data and is raised intact in the driver (Ray would wrap it beyond recognition).
"""

from __future__ import annotations

import logging
import os
import pickle
from collections import deque
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from ..._alloc import keep_freed_memory
from ...errors import ConfigError, SeqrayError
from ...io.chunks import Chunk
from ...io.parse import ReadOptions, count_chunk_records
from ...io.sources import number_chunks
from ..chunk import process_chunk
from ..definition import Pipeline
from ..records import ChunkOutcome
from ..registry import Resources
from . import BatchSink, OutcomeSink, WorkerLost, journaled


class RayShared:
    """An object in Ray's object store: workers map it (NumPy arrays without a copy),
    once per deserialized handle."""

    def __init__(self, ref: Any):
        self.ref = ref
        self._value: Any = None
        self._got = False

    def get(self) -> Any:
        if not self._got:
            import ray

            self._value, self._got = ray.get(self.ref), True
        return self._value

    def __getstate__(self) -> dict:
        return {"ref": self.ref, "_value": None, "_got": False}


def _shipping_errors(fn: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
    keep_freed_memory()
    try:
        return True, fn(*args)
    except SeqrayError as exc:
        return False, pickle.dumps(exc)


def _unshipped(result: tuple[bool, Any]) -> Any:
    ok, value = result
    if not ok:
        raise pickle.loads(value)
    return value


def _count_one(chunk: Chunk, options: ReadOptions) -> int:
    return count_chunk_records(chunk, options)


class ChunkWorker:
    """An actor holding the pipeline with its stateful stages set up, once. A user's error
    in `setup` (a missing model file) comes back with the first chunk, as data."""

    def __init__(self, pipeline: Pipeline, threads: int):
        self.pipeline, self.threads = pipeline, threads
        self.failed = _shipping_errors(pipeline.setup, threads)

    def process(self, chunk: Chunk, chunk_id: str, output: str) -> tuple[bool, Any]:
        if not self.failed[0]:
            return self.failed
        return _shipping_errors(process_chunk, self.pipeline, chunk, chunk_id, output, self.threads)


class PoolWorker:
    """An actor holding one worker of a pool; a user's error travels back as data."""

    def __init__(self, factory: Callable[..., Any], args: tuple):
        keep_freed_memory()
        try:
            self.failed = _shipping_errors(factory, *args)
        except Exception as exc:  # any failure to start is the user's to read, not a "lost" worker
            message = f"a worker could not start: {type(exc).__name__}: {exc}"
            self.failed = (False, pickle.dumps(SeqrayError(message)))
        self.worker = self.failed[1] if self.failed[0] else None

    def call(self, method: str, args: tuple) -> tuple[bool, Any]:
        if not self.failed[0]:
            return self.failed
        return _shipping_errors(getattr(self.worker, method), *args)


class RayPool:
    """A pool of actors; one dying (its process killed, its node lost) raises WorkerLost."""

    def __init__(
        self, factory: Callable[..., Any], args: Sequence[tuple[Any, ...]], res: Resources
    ):
        import ray

        actor: Any = ray.remote(PoolWorker).options(**_options(res), max_restarts=0)
        fref = ray.put(factory)
        self.actors = [actor.remote(fref, a) for a in args]
        self.size = len(self.actors)

    def call(self, method: str, args: Sequence[tuple[Any, ...]]) -> list[Any]:
        import ray
        from ray.exceptions import (
            ActorDiedError,
            ActorUnavailableError,
            ObjectLostError,
            RayActorError,
        )

        refs = [a.call.remote(method, x) for a, x in zip(self.actors, args)]
        try:
            got = ray.get(refs)
        except (RayActorError, ActorDiedError, ActorUnavailableError, ObjectLostError) as exc:
            raise WorkerLost(str(exc).splitlines()[0]) from None
        return [_unshipped(r) for r in got]

    def close(self) -> None:
        import ray

        for a in self.actors:
            ray.kill(a)
        self.actors = []


def _options(res: Resources) -> dict[str, Any]:
    out: dict[str, Any] = {"num_cpus": res.num_cpus}
    if res.num_gpus:
        out["num_gpus"] = res.num_gpus
    if res.memory:
        out["memory"] = res.memory
    return out


class RayRunner:
    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None):
        self.address = address
        self.num_cpus = num_cpus

    def start(self) -> None:
        import ray

        if ray.is_initialized():
            return
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "configure_logging": False,
        }
        address = self.address or os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=self.num_cpus, **kwargs)
        logging.getLogger("ray.data").setLevel(logging.WARNING)

    def share(self, obj: Any) -> RayShared:
        import ray

        self.start()
        return RayShared(ray.put(obj))

    def _cpus(self) -> tuple[float, float]:
        """(the most CPUs a node has, the CPUs of the cluster), alive nodes only."""
        import ray

        self.start()
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        cpus = [n.get("CPU", 0) for n in nodes]
        return max(cpus, default=0), sum(cpus)

    def worker_cpus(self, workers: int) -> int:
        biggest, total = self._cpus()
        return max(1, int(min(biggest, total // max(workers, 1))))

    def pool(
        self, factory: Callable[..., Any], args: Sequence[tuple[Any, ...]], res: Resources
    ) -> RayPool:
        """Every worker must be alive at once (they are called together): a pool the
        cluster cannot hold would wait forever, so it is refused."""
        biggest, total = self._cpus()
        if res.num_cpus > biggest:
            raise ConfigError(
                f"a worker asks for {res.num_cpus:g} CPUs (its threads), but no node of the "
                f"Ray cluster has that many (the most a node has: {biggest:g}); use fewer threads"
            )
        if len(args) * res.num_cpus > total:
            raise ConfigError(
                f"{len(args)} workers of {res.num_cpus:g} CPUs each need "
                f"{len(args) * res.num_cpus:g} CPUs at once, but the Ray cluster has "
                f"{total:g}; use fewer workers or threads"
            )
        return RayPool(factory, args, res)

    def map(
        self,
        fn: Callable[[Any], Any],
        items: Sequence[Any],
        on_done: Callable[[int], None] | None = None,
    ) -> list[Any]:
        """One Ray task per item, results in item order (for reduce steps in `finish`)."""
        import ray

        self.start()
        remote = ray.remote(num_cpus=1)(_shipping_errors)
        fn_ref = ray.put(fn)
        refs = [remote.remote(fn_ref, x) for x in items]
        pending = list(refs)
        while pending and on_done is not None:
            _, pending = ray.wait(pending, num_returns=1)
            on_done(len(refs) - len(pending))
        return [_unshipped(r) for r in ray.get(refs)]

    def count(self, chunks: list[Chunk], options: ReadOptions) -> list[int]:
        """Records of each chunk (in order), counted in parallel tasks."""
        return self.map(partial(_count_one, options=options), chunks)

    def check(self, pipeline: Pipeline) -> None:
        """A chunk task that no node can hold would wait forever: refuse it instead."""
        import ray

        self.start()
        res = pipeline.resources()
        need = {"CPU": res.num_cpus, "GPU": res.num_gpus, "memory": res.memory or 0}
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        if any(all(have.get(k, 0) >= v for k, v in need.items() if v) for have in nodes):
            return
        asked = ", ".join(f"{k} {v:g}" for k, v in need.items() if v)
        biggest = ", ".join(
            f"{k} {max((h.get(k, 0) for h in nodes), default=0):g}" for k, v in need.items() if v
        )
        raise ConfigError(
            f"the stages' resources ask for {asked} per chunk task, but no node of the Ray "
            f"cluster has that much (the most a node has: {biggest}); lower the stages' "
            "`resources`, or run on a cluster that has them"
        )

    def _slots(self, res: Resources) -> int:
        """How many chunks may run at once: what the cluster holds of what one needs."""
        import ray

        total = ray.cluster_resources()
        fits = [int(total.get("CPU", 1) // max(res.num_cpus, 1e-9))]
        if res.num_gpus:
            fits.append(int(total.get("GPU", 0) // res.num_gpus))
        n = max(1, min(fits))
        return min(n, res.concurrency) if res.concurrency else n

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
        import ray

        self.start()
        # ordinals of split files: counts from the journal where known, else counted now
        chunks = number_chunks(chunks, pipeline.read_options(), self.count, journaled(done))
        todo = deque(ch for ch in chunks if ch.key not in done)
        if not todo:
            return
        res = pipeline.resources()
        slots = self._slots(res)
        threads = max(1, int(res.num_cpus))  # a task uses the CPUs it asked for
        ref = ray.put(pipeline)  # once: every task and actor takes it from the object store
        if pipeline.stateful:
            actor: Any = ray.remote(ChunkWorker).options(**_options(res))
            free = deque(actor.remote(ref, threads) for _ in range(min(slots, len(todo))))

            def submit(ch: Chunk) -> Any:
                worker = free.popleft()
                future = worker.process.remote(ch, ids[ch.key], output)
                busy[future] = worker
                return future
        else:
            task = ray.remote(_shipping_errors).options(**_options(res))
            free = deque()

            def submit(ch: Chunk) -> Any:
                return task.remote(process_chunk, ref, ch, ids[ch.key], output, threads)

        busy: dict[Any, Any] = {}
        # twice the slots in flight (a finished task's slot refills without a round trip),
        # unless a stage caps how many run at once
        window = len(free) if pipeline.stateful else slots if res.concurrency else 2 * slots
        in_flight: list[Any] = []
        try:
            while todo or in_flight:
                while todo and len(in_flight) < window:
                    in_flight.append(submit(todo.popleft()))
                finished, in_flight = ray.wait(in_flight, num_returns=1)
                for f in finished:
                    if f in busy:
                        free.append(busy.pop(f))
                    on_outcome(_unshipped(ray.get(f)))
        finally:
            for f in in_flight:
                ray.cancel(f)
            for worker in [*free, *busy.values()]:
                ray.kill(worker)
