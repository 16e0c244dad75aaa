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
import socket
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow.fs as pafs

from ..errors import OutputError, SeqrayError
from ..io.fs import filesystem_for, is_s3, join, read_json
from ..io.writers import write_json
from ..pipeline.manifest import file_ok, file_sha256, write_manifest
from .base import Executor, RetryPolicy, Submission
from .jobs import JobFailedError, JobResult, JobSpec, JobTimeoutError, Resources
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
    if done is not None:
        changed = next((f["uri"] for f in done["files"] if not file_ok(f)), None)
        if changed is not None:
            raise OutputError(
                f"{changed}: changed or removed since the hpc job wrote it; rerun with "
                "--overwrite to run the job again"
            )
        return dict(done)
    plan = read_json(join(task.state, "promote.json"))
    if plan is not None:  # the job ended well; moving its directories was interrupted
        return _promote(task, plan)
    state = read_json(join(task.state, "jobs.json"))
    if state is None:
        task, executor, submission, state = _submit(task)
    else:
        task, executor, submission = _attach(task, state)
        state["attached"] = state.get("attached", 0) + 1
        _save(task, state, submission, executor)
    executor.on_change = lambda: _save(task, state, submission, executor)
    t0 = time.monotonic()
    try:
        results = executor.wait(submission, task.timeout)
    except JobTimeoutError:
        _forget(task, state)
        raise
    failed = [r for r in results if not r.ok]
    if failed:
        _forget(task, state)
        raise JobFailedError(failed)
    return _promote(task, _plan(task, state, results, time.monotonic() - t0))


def _workdir(task: HpcTask) -> str:
    """A new directory for one submission: in the stage's state (local output) or under
    `scratch`. A job of an earlier submission that still runs (a run killed, then started
    again with --overwrite) writes only into its own."""
    token = uuid.uuid4().hex[:12]
    if task.scratch is None:
        path = os.path.join(task.state, f"work-{token}")
    else:
        path = os.path.join(task.scratch, f"seqray-hpc-{token}")
    os.makedirs(path)
    return path


def _executor(task: HpcTask) -> Executor:
    if task.executor == "slurm":
        return SlurmExecutor(retry=task.retry)
    return LocalExecutor(retry=task.retry)


def _submit(task: HpcTask) -> tuple[HpcTask, Executor, Submission, dict[str, Any]]:
    """Stages the input in a new working directory, submits, and records the job ids
    before waiting on them."""
    task = replace(task, workdir=_workdir(task))
    _stage_input(task)
    os.makedirs(task.result_dir)
    executor = _executor(task)
    submission = executor.submit(job_spec(task))
    state: dict[str, Any] = {
        "executor": task.executor,
        "host": socket.gethostname(),
        "workdir": task.workdir,
        "submitted": _now(),
    }
    _save(task, state, submission, executor)
    return task, executor, submission, state


def _save(task: HpcTask, state: dict[str, Any], submission: Submission, ex: Executor) -> None:
    """jobs.json: the current job id (and local pid) and attempt of every task — after
    submitting, after every retry, and as queued local tasks start."""
    state["job_ids"] = submission.job_ids
    state["attempts"] = [t.attempt for t in submission.tasks]
    if isinstance(ex, LocalExecutor):
        state["pids"] = ex.pids(submission)
    write_json(join(task.state, "jobs.json"), state)


def _attach(task: HpcTask, state: dict[str, Any]) -> tuple[HpcTask, Executor, Submission]:
    task = replace(task, workdir=str(state["workdir"]))
    executor = _executor(task)
    spec = job_spec(task)
    ids = list(state["job_ids"])
    if isinstance(executor, SlurmExecutor):
        submission = executor.attach(spec, ids)
    else:
        assert isinstance(executor, LocalExecutor)
        here = socket.gethostname()
        if state.get("host") != here:
            raise SeqrayError(
                f"{task.label}: its local job ran on host {state.get('host')}, not {here}: "
                "resume the run there (local jobs are followed by their process ids)"
            )
        submission = executor.attach(spec, ids, list(state["pids"]))
    for t, attempt in zip(submission.tasks, state.get("attempts", []), strict=False):
        t.attempt = int(attempt)
    return task, executor, submission


def _forget(task: HpcTask, state: dict[str, Any]) -> None:
    """After a failure or a timeout: the next run submits again instead of attaching to
    these jobs (their ids stay in failed.json, their logs in their working directory)."""
    failures = read_json(join(task.state, "failed.json")) or []
    write_json(join(task.state, "failed.json"), [*failures, {**state, "failed": _now()}])
    _delete(join(task.state, "jobs.json"))


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
        return replace(spec, argv=fresh + spec.argv, env={**spec.env, **_threads(task)})
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
        env=_threads(task),
        resources=task.resources,
        items=items,
        preamble=task.preamble,
    )


def _threads(task: HpcTask) -> dict[str, str]:
    """Math libraries get the job's CPUs, not what the submitting process had (a Ray
    worker runs with OMP_NUM_THREADS=1, and sbatch and subprocesses pass it on)."""
    n = str(task.resources.cpus_per_task)
    return {v: n for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def _uses(task: HpcTask, key: str) -> bool:
    return any("{" + key + "}" in a for a in task.command)


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


def _plan(
    task: HpcTask, state: dict[str, Any], results: Sequence[JobResult], waited: float
) -> dict[str, Any]:
    """What moving the job's directories will give (promote.json, written before anything
    moves, so an interrupted move can be finished): manifests rewritten to name files where
    they will be, every file listed with its final URI, the report."""
    old, new = task.workdir.rstrip("/"), task.final.rstrip("/")
    manifests = [os.path.join(task.input_dir, "manifest.json")]
    if task.solver is not None:
        manifests.append(os.path.join(task.result_dir, "manifest.json"))
    for path in manifests:
        if os.path.exists(path):
            _rewrite_paths(path, old, new)
    listed: list[dict[str, Any]] = []
    for part in PARTS:
        for root, _, names in os.walk(os.path.join(task.workdir, part)):
            for n in sorted(names):
                local = os.path.join(root, n)
                size, sha = file_sha256(local)
                listed.append({"uri": new + local[len(old) :], "bytes": size, "sha256": sha})
    plan = {
        "workdir": task.workdir,
        "staging": f".{os.path.basename(new)}.tmp-{uuid.uuid4().hex[:8]}",
        "report": _report(task, state, results, waited),
        "files": sorted(listed, key=lambda f: str(f["uri"])),
    }
    write_json(join(task.state, "promote.json"), plan)
    return plan


def _promote(task: HpcTask, plan: dict[str, Any]) -> dict[str, Any]:
    """Moves input/, result/ and logs/ to `task.final`; repeatable after a kill. Locally
    they gather in a hidden `.PATH.tmp-XXXX` beside it (the run owns such a temporary)
    that is renamed to PATH at once; to S3 each is uploaded, then removed here."""
    workdir = str(plan["workdir"])
    if is_s3(task.final):
        fs, path = filesystem_for(task.final)
        for part in PARTS:
            src = os.path.join(workdir, part)
            if os.path.isdir(src):
                pafs.copy_files(
                    src,
                    f"{path}/{part}",
                    source_filesystem=pafs.LocalFileSystem(),
                    destination_filesystem=fs,
                )
                shutil.rmtree(src)
    else:
        staging = os.path.join(os.path.dirname(task.final), str(plan["staging"]))
        for part in PARTS:
            src, dst = os.path.join(workdir, part), os.path.join(staging, part)
            if os.path.isdir(src):
                if os.path.isdir(dst):  # a copy cut short (scratch on another filesystem)
                    shutil.rmtree(dst)
                os.makedirs(staging, exist_ok=True)
                shutil.move(src, dst)
        if os.path.isdir(staging):
            if os.path.lexists(task.final):
                raise OutputError(f"{task.final}: appeared while the hpc job ran")
            os.rename(staging, task.final)
    if task.scratch is not None:  # the directory this submission made there, now empty
        shutil.rmtree(workdir, ignore_errors=True)
    out = {"report": plan["report"], "files": plan["files"]}
    write_json(join(task.state, "done.json"), out)
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
        solved = read_json(os.path.join(task.result_dir, "manifest.json")) or {}
        report["solver"] = solved.get("reports", {}).get(task.solver, {})
    return report


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
