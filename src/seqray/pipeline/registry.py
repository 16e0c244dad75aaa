"""The stage registry: a stage is a named, typed step with its own pydantic config.

Three roles: a *source* plans chunks and reads them; a *map* stage turns each batch into
another (and may accumulate mergeable statistics); a *sink* writes batches into shards and
joins them at the end. Each stage also says which batch kinds it takes and gives
(`kinds.py`), what it needs to run (`Resources`) and whether it keeps state across batches.
Later stages register here without touching the runners.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from ..io.fs import join
from ..io.schema import SEQ2, read_schema
from .kinds import READS, BatchKind
from .outputs import Target

if TYPE_CHECKING:
    from typing_extensions import Self

    from ..io.formats import ShardWriter
    from ..io.writers import WrittenFile
    from .records import ChunkOutcome, ShardRecord

_REGISTRY: dict[str, type[Stage]] = {}


class Resources(BaseModel):
    """What one worker running a stage needs (Ray's terms); `concurrency` caps how many
    run at once. They shape where work runs, never the outputs."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    num_cpus: float = Field(default=1, ge=0)
    num_gpus: float = Field(default=0, ge=0)
    memory: int | None = Field(default=None, ge=1)  # bytes
    concurrency: int | None = Field(default=None, ge=1)


class StageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # overrides the stage's own resource hints (e.g. GPUs for a model on a cluster)
    resources: Resources | None = None
    # keys holding output file paths (a path or a list of them): `run -o` moves them
    path_fields: ClassVar[tuple[str, ...]] = ()
    # the stage's name in configs, set by `register` on the stage's Config
    stage_name: ClassVar[str]


class Shared(Protocol):
    """A large read-only object handed to workers by `runner.share`: `get()` gives it
    (from Ray's object store on the Ray runner, the object itself in-process)."""

    def get(self) -> Any: ...


class TaskMapper(Protocol):
    """Runs `fn` over `items` where the pipeline runs: Ray tasks on the Ray runner, a plain
    loop in-process. Results come back in item order; a SeqrayError raised by `fn` is
    re-raised intact in the driver. `share(obj)` hands a large read-only object to the
    workers that will run the stages; `pool` starts long-lived workers (actors on Ray)."""

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]: ...

    def share(self, obj: Any) -> Shared: ...

    def pool(
        self, factory: Callable[..., Any], args: Sequence[tuple[Any, ...]], res: Resources
    ) -> Any:
        """Long-lived workers (runners.WorkerPool), one per argument tuple."""
        ...

    def worker_cpus(self, workers: int) -> int:
        """The CPUs each of `workers` pool workers can have, all alive at once."""
        ...


@dataclass
class FinishContext:
    """What a stage's `finish` sees in the driver once every chunk is done."""

    output: str
    runner: TaskMapper
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # of the stages before it
    input_order: list[str] = field(default_factory=list)  # input URIs in plan order
    input_formats: dict[str, str] = field(default_factory=dict)  # input URI -> format
    # every file a finishing step writes goes through `record` as soon as it is committed
    # (the journal lists it, so even an interrupted run owns exactly what it wrote)
    on_record: Callable[[Any, str], None] | None = None
    stage: str = ""  # the stage finishing now (set by the driver), for the records
    # the manifest entries of each sink finished so far, by the sink's `index`
    outputs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    def record(self, written: Any) -> None:
        """Records a WrittenFile of the stage finishing now in the run's journal/manifest."""
        if self.on_record is not None:
            self.on_record(written, self.stage)


@dataclass
class PrepareContext:
    """What a stage's `prepare` sees in the driver before the chunks are processed."""

    output: str
    runner: TaskMapper
    stage_index: int
    config_hash: str
    resume: bool
    source_order: list[str]  # input URIs in plan order (R1 files for pairs)
    input_bytes: int  # size of all inputs
    # runs the map stages before this one, then `sink`, over every chunk; returns the chunk
    # outcomes in plan order
    scan: Callable[[Any], list[ChunkOutcome]]
    reused: bool = False  # set by `load_prepared`: the work of an interrupted run was kept
    progress: Any = None  # the run's Progress (long work in `prepare` reports there)
    mate_order: list[str | None] = field(default_factory=list)  # R2 file of each source
    read_options: Any = None  # the run's ReadOptions (how its reads are normalised)
    chunks: int = 0  # chunks in the plan
    first_map: bool = False  # no map stage before this one: it sees the reads as read

    def state_dir(self, stage: str) -> str:
        """Where this stage keeps what its prepare pass made (inside the run's state)."""
        return join(self.output, "_seqray", stage, str(self.stage_index))

    def save_prepared(self, stage: str, files: list[Any], info: dict[str, Any]) -> None:
        """Records what the prepare pass made (`files`: WrittenFiles, verified on resume,
        and `info`, any JSON), so a resumed run can take it instead of redoing the pass."""
        from ..io.writers import write_json

        listed = [{"uri": f.uri, "bytes": f.bytes, "sha256": f.sha256} for f in files]
        body = {"config_hash": self.config_hash, "files": listed, "info": info}
        write_json(join(self.state_dir(stage), "prepared.json"), body)

    def load_prepared(self, stage: str) -> dict[str, Any] | None:
        """On `--resume`, the `info` an interrupted run of the same config saved, when all
        its files are still intact (else None: the pass runs again)."""
        from ..io.fs import read_json
        from .manifest import file_ok

        if not self.resume:
            return None
        saved = read_json(join(self.state_dir(stage), "prepared.json"))
        if not saved or saved.get("config_hash") != self.config_hash:
            return None
        if not all(file_ok(f) for f in saved["files"]):
            return None
        self.reused = True
        info: dict[str, Any] = saved["info"]
        return info


class Stage:
    name: ClassVar[str]
    kind: ClassVar[str]  # "source" | "map" | "sink"
    Config: ClassVar[type[StageConfig]] = StageConfig
    index: int = 0  # its place in the config's stages (set when the pipeline is built)
    # writes an output of the run (a pipeline needs one: sinks do, a trainer may)
    writes_output: ClassVar[bool] = False

    def __init__(self, config: StageConfig):
        self.config = config

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    @staticmethod
    def summarize(report: dict[str, Any]) -> str | None:
        """One line of what the stage found, for the run summary (from its report)."""
        return None

    # keeps state across batches (a model, a lookup table) that `setup` builds: runs once
    # per worker process locally, in a pool of Ray actors on the Ray runner
    stateful: ClassVar[bool] = False
    set_up: bool = False  # `setup` ran in this process
    threads: int = 1  # the CPUs of the worker holding it (set before `setup`)

    def takes(self) -> tuple[BatchKind, ...]:
        """The batch kinds it accepts."""
        return (READS,)

    def gives(self, taken: BatchKind) -> BatchKind:
        """The kind of the batches it passes on, given the kind it takes."""
        return taken

    def resources(self) -> Resources:
        """What a worker running it needs; the config's `resources` key overrides it."""
        return self.config.resources or self.default_resources()

    def default_resources(self) -> Resources:
        return Resources()

    def setup(self) -> None:
        """Builds the state a stateful stage keeps across batches, once per worker (after
        it arrives there, before its first batch)."""

    def targets(self, output: str, paired: bool, label: str) -> list[Target]:
        """Every file and shard directory this stage writes, outside the run's `_seqray/`
        state (`label` names the stage in messages): checked against the inputs and the
        other stages before the run starts, and what `--overwrite` may later remove."""
        return []

    def input_paths(self) -> list[str]:
        """Files the stage reads besides the reads (a tokenizer, say): never written."""
        return []

    def link(self, before: list[Stage], output: str) -> None:
        """Takes what it needs from the stages before it, when the pipeline is built (an
        `embed` stage without a model takes the one a `train_embeddings` stage writes)."""


class Mergeable(Protocol):
    """A map stage's accumulator: `+=` merges another, `to_json` / `from_json` carry it
    between processes and across resumes."""

    def __iadd__(self, other: Any) -> Any: ...

    def to_json(self) -> Any: ...

    @classmethod
    def from_json(cls, data: Any) -> Any: ...


class DictAccumulator(dict[str, Any]):
    """An accumulator that is a dict of JSON values: it is its own JSON form. Subclasses
    define `+=`."""

    def to_json(self) -> dict[str, Any]:
        return dict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        return cls(data)


@dataclass
class Routed:
    """What a map stage returns when it routes rows away from its batches: `table` goes on
    to the next stage, each of `branches` (name → rows) to the sink that takes that branch
    (`write: {branch: NAME}`), such as the reads `qc` drops that fastp's `--failed_out`
    keeps. A stage fills only the branches a sink takes (`MapStage.taken`)."""

    table: pa.Table
    branches: dict[str, pa.Table]


class InOrder(Protocol):
    """A chunk's in-order view (MapStage.in_order): `see` each batch, then `close`."""

    def see(self, table: pa.Table) -> None: ...

    def close(self) -> None: ...


class MapStage(Stage):
    kind = "map"
    # the branches a sink takes (set when the pipeline is built): only these are filled
    taken: frozenset[str] = frozenset()
    # the per-chunk accumulator's class: `+=` merges, to_json() and the classmethod
    # from_json() carry it between processes and across resumes
    Accumulator: ClassVar[type[Mergeable] | None] = None

    def new_accumulator(self) -> Any:
        """A fresh accumulator for a chunk or batch, or None."""
        return self.Accumulator() if self.Accumulator is not None else None

    def transform(self, table: pa.Table, acc: Any, chunk: Any) -> pa.Table | Routed:
        raise NotImplementedError

    def branches(self) -> tuple[str, ...]:
        """The branches it can route rows to instead of passing them on (rows it would
        drop): a sink after it takes one with `branch: NAME`."""
        return ()

    def branch_schema(self, name: str, schema: pa.Schema) -> pa.Schema:
        """The schema of a branch's rows, given the schema of the batches it takes."""
        return schema

    def accumulator_from_json(self, data: Any) -> Any:
        return self.Accumulator.from_json(data) if self.Accumulator is not None else None

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        """The schema of the batches this stage returns, given its input schema (sinks
        writing typed files such as Parquet need it even for a chunk with no reads)."""
        return schema

    def needs_prepare(self) -> bool:
        """Whether `prepare` must run: a pass over all the data before this stage's
        per-chunk work (duplicate marking needs every read's hash first)."""
        return False

    def prepare(self, ctx: PrepareContext) -> None:
        """Driver side, before any chunk: may set attributes the workers read (the stage
        object travels to them with the pipeline)."""

    def in_order(self, chunk: Any) -> InOrder | None:
        """For the first map stage only: something that sees each batch of the chunk in
        record order, on the reading thread, before the batch goes to `transform` (which
        may run on other threads, out of order); None when the stage needs nothing so."""
        return None

    def finish(self, acc: Any, ctx: FinishContext) -> dict[str, Any]:
        """Called once in the driver with the merged accumulator; returns report entries."""
        return {}


class SinkStage(Stage):
    """Writes each chunk's batches (`open` gives the chunk's writers: write(table),
    commit() → WrittenShard, abort()), then `finish` turns the chunk shards into the final
    files."""

    kind = "sink"
    writes_output = True
    upstream: list[MapStage] = []  # the map stages before it, set when the pipeline is built
    # the stage whose branch it takes (set when the pipeline is built; None: the batches)
    router: MapStage | None = None

    def branch(self) -> str | None:
        """The branch of a stage before it whose rows it takes instead of the batches."""
        return None

    def input_schema(self, schema: pa.Schema) -> pa.Schema:
        """The schema of what it receives, given the schema the source reads."""
        branch = self.branch()
        for st in self.upstream:
            if st is self.router and branch is not None:
                return st.branch_schema(branch, schema)
            schema = st.output_schema(schema)
        return schema

    def input_paired(self, paired: bool) -> bool:
        """Whether what it receives are pairs (`seq2`), given whether the source reads
        pairs: a branch may hold a pair's mates as rows of their own."""
        if self.router is None:
            return paired
        return SEQ2 in self.input_schema(read_schema(paired)).names

    def open(self, chunk: Any, chunk_id: str, output: str) -> list[ShardWriter]:
        raise NotImplementedError

    def finish(self, shards: list[ShardRecord], ctx: FinishContext) -> list[WrittenFile]:
        raise NotImplementedError


_S = TypeVar("_S", bound=type[Stage])


def register(cls: _S) -> _S:
    if cls.name in _REGISTRY:
        raise ValueError(f"stage {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    cls.Config.stage_name = cls.name
    return cls


def stage_class(name: str) -> type[Stage] | None:
    return _REGISTRY.get(name)


def make_stage(config: StageConfig) -> Stage:
    """The stage a validated stage config describes."""
    return _REGISTRY[type(config).stage_name](config)


def stage_names() -> list[str]:
    return sorted(_REGISTRY)
