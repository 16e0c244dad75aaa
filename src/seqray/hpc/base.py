"""What both executors share: submission handles, retries with backoff, the wait loop.

An executor implements three primitives — submit a spec (all tasks, or one task again),
poll many tasks at once, cancel tasks — and `Executor` builds on them: `submit`, `poll`,
`cancel`, `wait` (polls every unfinished task in one call per round, backing off between
rounds while nothing changes, resubmits retryable failures after a growing delay) and `run`
(submit + wait + raise `JobFailedError` naming job id, state, exit code and log tail).

Executors hold no global state: one instance tracks the jobs it submitted, and specs,
policies and results are plain frozen values that pickle into a Ray task.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .jobs import JobFailedError, JobResult, JobSpec, JobState, JobTimeoutError, tail
from .script import read_exit_file

DEFAULT_RETRY_STATES = frozenset({JobState.NODE_FAIL, JobState.PREEMPTED})


@dataclass(frozen=True)
class RetryPolicy:
    """When a finished task is submitted again, and after how long.

    A task is retried while it has had fewer than `max_attempts` attempts and it ended in
    one of `retry_states` (by default node failure and preemption) or exited with one of
    `retry_exit_codes`. Attempt n+1 is submitted `backoff_s * backoff_factor**(n-1)`
    seconds (at most `max_backoff_s`) after attempt n ended.
    """

    max_attempts: int = 1
    retry_states: frozenset[JobState] = DEFAULT_RETRY_STATES
    retry_exit_codes: frozenset[int] = frozenset()
    backoff_s: float = 1.0
    backoff_factor: float = 2.0
    max_backoff_s: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, not {self.max_attempts}")
        object.__setattr__(self, "retry_states", frozenset(self.retry_states))
        object.__setattr__(self, "retry_exit_codes", frozenset(self.retry_exit_codes))

    def should_retry(self, state: JobState, exit_code: int | None, attempt: int) -> bool:
        if attempt >= self.max_attempts or state is JobState.COMPLETED and exit_code == 0:
            return False
        if state is JobState.CANCELLED:
            return False
        return state in self.retry_states or (
            exit_code is not None and exit_code != 0 and exit_code in self.retry_exit_codes
        )

    def delay(self, attempt: int) -> float:
        return min(self.max_backoff_s, self.backoff_s * self.backoff_factor ** (attempt - 1))


@dataclass
class Task:
    """One task of a submission, as the executor sees it now (mutated as it advances)."""

    spec: JobSpec
    index: int
    job_id: str  # the scheduler's id of the current attempt
    stdout: str
    stderr: str
    exit_file: str
    attempt: int = 1
    state: JobState = JobState.PENDING
    exit_code: int | None = None
    history: list[str] = field(default_factory=list)
    resubmit_at: float | None = None  # set while waiting to be submitted again
    cancelled: bool = False

    @property
    def settled(self) -> bool:
        """Finished, and not waiting for another attempt."""
        return self.state.finished and self.resubmit_at is None

    def result(self, tail_lines: int = 20) -> JobResult:
        log = ""
        if not (self.state is JobState.COMPLETED and self.exit_code == 0):
            err, out = tail(self.stderr, tail_lines), tail(self.stdout, tail_lines)
            if err:
                log += f"[stderr {self.stderr}]\n{err}"
            if out:
                log += f"[stdout {self.stdout}]\n{out}"
        return JobResult(
            job_id=self.job_id,
            index=self.index,
            state=self.state,
            exit_code=self.exit_code,
            stdout=self.stdout,
            stderr=self.stderr,
            attempts=self.attempt,
            log_tail=log,
            history=tuple(self.history),
        )


@dataclass
class Submission:
    """What `submit` returns: the spec and its tasks (one per array index)."""

    spec: JobSpec
    tasks: list[Task]

    @property
    def job_ids(self) -> list[str]:
        return [t.job_id for t in self.tasks]

    @property
    def done(self) -> bool:
        return all(t.settled for t in self.tasks)


class Executor(ABC):
    """Submit, poll, cancel and wait for jobs; subclasses talk to the scheduler."""

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        poll_interval: float = 0.2,
        max_poll_interval: float = 5.0,
        poll_backoff: float = 1.5,
    ):
        self.retry = retry or RetryPolicy()
        # called when a task's job id changes (a retry; a queued local task starting), so
        # a caller can keep its record of the jobs current
        self.on_change: Callable[[], None] | None = None
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.poll_backoff = poll_backoff

    # ---- what a scheduler implements ----
    @abstractmethod
    def _submit(self, spec: JobSpec, index: int | None) -> list[Task]:
        """Submits every task of `spec` (index None) or task `index` alone."""

    @abstractmethod
    def _poll(self, tasks: list[Task]) -> dict[str, tuple[JobState, int | None]]:
        """State and scheduler exit code of each task by job id, in as few calls as possible
        (a task missing from the answer is left as it was)."""

    @abstractmethod
    def _cancel(self, tasks: list[Task]) -> None:
        """Asks the scheduler to cancel the tasks."""

    # ---- the shared interface ----
    def submit(self, spec: JobSpec) -> Submission:
        return Submission(spec, self._submit(spec, None))

    def poll(self, submission: Submission) -> list[JobState]:
        """Updates every unfinished task (one scheduler query) and returns the states."""
        self._update([t for t in submission.tasks if not t.state.finished])
        return [t.state for t in submission.tasks]

    def cancel(self, submission: Submission) -> None:
        live = [t for t in submission.tasks if not t.state.finished]
        for t in submission.tasks:
            t.cancelled = True
            if t.resubmit_at is not None:
                t.resubmit_at = None
        if live:
            self._cancel(live)

    def wait(self, submission: Submission, timeout: float | None = None) -> list[JobResult]:
        """Waits until every task has settled, retrying as the policy says; returns one
        result per task. Past `timeout` seconds, cancels what is left and raises
        JobTimeoutError."""
        return self.wait_all([submission], timeout)[0]

    def wait_all(
        self, submissions: Sequence[Submission], timeout: float | None = None
    ) -> list[list[JobResult]]:
        """`wait` for several submissions at once: each round polls the unfinished tasks
        of all of them in one scheduler query."""
        tasks = [t for s in submissions for t in s.tasks]
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = self.poll_interval
        while True:
            now = time.monotonic()
            for t in tasks:
                if t.resubmit_at is not None and t.resubmit_at <= now and not t.cancelled:
                    self._resubmit(t)
            changed = self._update([t for t in tasks if not t.state.finished])
            now = time.monotonic()
            for t in tasks:
                if t.state.finished and t.resubmit_at is None and not t.cancelled:
                    if self.retry.should_retry(t.state, t.exit_code, t.attempt):
                        t.history.append(f"{t.job_id} {t.state.value} exit {t.exit_code}")
                        t.resubmit_at = now + self.retry.delay(t.attempt)
                        changed = True
            if all(t.settled for t in tasks):
                return [[t.result() for t in s.tasks] for s in submissions]
            if deadline is not None and now >= deadline:
                for s in submissions:
                    self.cancel(s)
                states = ", ".join(f"{t.job_id} {t.state.value}" for t in tasks)
                raise JobTimeoutError(f"jobs not finished after {timeout:g} s, cancelled: {states}")
            interval = (
                self.poll_interval
                if changed
                else min(self.max_poll_interval, interval * self.poll_backoff)
            )
            sleep = interval
            waits = [t.resubmit_at - now for t in tasks if t.resubmit_at is not None]
            if waits:
                sleep = min(sleep, max(0.0, min(waits)))
            if deadline is not None:
                sleep = min(sleep, max(0.0, deadline - now))
            time.sleep(sleep)

    def run(
        self, spec: JobSpec, timeout: float | None = None, check: bool = True
    ) -> list[JobResult]:
        """Submits `spec`, waits, and (with `check`) raises JobFailedError if any task
        did not complete with exit code 0."""
        submission = self.submit(spec)
        results = self.wait(submission, timeout)
        failed = [r for r in results if not r.ok]
        if check and failed:
            raise JobFailedError(failed)
        return results

    # ---- helpers ----
    def _update(self, tasks: list[Task]) -> bool:
        if not tasks:
            return False
        answer = self._poll(tasks)
        changed = False
        for t in tasks:
            if t.job_id not in answer:
                continue
            state, code = answer[t.job_id]
            if state.finished:
                # the script's own record of the command's exit status wins
                recorded = read_exit_file(t.exit_file)
                code = recorded if recorded is not None else code
            if (state, code) != (t.state, t.exit_code):
                t.state, t.exit_code = state, code
                changed = True
        return changed

    def _resubmit(self, t: Task) -> None:
        (new,) = self._submit(t.spec, t.index)
        t.job_id, t.stdout, t.stderr = new.job_id, new.stdout, new.stderr
        t.exit_file = new.exit_file
        t.attempt += 1
        t.state, t.exit_code, t.resubmit_at = JobState.PENDING, None, None
        if self.on_change is not None:
            self.on_change()
