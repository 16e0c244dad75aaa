"""What a job is (JobSpec), where it stands (JobState) and how it ended (JobResult).

Everything here is a frozen dataclass of plain values, so a spec pickles into a Ray task and
two executors (local subprocesses, Slurm) take the same spec. A job's command is an argument
list, never a shell string: the batch script quotes every argument (see `script.py`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SeqrayError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLACEHOLDER_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class JobState(str, enum.Enum):
    """A task's state, the same for both executors (Slurm's states mapped onto these)."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    NODE_FAIL = "NODE_FAIL"
    PREEMPTED = "PREEMPTED"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    LOST = "LOST"  # the scheduler no longer knows the job and it left no exit-code file

    @property
    def finished(self) -> bool:
        return self not in (JobState.PENDING, JobState.RUNNING)


@dataclass(frozen=True)
class Resources:
    """What a job asks the scheduler for; the local executor ignores all but nothing."""

    cpus_per_task: int = 1
    mem: str | None = None  # Slurm syntax: "500M", "4G"
    time: str | None = None  # Slurm syntax: "00:10:00", "1-00:00:00"
    nodes: int | None = None
    ntasks: int | None = None
    partition: str | None = None
    extra: tuple[str, ...] = ()  # further sbatch options, each one argument ("--qos=low")

    def __post_init__(self) -> None:
        if self.cpus_per_task < 1:
            raise SeqrayError(f"cpus_per_task must be >= 1, not {self.cpus_per_task}")
        for name in ("nodes", "ntasks"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SeqrayError(f"{name} must be >= 1, not {value}")
        for name in ("mem", "time", "partition"):
            value = getattr(self, name)
            if value is not None and not re.fullmatch(r"[A-Za-z0-9:._-]+", value):
                raise SeqrayError(f"resource {name}={value!r}: unexpected characters")
        object.__setattr__(self, "extra", tuple(str(a) for a in self.extra))


@dataclass(frozen=True)
class JobSpec:
    """One job, or a job array of `len(items)` tasks (or `array` tasks).

    `argv` is the command as a list of arguments. In an array, `{index}` in an argument is
    replaced by the task's index and `{key}` by `items[index][key]` (plain text replacement
    of exactly these tokens; other braces are left alone), so task i runs its own argv.
    `log_dir` receives `<name>.<jobkey>.out|.err|.exit` per task. `preamble` is script text
    written as it is before the command (`module load ...`): render it with
    `templates.render_preamble`, which quotes every value.
    """

    argv: tuple[str, ...]
    log_dir: str
    name: str = "seqray"
    workdir: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)
    items: tuple[Mapping[str, str], ...] = ()
    array: int | None = None
    preamble: str = ""  # trusted script lines run before the command (templates.py)

    def __post_init__(self) -> None:
        argv = tuple(str(a) for a in self.argv)
        if not argv or not argv[0]:
            raise SeqrayError("a job needs a command: argv is empty")
        object.__setattr__(self, "argv", argv)
        object.__setattr__(self, "log_dir", str(self.log_dir))
        if self.workdir is not None:
            object.__setattr__(self, "workdir", str(self.workdir))
        if not _NAME.match(self.name):
            raise SeqrayError(f"job name {self.name!r}: use 1-64 letters, digits, '.', '_' or '-'")
        env = {str(k): str(v) for k, v in dict(self.env).items()}
        for key in env:
            if not _ENV_NAME.match(key):
                raise SeqrayError(f"environment variable name {key!r} is not valid")
        object.__setattr__(self, "env", env)
        items = tuple({str(k): str(v) for k, v in dict(it).items()} for it in self.items)
        for it in items:
            for key in it:
                if not _PLACEHOLDER_KEY.match(key) or key == "index":
                    raise SeqrayError(f"placeholder name {key!r} is not valid")
        object.__setattr__(self, "items", items)
        if self.array is not None:
            if self.array < 1:
                raise SeqrayError(f"array size must be >= 1, not {self.array}")
            if items and len(items) != self.array:
                raise SeqrayError(f"array={self.array} but {len(items)} items")

    @property
    def is_array(self) -> bool:
        return bool(self.items) or self.array is not None

    @property
    def size(self) -> int:
        """Number of tasks: 1 for a plain job."""
        if self.items:
            return len(self.items)
        return self.array if self.array is not None else 1

    def task_argv(self, index: int) -> tuple[str, ...]:
        """The argv task `index` runs (placeholders replaced in an array)."""
        if not self.is_array:
            return self.argv
        if not 0 <= index < self.size:
            raise IndexError(index)
        values = {"index": str(index)}
        if self.items:
            values.update(self.items[index])
        out = []
        for arg in self.argv:
            for key, value in values.items():
                arg = arg.replace("{" + key + "}", value)
            out.append(arg)
        return tuple(out)


@dataclass(frozen=True)
class JobResult:
    """How one task ended (one per array task)."""

    job_id: str  # the scheduler's id of this task: "123", "123_4" (array), "local-1-0"
    index: int
    state: JobState
    exit_code: int | None
    stdout: str
    stderr: str
    attempts: int = 1
    log_tail: str = ""
    history: tuple[str, ...] = ()  # earlier attempts: "job_id state exit_code"

    @property
    def ok(self) -> bool:
        return self.state is JobState.COMPLETED and self.exit_code == 0

    def describe(self) -> str:
        return (
            f"job {self.job_id} (task {self.index}) ended {self.state.value} "
            f"with exit code {self.exit_code}"
        )


class JobFailedError(SeqrayError):
    """One or more tasks did not complete; names each by job id, state, exit code, log tail."""

    def __init__(self, results: list[JobResult]):
        self.results = results
        parts = []
        for r in results:
            text = r.describe()
            if r.attempts > 1:
                text += f" after {r.attempts} attempts ({'; '.join(r.history)})"
            text += f"; stderr {r.stderr}"
            if r.log_tail:
                text += "\n--- log tail ---\n" + r.log_tail.rstrip("\n")
            parts.append(text)
        super().__init__("\n".join(parts))


class JobTimeoutError(SeqrayError):
    """Waiting for jobs took longer than the caller allowed (the jobs were cancelled)."""


def tail(path: str | Path, lines: int = 20, max_bytes: int = 64 * 1024) -> str:
    """The last `lines` lines of a text file ("" when it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:]) + ("\n" if text else "")
