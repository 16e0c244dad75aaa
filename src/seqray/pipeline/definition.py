"""The pipeline a config describes: its stages, the kinds and schemas of the batches
between them, what it writes and what its workers need. It knows nothing of where it runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import pyarrow as pa

from ..errors import ConfigError
from ..io.fs import join
from ..io.parse import ReadOptions
from ..io.schema import read_schema
from .config import PipelineConfig
from .kinds import READS, BatchKind, names
from .manifest import MANIFEST
from .outputs import STATE_DIR, Target
from .registry import MapStage, Resources, SinkStage, Stage, make_stage
from .stages import ReadStage


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
                _route(st, i)
            st.link(objs[1:i], config.output)
        pipeline = cls(config, cast(ReadStage, objs[0]), objs[1:])
        pipeline.kinds()  # checks the chain
        return pipeline

    @property
    def names(self) -> list[str]:
        return ["read"] + [s.name for s in self.stages]

    def counter_keys(self) -> list[str]:
        """Each stage's name in the run summary and the manifest (`i:name` when a name
        repeats)."""
        names = self.names
        unique = len(set(names)) == len(names)
        return names if unique else [f"{i}:{n}" for i, n in enumerate(names)]

    def read_options(self) -> ReadOptions:
        run = self.config.run
        return self.source.options(run.block_bases, run.on_error == "skip")

    def kinds(self) -> list[BatchKind]:
        """The kind of the batches entering each stage, then of those leaving the last.
        A stage given a kind it does not take is a config error naming both stages."""
        out = [READS]
        maker = (0, "read")
        for i, st in enumerate(self.stages, start=1):
            kind = out[-1]
            if isinstance(st, SinkStage) and st.router is not None:
                # it takes rows of the kind its router takes
                router = st.router
                branch = out[router.index - 1]
                if branch not in st.takes():
                    raise ConfigError(
                        f"invalid pipeline: stages[{i}] ({st.name}) takes "
                        f"{names(st.takes())}, but branch {st.branch()!r} of "
                        f"stages[{router.index}] ({router.name}) holds {branch}"
                    )
                out.append(kind)
                continue
            if kind not in st.takes():
                fix = "move it before that stage" if kind is not READS else "check the order"
                if st.name == "write":
                    fix += ", or write Parquet"
                raise ConfigError(
                    f"invalid pipeline: stages[{i}] ({st.name}) takes {names(st.takes())}, "
                    f"but stages[{maker[0]}] ({maker[1]}) before it gives {kind}: {fix}"
                )
            given = st.gives(kind)
            if given is not kind:
                maker = (i, st.name)
            out.append(given)
        return out

    def schemas(self, paired: bool) -> list[pa.Schema]:
        """The schema of the batches entering each stage, then of those leaving the last."""
        out = [read_schema(paired)]
        for st in self.stages:
            out.append(st.output_schema(out[-1]) if isinstance(st, MapStage) else out[-1])
        return out

    def targets(self, output: str, paired: bool) -> list[Target]:
        """Everything the run writes: each stage's files and shard directories, the
        manifest, rejects, and the run's own state directory."""
        out = [Target(join(output, STATE_DIR), "dir", "seqray's run state")]
        for i, st in enumerate(self.stages, start=1):
            mates = st.input_paired(paired) if isinstance(st, SinkStage) else paired
            out += st.targets(output, mates, f"stages[{i}] ({st.name})")
        out.append(Target(join(output, MANIFEST), "file", "the manifest"))
        if self.config.run.on_error == "skip":
            rejects = "rejects (on_error: skip)"
            out.append(Target(join(output, "rejects"), "dir", rejects, "part-*.jsonl"))
        return out

    def input_paths(self) -> list[str]:
        return [p for st in self.stages for p in st.input_paths()]

    def resources(self) -> Resources:
        """What one chunk task needs: a chunk goes through every stage in one worker, so
        the most any stage asks for, and the tightest concurrency cap."""
        hints = [st.resources() for st in self.stages]
        caps = [h.concurrency for h in hints if h.concurrency is not None]
        memory = [h.memory for h in hints if h.memory is not None]
        return Resources(
            num_cpus=max([1.0, *(h.num_cpus for h in hints)]),
            num_gpus=max([0.0, *(h.num_gpus for h in hints)]),
            memory=max(memory) if memory else None,
            concurrency=min(caps) if caps else None,
        )

    @property
    def stateful(self) -> bool:
        return any(st.stateful for st in self.stages)

    def setup(self, threads: int = 1) -> None:
        """Builds the state of its stateful stages: once per worker that holds them (the
        prepare passes and the main pass of a local run share the stage objects).
        `threads`: the worker's CPUs (a model's math library may use them)."""
        for st in self.stages:
            if st.stateful and not st.set_up:
                st.threads = threads
                st.setup()
                st.set_up = True


def _route(sink: SinkStage, i: int) -> None:
    """Links a sink that takes a branch (`branch: NAME`) to the last map stage before it
    that routes rows there, and tells that stage to fill the branch."""
    name = sink.branch()
    if name is None:
        return
    routers = [s for s in sink.upstream if name in s.branches()]
    if not routers:
        offered = [f"{s.name}: {', '.join(s.branches())}" for s in sink.upstream if s.branches()]
        raise ConfigError(
            f"invalid pipeline: stages[{i}] ({sink.name}) takes branch {name!r}, but no stage "
            "before it routes rows there"
            + (f" (branches: {'; '.join(offered)})" if offered else "")
        )
    router = routers[-1]
    router.taken = router.taken | {name}
    sink.router = router
