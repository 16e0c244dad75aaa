"""The `hpc` pipeline stage: hands what a `write` stage before it wrote to a job outside
Ray — a seqray MPI solver or any command — on this machine or on Slurm, and records the
job ids, states, times and outputs in the run's manifest.

Batches pass through unchanged; the work is in `finish`, after the write stage has
finished its shards: one task on the runner (`bridge.run_job`) stages, submits, waits and
moves the job's directories to `OUT/<path>/` (`input/`, `result/`, `logs/`). See
docs/hpc.md ("The hpc stage").
"""

from __future__ import annotations

import os
import shlex
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import ConfigError
from ..io.fs import is_s3, join
from ..io.writers import WrittenFile
from ..pipeline.kinds import ANY, READS, VECTORS, BatchKind
from ..pipeline.outputs import STATE_DIR, Target
from ..pipeline.registry import FinishContext, MapStage, StageConfig, register
from ..pipeline.stages import WriteStage
from .base import RetryPolicy
from .bridge import SLURM_ENV, HpcTask, run_job
from .jobs import JobState, Resources
from .solver_job import SOLVER_OPTIONS
from .templates import placeholders


class JobResources(BaseModel):
    """What each job (or array task) asks Slurm for; the local executor ignores them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    cpus_per_task: int = Field(default=1, ge=1)
    mem: str | None = None  # "4G"
    time: str | None = None  # "01:00:00"
    partition: str | None = None
    extra: list[str] = Field(default_factory=list)  # more sbatch options, one argument each

    def resources(self) -> Resources:
        return Resources(
            cpus_per_task=self.cpus_per_task,
            mem=self.mem,
            time=self.time,
            partition=self.partition,
            extra=tuple(self.extra),
        )


class HpcConfig(StageConfig):
    path: str = Field(default="hpc", pattern=r"^[A-Za-z0-9_.-]+$")  # OUT/<path>/
    solver: Literal["pca", "knn", "spectral"] | None = None
    components: int | None = Field(default=None, ge=1)  # pca
    neighbors: int | None = Field(default=None, ge=1)  # knn, spectral
    clusters: int | None = Field(default=None, ge=2)  # spectral
    # a user command instead of a solver: an argument list, or a command line split with
    # shlex; {input} (a run directory load_embeddings reads), {manifest}, {out} (its result
    # directory, the job's working directory) and, with per_shard, {shard_uri}
    command: str | list[str] | None = None
    per_shard: bool = False  # one array task per shard of the input
    executor: Literal["local", "slurm"] = "local"
    ranks: int = Field(default=1, ge=1)  # solver ranks
    launcher: Literal["mpirun", "srun"] | None = None  # default: mpirun locally, srun on Slurm
    job: JobResources = JobResources()
    max_attempts: int = Field(default=1, ge=1)  # per task, retried on node failure and ...
    retry_exit_codes: list[int] = Field(default_factory=list)  # ... these exit codes
    timeout: float | None = Field(default=None, gt=0)  # seconds; then the jobs are cancelled
    preamble: str = ""  # trusted batch-script lines run before the command (module load ...)
    input: str | None = None  # which write stage's output (its `path`); default: the last
    scratch: str | None = None  # a shared directory to work in: needed for S3 output
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

    @field_validator("command", mode="before")
    @classmethod
    def _command(cls, v):
        if isinstance(v, list) and not v:
            raise ValueError("command is empty")
        return v

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if v in (".", "..") or v == STATE_DIR:
            raise ValueError(f"path {v!r}: give a directory name under the output")
        return v

    @model_validator(mode="after")
    def _one_job(self):
        if (self.solver is None) == (self.command is None):
            raise ValueError("give either solver (pca, knn, spectral) or command")
        given = {k for k in ("components", "neighbors", "clusters") if getattr(self, k)}
        if self.solver is None:
            if given:
                raise ValueError(f"{', '.join(sorted(given))}: for a solver, not a command")
            if self.ranks != 1 or self.launcher is not None:
                raise ValueError("ranks and launcher are for a solver; for a command use job")
            allowed = {"input", "manifest", "out"} | (
                {"shard_uri", "index"} if self.per_shard else set()
            )
            unknown = placeholders(self.argv()) - allowed
            if unknown:
                raise ValueError(
                    f"command has placeholder(s) {', '.join(sorted(unknown))}; it may use "
                    + ", ".join(sorted(allowed))
                    + ("" if self.per_shard else " ({shard_uri} and {index} need per_shard)")
                )
        else:
            wrong = given - set(SOLVER_OPTIONS[self.solver])
            if wrong:
                raise ValueError(
                    f"solver {self.solver} takes {', '.join(SOLVER_OPTIONS[self.solver])}, "
                    f"not {', '.join(sorted(wrong))}"
                )
            if self.per_shard:
                raise ValueError("per_shard is for a command; a solver reads every shard")
        if self.launcher == "srun" and self.executor != "slurm":
            raise ValueError("launcher srun needs executor: slurm")
        if self.scratch is not None and is_s3(self.scratch):
            raise ValueError("scratch must be a local or shared-filesystem directory")
        return self

    def argv(self) -> tuple[str, ...]:

        if self.command is None:
            return ()
        if isinstance(self.command, str):
            try:
                return tuple(shlex.split(self.command))
            except ValueError as exc:
                raise ValueError(f"command {self.command!r}: {exc}") from exc
        return tuple(str(a) for a in self.command)


@register
class HpcStage(MapStage):
    """Runs a solver or command on what a write stage before it wrote, outside Ray."""

    name = "hpc"
    Config = HpcConfig
    config: HpcConfig
    writes_output = True
    source_index: int = 0  # the write stage whose output the job reads
    source_label: str = ""

    def takes(self) -> tuple[BatchKind, ...]:
        return ANY

    def transform(self, table: pa.Table, acc: Any, chunk: Any) -> pa.Table:
        return table

    def link(self, before: list, output: str) -> None:
        kind = READS
        writes: list[tuple[WriteStage, BatchKind]] = []
        for st in before:
            if isinstance(st, WriteStage):
                writes.append((st, kind))
            kind = st.gives(kind)
        want = self.config.input
        if want is not None:
            writes = [(w, k) for w, k in writes if w.config.path == want]
        if not writes:
            raise ConfigError(
                "hpc: no write stage before it"
                + (f" with path {want!r}" if want else "")
                + " (the job reads what a write stage wrote: put one before hpc)"
            )
        write, kind = writes[-1]
        if self.config.solver is not None:
            fmt = write.config.fmt
            if kind is not VECTORS or fmt.reader is None:
                raise ConfigError(
                    f"hpc: solver {self.config.solver} reads vectors, but the write stage "
                    f"before it (path {write.config.path!r}) writes {kind} as {fmt.title}: "
                    "embed before it and write parquet, hdf5, netcdf or zarr"
                )
        self.source_index = write.index
        self.source_label = f"stages[{write.index}] (write)"

    def targets(self, output: str, paired: bool, label: str) -> list[Target]:
        if is_s3(output) and self.config.scratch is None:
            raise ConfigError(
                f"{label}: the output is on S3, so the job needs a shared directory to work "
                "in: set scratch (a path every node of the cluster sees)"
            )
        return [Target(join(output, self.config.path), "dir", label)]

    def task(self, output: str, shards: list[dict[str, Any]]) -> HpcTask:
        c = self.config
        launcher = c.launcher or ("srun" if c.executor == "slurm" else "mpirun")
        options = {k: getattr(c, k) for k in ("components", "neighbors", "clusters")}
        return HpcTask(
            state=join(output, STATE_DIR, "hpc", str(self.index)),
            scratch=os.path.abspath(c.scratch) if c.scratch is not None else None,
            final=join(output, c.path),
            output=output,
            shards=tuple(shards),
            label=f"stages[{self.index}] (hpc)",
            name=c.name or f"seqray-{c.solver or 'job'}",
            executor=c.executor,
            solver=c.solver,
            options={k: v for k, v in options.items() if v is not None},
            ranks=c.ranks,
            launcher=launcher,
            command=c.argv(),
            per_shard=c.per_shard,
            resources=c.job.resources(),
            retry=RetryPolicy(
                max_attempts=c.max_attempts,
                retry_states=frozenset({JobState.NODE_FAIL, JobState.PREEMPTED}),
                retry_exit_codes=frozenset(c.retry_exit_codes),
            ),
            timeout=c.timeout,
            preamble=c.preamble,
            env={k: os.environ[k] for k in SLURM_ENV if k in os.environ},
        )

    def finish(self, acc: Any, ctx: FinishContext) -> dict[str, Any]:
        shards = ctx.outputs.get(self.source_index, [])
        if not shards:
            raise ConfigError(f"hpc: {self.source_label} wrote no shards for the job to read")
        task = self.task(ctx.output, shards)
        (done,) = ctx.runner.map(run_job, [task])
        for f in done["files"]:
            ctx.record(WrittenFile(f["uri"], 0, f["bytes"], f["sha256"]))
        report: dict[str, Any] = done["report"]
        return report

    @staticmethod
    def summarize(report: dict[str, Any]) -> str:
        jobs = report.get("jobs", [])
        ids = ", ".join(j["job_id"] for j in jobs[:3]) + (", ..." if len(jobs) > 3 else "")
        states = sorted({j["state"] for j in jobs})
        return (
            f"{report.get('job')} on {report.get('executor')}: job {ids} "
            f"{'/'.join(states)} after {report.get('seconds_waited', 0):.1f} s → "
            f"{report.get('result')}"
        )
