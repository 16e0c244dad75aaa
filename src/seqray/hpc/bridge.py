"""The Ray side of the `hpc` stage: one task stages a run's shards, submits the job (or
re-attaches to the one an interrupted run submitted), waits, and moves what the job wrote
into the run's output.

The job works in a working directory — the stage's state directory `OUT/_seqray/hpc/<i>/`,
or a new `SCRATCH/seqray-hpc-<random>/` (named in the state directory's `workdir.json`)
when a scratch directory is given, as it must be for an output on S3: `input/manifest.json`
lists the shards it reads (local shards in place, S3 shards copied in), `result/` is what
it writes, `logs/` its scripts and logs. `jobs.json` in the state directory records the job
ids (and local pids) as soon as they are known, so a resumed run waits for the same jobs
instead of submitting them again. When the jobs end well, the three directories move to
`OUT/<path>/` (a scratch working directory is then removed); manifests that name files by
their working path are rewritten to their final one, and `done.json` keeps the report, so
a run killed after this point does not run the job again. The state lives with the run:
`--overwrite` removes it, `--resume` keeps it.

Everything here runs in the task (a Ray worker, or the driver for the local runner); it
never imports Ray.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow.fs as pafs

from ..errors import SeqrayError
from ..io.fs import filesystem_for, is_s3, join, read_json
from ..io.writers import write_json
from ..pipeline.manifest import file_ok, file_sha256, write_manifest
from .base import Executor, RetryPolicy, Submission
from .jobs import JobFailedError, JobResult, JobSpec, Resources
from .local import LocalExecutor
from .slurm import SlurmExecutor
from .solver_job import solver_spec
from .templates import user_command

PARTS = ("input", "result", "logs")  # what the job's working directory holds
# empties the result directory "$1", then runs the rest of the arguments
_FRESH_RESULT = 'rm -rf -- "$1" && mkdir -- "$1" && shift && exec "$@"'
# variables of the driver's environment the task passes on to sbatch/squeue (a Ray worker
# started before they were set does not have them)
SLURM_ENV = ("SLURM_CONF", "SLURM_CLUSTERS")


@dataclass(frozen=True)
class HpcTask:
    """What the task needs, as plain values (it pickles into a Ray task)."""

    state: str  # OUT/_seqray/hpc/<i>: the stage's records (local or S3)
    final: str  # OUT/<path>: where its directories end up (local or S3)
    output: str  # the run's output: S3 shards under it are copied in, paths kept
    shards: tuple[dict[str, Any], ...]  # manifest entries of the output the job reads
    label: str  # names the stage in messages
    name: str  # the job's name
    executor: str  # "local" | "slurm"
    solver: str | None = None
    options: Mapping[str, int] = field(default_factory=dict)
    ranks: int = 1
    launcher: str = "mpirun"
    command: tuple[str, ...] = ()  # a user command template (argv)
    per_shard: bool = False  # one array task per shard ({shard_uri})
    resources: Resources = field(default_factory=Resources)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float | None = None
    preamble: str = ""
    env: Mapping[str, str] = field(default_factory=dict)  # the driver's Slurm settings
    scratch: str | None = None  # a directory every node sees, to work in
    workdir: str = ""  # where the job works (set by `run_job`)

    @property
    def input_dir(self) -> str:
        return os.path.join(self.workdir, "input")

    @property
    def result_dir(self) -> str:
        return os.path.join(self.workdir, "result")

    @property
    def log_dir(self) -> str:
        return os.path.join(self.workdir, "logs")


def run_job(task: HpcTask) -> dict[str, Any]:
    """Runs (or re-attaches to) the stage's job; returns {"report", "files"} where files
    are {uri, bytes, sha256} of everything now under `task.final`."""
    for key, value in task.env.items():
        os.environ[key] = value
    done = read_json(join(task.state, "done.json"))
    if done is not None and all(file_ok(f) for f in done["files"]):
        return dict(done)
    task = replace(task, workdir=_workdir(task))
    executor = _executor(task)
    spec = job_spec(task)
    state = read_json(join(task.state, "jobs.json"))
    if state is None:
        submission, state = _submit(task, executor, spec)
    else:
        submission = _attach(executor, spec, state)
        state = {**state, "attached": state.get("attached", 0) + 1}
        write_json(join(task.state, "jobs.json"), state)
    t0 = time.monotonic()
    results = executor.wait(submission, task.timeout)
    waited = time.monotonic() - t0
    failed = [r for r in results if not r.ok]
    if failed:
        # the next run submits again instead of attaching to jobs that failed
        write_json(join(task.state, "failed.json"), state)
        _delete(join(task.state, "jobs.json"))
        raise JobFailedError(failed)
    files = _promote(task)
    report = _report(task, state, results, waited)
    out = {"report": report, "files": files}
    write_json(join(task.state, "done.json"), out)
    return out


def _workdir(task: HpcTask) -> str:
    """The state directory (local output), or the scratch directory this run chose."""
    if task.scratch is None:
        return task.state
    chosen = read_json(join(task.state, "workdir.json"))
    if chosen is not None:
        return str(chosen["workdir"])
    path = os.path.join(task.scratch, f"seqray-hpc-{uuid.uuid4().hex[:12]}")
    os.makedirs(path)  # new: nothing of anyone else's is there
    write_json(join(task.state, "workdir.json"), {"workdir": path})
    return path


def _delete(uri: str) -> None:
    fs, path = filesystem_for(uri)
    try:
        fs.delete_file(path)
    except FileNotFoundError:
        pass


def job_spec(task: HpcTask) -> JobSpec:
    """The job the stage runs: a solver on the staged input, or the user's command with
    {input}, {manifest}, {out} (and {shard_uri} per task) filled in."""
    name = task.name
    if task.solver is not None:
        spec = solver_spec(
            task.solver,
            task.input_dir,
            task.result_dir,
            task.options,
            ranks=task.ranks,
            launcher=task.launcher,
            log_dir=task.log_dir,
            name=name,
            resources=task.resources,
            preamble=task.preamble,
        )
        # each attempt starts from an empty result directory (this module's own): a solver
        # writes only into an empty one, so a retry must not find the last attempt's files
        fresh = ("bash", "-c", _FRESH_RESULT, "seqray-hpc", task.result_dir)
        return replace(spec, argv=fresh + spec.argv)
    values = {
        "input": task.input_dir,
        "manifest": os.path.join(task.input_dir, "manifest.json"),
        "out": task.result_dir,
    }
    argv = user_command(list(task.command), **{k: v for k, v in values.items() if _uses(task, k)})
    items: tuple[dict[str, str], ...] = ()
    if task.per_shard:
        items = tuple({"shard_uri": uri} for uri in _staged_uris(task))
    return JobSpec(
        argv=tuple(argv),
        log_dir=task.log_dir,
        name=name,
        workdir=task.result_dir,
        resources=task.resources,
        items=items,
        preamble=task.preamble,
    )


def _uses(task: HpcTask, key: str) -> bool:
    return any("{" + key + "}" in a for a in task.command)


def _executor(task: HpcTask) -> Executor:
    if task.executor == "slurm":
        return SlurmExecutor(retry=task.retry)
    # every task starts at once: each has a pid to record for a later attach
    return LocalExecutor(retry=task.retry, max_parallel=max(1, len(task.shards)))


def _submit(task: HpcTask, executor: Executor, spec: JobSpec) -> tuple[Submission, dict]:
    """Stages the input, submits, and records the job ids before waiting on them."""
    _fresh_workdir(task)
    _stage_input(task)
    os.makedirs(task.result_dir)
    submission = executor.submit(spec)
    state: dict[str, Any] = {
        "executor": task.executor,
        "job_ids": submission.job_ids,
        "submitted": _now(),
    }
    if isinstance(executor, LocalExecutor):
        state["pids"] = executor.pids(submission)
    write_json(join(task.state, "jobs.json"), state)
    return submission, state


def _attach(executor: Executor, spec: JobSpec, state: dict) -> Submission:
    ids = list(state["job_ids"])
    if isinstance(executor, SlurmExecutor):
        return executor.attach(spec, ids)
    assert isinstance(executor, LocalExecutor)
    return executor.attach(spec, ids, list(state["pids"]))


def _fresh_workdir(task: HpcTask) -> None:
    """Clears what an attempt that never submitted (or whose jobs failed) left in the
    working directory: only the directories this module makes there."""
    os.makedirs(task.workdir, exist_ok=True)
    for part in PARTS:
        path = os.path.join(task.workdir, part)
        if os.path.isdir(path):
            shutil.rmtree(path)


def _stage_input(task: HpcTask) -> None:
    """`input/manifest.json`: a seqray manifest of the shards the job reads (what
    `seqray.load_embeddings` and the solvers open). Shards on S3 are copied in first."""
    shards = [_stage_shard(task, s) for s in task.shards]
    listing = json.dumps([s["sha256"] for s in shards]).encode()
    write_manifest(
        task.input_dir,
        {
            "config": {"staged_for": task.label, "from": task.output},
            "config_hash": hashlib.sha256(listing).hexdigest(),
            "inputs": [],
            "chunks": [],
            "shards": shards,
            "files": [],
            "rejects": [],
            "stages": {},
            "reports": {},
            "reads": {"in": sum(int(s["rows"]) for s in shards)},
        },
    )


def _stage_shard(task: HpcTask, entry: dict[str, Any]) -> dict[str, Any]:
    if not is_s3(entry["uri"]):
        return dict(entry)
    moved = dict(entry)
    moved["uri"] = _copy_in(task, entry["uri"], directory=bool(entry.get("files")))
    if entry.get("files"):
        moved["files"] = [{**f, "uri": _local_twin(task, f["uri"])} for f in entry["files"]]
    return moved


def _local_twin(task: HpcTask, uri: str) -> str:
    rel = uri[len(task.output) :].lstrip("/")
    return os.path.join(task.input_dir, rel)


def _copy_in(task: HpcTask, uri: str, directory: bool) -> str:
    dest = _local_twin(task, uri)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    fs, path = filesystem_for(uri)
    pafs.copy_files(path, dest, source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem())
    return dest


def _staged_uris(task: HpcTask) -> list[str]:
    return [_local_twin(task, s["uri"]) if is_s3(s["uri"]) else s["uri"] for s in task.shards]


def _promote(task: HpcTask) -> list[dict[str, Any]]:
    """Moves input/, result/ and logs/ to `task.final` (rename locally, upload to S3),
    each manifest rewritten to name files where they now are; lists the files moved."""
    old = task.workdir.rstrip("/")
    new = task.final.rstrip("/")
    for manifest in _manifests(task.workdir):
        _rewrite_paths(manifest, old, new)
    listed = []
    for part in PARTS:
        src = os.path.join(task.workdir, part)
        for root, _, names in os.walk(src):
            for n in sorted(names):
                local = os.path.join(root, n)
                size, sha = file_sha256(local)
                listed.append({"uri": new + local[len(old) :], "bytes": size, "sha256": sha})
    if is_s3(task.final):
        fs, path = filesystem_for(task.final)
        for part in PARTS:
            pafs.copy_files(
                os.path.join(task.workdir, part),
                f"{path}/{part}",
                source_filesystem=pafs.LocalFileSystem(),
                destination_filesystem=fs,
            )
            shutil.rmtree(os.path.join(task.workdir, part))
    else:
        os.makedirs(task.final, exist_ok=True)
        for part in PARTS:  # a rename, or a copy from a scratch on another filesystem
            shutil.move(os.path.join(task.workdir, part), os.path.join(task.final, part))
    if task.scratch is not None:  # the directory this run made there, now empty
        shutil.rmtree(task.workdir)
    return sorted(listed, key=lambda f: f["uri"])


def _manifests(root: str) -> list[str]:
    out = []
    for part in PARTS:
        for dirpath, _, names in os.walk(os.path.join(root, part)):
            out += [os.path.join(dirpath, n) for n in names if n == "manifest.json"]
    return out


def _rewrite_paths(path: str, old: str, new: str) -> None:
    """Rewrites every string in a JSON file that names something under `old` (a path
    prefix) to the same place under `new`."""
    with open(path) as f:
        data = json.load(f)

    def move(v: Any) -> Any:
        if isinstance(v, str) and (v == old or v.startswith(old + "/")):
            return new + v[len(old) :]
        if isinstance(v, list):
            return [move(x) for x in v]
        if isinstance(v, dict):
            return {k: move(x) for k, x in v.items()}
        return v

    moved = move(data)
    if moved != data:
        write_json(path, moved, indent=1, sort_keys=True)
        _fix_input_checksums(path, old, new)


def _fix_input_checksums(path: str, old: str, new: str) -> None:
    """A solver's manifest names the staged input manifest with its sha256: that file was
    rewritten too, so its entry takes the new digest."""
    with open(path) as f:
        data = json.load(f)
    changed = False
    for entry in data.get("inputs", []):
        uri = entry.get("uri", "")
        if uri.startswith(new + "/") and uri.endswith("manifest.json"):
            local = old + uri[len(new) :]
            if os.path.exists(local):
                size, sha = file_sha256(local)
                entry.update(size=size, checksum=sha)
                changed = True
    if changed:
        write_json(path, data, indent=1, sort_keys=True)


def _report(
    task: HpcTask, state: dict[str, Any], results: Sequence[JobResult], waited: float
) -> dict[str, Any]:
    old, new = task.workdir.rstrip("/"), task.final.rstrip("/")

    def moved(p: str) -> str:
        return new + p[len(old) :] if p.startswith(old + "/") else p

    report: dict[str, Any] = {
        "executor": task.executor,
        "job": task.solver or "command",
        "submitted": state.get("submitted"),
        "finished": _now(),
        "seconds_waited": round(waited, 3),
        "attached": state.get("attached", 0),
        "result": join(task.final, "result"),
        "jobs": [
            {
                "job_id": r.job_id,
                "index": r.index,
                "state": r.state.value,
                "exit_code": r.exit_code,
                "attempts": r.attempts,
                "history": list(r.history),
                "stdout": moved(r.stdout),
                "stderr": moved(r.stderr),
            }
            for r in results
        ],
    }
    if task.solver is not None:
        report["ranks"] = task.ranks
        report["launcher"] = task.launcher
        solved = read_json(join(task.final, "result", "manifest.json")) or {}
        report["solver"] = solved.get("reports", {}).get(task.solver, {})
    return report


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def check_scratch(scratch: str) -> None:
    """A scratch directory must be local (or a shared mount): the job reads it by path."""
    if is_s3(scratch):
        raise SeqrayError(f"scratch {scratch}: give a local or shared-filesystem directory")
