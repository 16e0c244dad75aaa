"""Running jobs outside Ray: local subprocesses or Slurm, from argument lists.

`JobSpec` says what to run (an argv, resources, optional array items); an executor
(`LocalExecutor`, `SlurmExecutor`) submits it, polls, cancels, retries and returns one
`JobResult` per task. See docs/hpc.md.
"""

from .base import Executor, RetryPolicy, Submission, Task
from .jobs import (
    JobFailedError,
    JobResult,
    JobSpec,
    JobState,
    JobTimeoutError,
    Resources,
)
from .local import LocalExecutor
from .slurm import SlurmError, SlurmExecutor

__all__ = [
    "Executor",
    "JobFailedError",
    "JobResult",
    "JobSpec",
    "JobState",
    "JobTimeoutError",
    "LocalExecutor",
    "Resources",
    "RetryPolicy",
    "SlurmError",
    "SlurmExecutor",
    "Submission",
    "Task",
]
