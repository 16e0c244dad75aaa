"""LocalExecutor: runs the same batch scripts as Slurm would, as local subprocesses.

Each task is `bash <script>` in its own session (so cancelling kills its whole process
group, and it outlives the process that started it), with `SEQRAY_TASK_INDEX` and
`SEQRAY_JOB_KEY` set, stdout/stderr to the task's log files. At most `max_parallel` tasks
run at once; the rest wait as PENDING. `attach` follows tasks another process started (a
run killed while its jobs ran) by pid, checked against the task's `SEQRAY_JOB_KEY`.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import uuid

from . import script
from .base import Executor, RetryPolicy, Submission, Task
from .jobs import JobSpec, JobState

_ENV_DROP = ("SEQRAY_TASK_INDEX", "SEQRAY_JOB_KEY")


class LocalExecutor(Executor):
    def __init__(
        self,
        *,
        max_parallel: int | None = None,
        retry: RetryPolicy | None = None,
        poll_interval: float = 0.05,
        max_poll_interval: float = 1.0,
    ):
        super().__init__(
            retry=retry, poll_interval=poll_interval, max_poll_interval=max_poll_interval
        )
        self.max_parallel = max_parallel or os.cpu_count() or 1
        self._token = uuid.uuid4().hex[:8]
        self._count = itertools.count()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._queued: dict[str, tuple[Task, str]] = {}  # job id -> (task, script path)
        self._attached: dict[str, int] = {}  # job id -> pid of a task another process started

    def _submit(self, spec: JobSpec, index: int | None) -> list[Task]:
        n = next(self._count)
        os.makedirs(spec.log_dir, exist_ok=True)
        path = script.write(
            spec, os.path.join(spec.log_dir, f"{spec.name}.local-{self._token}-{n}.sh")
        )
        indices = range(spec.size) if index is None else [index]
        tasks = []
        for i in indices:
            job_id = f"local-{self._token}-{n}-{i}"
            out, err, exit_file = script.log_paths(spec, job_id)
            task = Task(spec, i, job_id, out, err, exit_file)
            self._queued[job_id] = (task, str(path))
            tasks.append(task)
        self._start_queued()
        return tasks

    def pids(self, submission: Submission) -> list[int | None]:
        """The process id of each task (None: still queued), for `attach` later."""
        out: list[int | None] = []
        for t in submission.tasks:
            proc = self._procs.get(t.job_id)
            out.append(proc.pid if proc is not None else self._attached.get(t.job_id))
        return out

    def attach(self, spec: JobSpec, job_ids: list[str], pids: list[int | None]) -> Submission:
        """A submission for tasks started earlier by another process (from the job ids and
        pids it recorded): each is RUNNING while its process lives, then ends with the
        status its exit-code file holds (LOST without one). A task that had not started
        (pid None) is queued here."""
        tasks = []
        script_path: str | None = None
        for i, (job_id, pid) in enumerate(zip(job_ids, pids, strict=True)):
            out, err, exit_file = script.log_paths(spec, job_id)
            task = Task(spec, i, job_id, out, err, exit_file)
            tasks.append(task)
            if pid is not None:
                self._attached[job_id] = int(pid)
                continue
            if script_path is None:
                name = f"{spec.name}.local-{self._token}-{next(self._count)}.sh"
                script_path = str(script.write(spec, os.path.join(spec.log_dir, name)))
            self._queued[job_id] = (task, script_path)
        self._start_queued()
        return Submission(spec, tasks)

    def _start_queued(self) -> None:
        running = sum(1 for p in self._procs.values() if p.poll() is None)
        running += len(self._attached)
        started = False
        for job_id in list(self._queued):
            if running >= self.max_parallel:
                break
            started = True
            task, path = self._queued.pop(job_id)
            env = {k: v for k, v in os.environ.items() if k not in _ENV_DROP}
            env["SEQRAY_TASK_INDEX"] = str(task.index)
            env["SEQRAY_JOB_KEY"] = job_id
            with open(task.stdout, "wb") as out, open(task.stderr, "wb") as err:
                self._procs[job_id] = subprocess.Popen(
                    ["bash", path],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    env=env,  # the script enters the workdir (exit 97 if it cannot)
                    start_new_session=True,
                )
            running += 1
        if started and self.on_change is not None:
            self.on_change()

    def _poll(self, tasks: list[Task]) -> dict[str, tuple[JobState, int | None]]:
        answer: dict[str, tuple[JobState, int | None]] = {}
        for t in tasks:
            if t.job_id in self._attached:
                answer[t.job_id] = self._poll_attached(t)
                continue
            proc = self._procs.get(t.job_id)
            if proc is None:
                if t.job_id not in self._queued:
                    answer[t.job_id] = (JobState.CANCELLED if t.cancelled else JobState.LOST, None)
                continue
            rc = proc.poll()
            if rc is None:
                answer[t.job_id] = (JobState.RUNNING, None)
                continue
            code = rc if rc >= 0 else 128 - rc  # killed by a signal: the shell's convention
            if t.cancelled:
                state = JobState.CANCELLED
            else:
                state = JobState.COMPLETED if rc == 0 else JobState.FAILED
            answer[t.job_id] = (state, code)
            del self._procs[t.job_id]
        self._start_queued()
        for t in tasks:
            if t.job_id in self._procs and t.job_id not in answer:
                answer[t.job_id] = (JobState.RUNNING, None)
        return answer

    def _poll_attached(self, t: Task) -> tuple[JobState, int | None]:
        pid = self._attached[t.job_id]
        if _runs_task(pid, t.job_id):
            return JobState.RUNNING, None
        del self._attached[t.job_id]
        code = script.read_exit_file(t.exit_file)
        if code is None:
            return (JobState.CANCELLED if t.cancelled else JobState.LOST), None
        return (JobState.COMPLETED if code == 0 else JobState.FAILED), code

    def _cancel(self, tasks: list[Task]) -> None:
        for t in tasks:
            pid = self._attached.get(t.job_id)
            if pid is not None and _runs_task(pid, t.job_id):
                try:
                    os.killpg(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for t in tasks:
            if self._queued.pop(t.job_id, None) is not None:
                t.state = JobState.CANCELLED
                continue
            proc = self._procs.get(t.job_id)
            if proc is not None and proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for t in tasks:
            proc = self._procs.get(t.job_id)
            if proc is None:
                continue
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._update(tasks)


def _runs_task(pid: int, job_id: str) -> bool:
    """Whether process `pid` is alive and is the task `job_id` (not a reused pid)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            environ = f.read()
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != b"Z" and f"SEQRAY_JOB_KEY={job_id}".encode() in environ.split(b"\0")
