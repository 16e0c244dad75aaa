"""SlurmExecutor: `sbatch --parsable`, batched polling, `scancel`, retries.

Submission: one `sbatch --parsable` per spec; a job array (`--array=0-(N-1)`) for a spec
with N items, its task logs named `<name>.<jobid>_<index>.out|.err` (Slurm's `%A_%a`). All
scheduler options are sbatch arguments, never `#SBATCH` lines (see `script.py`).

Polling: one `squeue --noheader --array --states=all --jobs=<ids> --format=%i|%T` call per
round for every unfinished task of every submission, with a growing interval while nothing
changes. No accounting database is needed. The exit code of a finished task is read from
the exit-code file the batch script writes (`<name>.<key>.exit`), which outlives Slurm's
job record (kept only `MinJobAge` seconds); only when that file is missing (the job was
cancelled, killed at its time limit, or its node failed) does one `scontrol --oneliner
show job` call read Slurm's `ExitCode=code:signal`. A task neither squeue nor scontrol knows
and that wrote no exit-code file is LOST.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Sequence

from ..errors import SeqrayError
from . import script
from .base import Executor, RetryPolicy, Submission, Task
from .jobs import JobSpec, JobState

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]

_ENV_DROP = ("SEQRAY_TASK_INDEX", "SEQRAY_JOB_KEY")

# Slurm's job states (squeue %T, scontrol JobState) onto ours; unknown ones count as running
SLURM_STATES = {
    "PENDING": JobState.PENDING,
    "CONFIGURING": JobState.PENDING,
    "REQUEUED": JobState.PENDING,
    "REQUEUE_HOLD": JobState.PENDING,
    "REQUEUE_FED": JobState.PENDING,
    "RUNNING": JobState.RUNNING,
    "COMPLETING": JobState.RUNNING,  # epilog still running: not finished yet
    "SUSPENDED": JobState.RUNNING,
    "STOPPED": JobState.RUNNING,
    "SIGNALING": JobState.RUNNING,
    "STAGE_OUT": JobState.RUNNING,
    "RESIZING": JobState.RUNNING,
    "COMPLETED": JobState.COMPLETED,
    "FAILED": JobState.FAILED,
    "SPECIAL_EXIT": JobState.FAILED,
    "CANCELLED": JobState.CANCELLED,
    "REVOKED": JobState.CANCELLED,
    "TIMEOUT": JobState.TIMEOUT,
    "DEADLINE": JobState.TIMEOUT,
    "NODE_FAIL": JobState.NODE_FAIL,
    "BOOT_FAIL": JobState.NODE_FAIL,
    "PREEMPTED": JobState.PREEMPTED,
    "OUT_OF_MEMORY": JobState.OUT_OF_MEMORY,
}


class SlurmError(SeqrayError):
    """A Slurm command failed (names the command, its exit status and its stderr)."""


def subprocess_runner(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Runs a Slurm command. The environment loses the variables the batch script reads
    to know its task (ours, and `SLURM_ARRAY_*` of a submitter that itself runs in an
    array job), since sbatch exports the submitter's environment to the job."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _ENV_DROP and not k.startswith("SLURM_ARRAY_")
    }
    return subprocess.run(
        list(argv), capture_output=True, text=True, env=env, timeout=120, check=False
    )


def slurm_state(text: str) -> JobState:
    """Our state for Slurm's state name ("CANCELLED by 0" → CANCELLED)."""
    word = text.strip().split()[0] if text.strip() else ""
    return SLURM_STATES.get(word.rstrip("+"), JobState.RUNNING)


def parse_scontrol(text: str) -> dict[str, tuple[JobState, int | None]]:
    """Job id ("12" or "12_3" for an array task) → (state, exit code) from the output of
    `scontrol --oneliner show job`; exit code 128+signal when the job was killed."""
    out: dict[str, tuple[JobState, int | None]] = {}
    for line in text.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if "JobId" not in fields or "JobState" not in fields:
            continue
        if fields.get("ArrayTaskId") and fields.get("ArrayJobId"):
            key = f"{fields['ArrayJobId']}_{fields['ArrayTaskId']}"
        else:
            key = fields["JobId"]
        code: int | None = None
        if ":" in fields.get("ExitCode", ""):
            status, sig = fields["ExitCode"].split(":", 1)
            if status.isdigit() and sig.isdigit():
                code = int(status) if int(status) or not int(sig) else 128 + int(sig)
        out[key] = (slurm_state(fields["JobState"]), code)
    return out


class SlurmExecutor(Executor):
    """Runs specs on Slurm. `runner` runs one command line and returns its completed
    process (tests inject a counting one); the command names are settable for wrappers."""

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        runner: Runner | None = None,
        sbatch: str = "sbatch",
        squeue: str = "squeue",
        scontrol: str = "scontrol",
        scancel: str = "scancel",
        poll_interval: float = 0.5,
        max_poll_interval: float = 10.0,
        max_poll_failures: int = 10,
    ):
        super().__init__(
            retry=retry, poll_interval=poll_interval, max_poll_interval=max_poll_interval
        )
        self.runner: Runner = runner or subprocess_runner
        self.sbatch, self.squeue, self.scontrol, self.scancel = sbatch, squeue, scontrol, scancel
        self.max_poll_failures = max_poll_failures
        self._poll_failures = 0
        self._token = uuid.uuid4().hex[:8]
        self._count = 0

    def _call(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        try:
            return self.runner(argv)
        except (OSError, subprocess.SubprocessError) as exc:
            raise SlurmError(f"{argv[0]} could not run: {exc}") from exc

    def sbatch_args(self, spec: JobSpec, index: int | None) -> list[str]:
        """The sbatch command line (without the script) for all tasks or task `index`."""
        r = spec.resources
        log = os.path.join(os.path.abspath(spec.log_dir), spec.name)
        array = spec.is_array and index is None
        pattern = "%A_%a" if array else "%j"
        args = [
            self.sbatch,
            "--parsable",
            f"--job-name={spec.name}",
            f"--output={log}.{pattern}.out",
            f"--error={log}.{pattern}.err",
            f"--cpus-per-task={r.cpus_per_task}",
        ]
        if spec.workdir is not None:
            args.append(f"--chdir={os.path.abspath(spec.workdir)}")
        if r.mem is not None:
            args.append(f"--mem={r.mem}")
        if r.time is not None:
            args.append(f"--time={r.time}")
        if r.nodes is not None:
            args.append(f"--nodes={r.nodes}")
        if r.ntasks is not None:
            args.append(f"--ntasks={r.ntasks}")
        if r.partition is not None:
            args.append(f"--partition={r.partition}")
        args += list(r.extra)
        if array:
            args.append(f"--array=0-{spec.size - 1}")
        elif index is not None:
            args.append(f"--export=ALL,SEQRAY_TASK_INDEX={index}")
        return args

    def _submit(self, spec: JobSpec, index: int | None) -> list[Task]:
        if "%" in spec.log_dir or "\\" in spec.log_dir:
            # sbatch reads % (and \\) in --output/--error as filename patterns
            raise SlurmError(f"log_dir {spec.log_dir!r}: Slurm log paths cannot hold '%' or '\\'")
        os.makedirs(spec.log_dir, exist_ok=True)
        self._count += 1
        path = script.write(
            spec, os.path.join(spec.log_dir, f"{spec.name}.slurm-{self._token}-{self._count}.sh")
        )
        argv = self.sbatch_args(spec, index) + [str(path)]
        proc = self._call(argv)
        job = proc.stdout.strip().split(";")[0]
        if proc.returncode != 0 or not job.isdigit():
            raise SlurmError(
                f"sbatch failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout}"
            )
        if spec.is_array and index is None:
            keys = [(i, f"{job}_{i}") for i in range(spec.size)]
        else:
            keys = [(0 if index is None else index, job)]
        tasks = []
        for i, key in keys:
            out, err, exit_file = script.log_paths(spec, key)
            tasks.append(Task(spec, i, key, out, err, exit_file))
        return tasks

    def attach(self, spec: JobSpec, job_ids: Sequence[str]) -> Submission:
        """A submission for jobs submitted earlier (by this or another process), from the
        job ids it recorded, one per task in index order (`Submission.job_ids`): a run
        that was killed while its jobs were queued waits for them instead of resubmitting.
        Their exit codes come from the exit-code files, so this works after Slurm has
        forgotten the jobs."""
        if len(job_ids) != spec.size:
            raise SeqrayError(f"{len(job_ids)} job ids for a spec of {spec.size} tasks")
        tasks = []
        for i, job_id in enumerate(job_ids):
            job, _, task = str(job_id).partition("_")
            if not job.isdigit() or (task and not task.isdigit()):
                raise SeqrayError(f"{job_id!r} is not a Slurm job id")
            out, err, exit_file = script.log_paths(spec, str(job_id))
            tasks.append(Task(spec, i, str(job_id), out, err, exit_file))
        return Submission(spec, tasks)

    def _poll(self, tasks: list[Task]) -> dict[str, tuple[JobState, int | None]]:
        jobs = sorted({t.job_id.split("_")[0] for t in tasks}, key=int)
        proc = self._call(
            [
                self.squeue,
                "--noheader",
                "--array",
                "--states=all",
                f"--jobs={','.join(jobs)}",
                "--format=%i|%T",
            ]
        )
        answer: dict[str, tuple[JobState, int | None]] = {}
        if proc.returncode != 0 and "Invalid job id" not in proc.stderr:
            self._poll_failures += 1
            if self._poll_failures >= self.max_poll_failures:
                raise SlurmError(
                    f"squeue failed {self._poll_failures} times in a row "
                    f"(exit {proc.returncode}): {proc.stderr.strip()}"
                )
            return answer
        self._poll_failures = 0
        for line in proc.stdout.splitlines():
            if "|" in line:
                job_id, state = line.strip().split("|", 1)
                answer[job_id] = (slurm_state(state), None)
        # finished (or forgotten) tasks that left no exit-code file: ask scontrol once
        need = [
            t
            for t in tasks
            if (t.job_id not in answer or answer[t.job_id][0].finished)
            and script.read_exit_file(t.exit_file) is None
        ]
        if need:
            show = self._call([self.scontrol, "--oneliner", "show", "job"])
            known = parse_scontrol(show.stdout) if show.returncode == 0 else {}
            for t in need:
                if t.job_id in known:
                    answer[t.job_id] = known[t.job_id]
                elif t.job_id not in answer:
                    answer[t.job_id] = (JobState.LOST, None)
        for t in tasks:
            if t.job_id not in answer:
                code = script.read_exit_file(t.exit_file)
                if code is not None:  # the record is gone but the script said how it ended
                    answer[t.job_id] = (
                        JobState.COMPLETED if code == 0 else JobState.FAILED,
                        code,
                    )
        return answer

    def _cancel(self, tasks: list[Task]) -> None:
        proc = self._call([self.scancel, *[t.job_id for t in tasks]])
        # a job that ended (or was forgotten) since the last poll is not an error
        benign = ("already completing or completed", "Invalid job id")
        if proc.returncode != 0 and not all(
            any(b in line for b in benign) for line in proc.stderr.splitlines() if line.strip()
        ):
            raise SlurmError(f"scancel failed (exit {proc.returncode}): {proc.stderr.strip()}")
