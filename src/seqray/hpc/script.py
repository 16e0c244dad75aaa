"""Batch scripts built from argument lists, with every value quoted by `shlex.quote`.

No user value is ever pasted into shell text unquoted: the command of each task becomes one
`set -- 'arg' 'arg' ...` line (each argument single-quoted by `shlex.quote`, which also
carries spaces, quotes, `$`, backticks and newlines through unchanged), and the script runs
`"$@"`. Scheduler options are not written as `#SBATCH` lines but passed to `sbatch` as
arguments, so they never go through a shell either.

The script runs the command as a child, then writes the command's exit status to
`<log_dir>/<name>.<key>.exit` (write then rename) and exits with it. That file is how an
executor learns the exit code when the scheduler has forgotten the job (Slurm without an
accounting database keeps a finished job for `MinJobAge` seconds only). `<key>` is the
task's scheduler id: `$SLURM_ARRAY_JOB_ID_$SLURM_ARRAY_TASK_ID` in a Slurm array,
`$SLURM_JOB_ID` for a plain Slurm job, `$SEQRAY_JOB_KEY` when the local executor runs it.
The task index comes from `$SEQRAY_TASK_INDEX` (a retried array task, the local executor),
else `$SLURM_ARRAY_TASK_ID`, else 0.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from .jobs import JobSpec

EXIT_NO_TASK = 98  # the script was asked for a task index it does not have
EXIT_NO_WORKDIR = 97  # the working directory could not be entered


def _set_line(argv: tuple[str, ...]) -> str:
    return "set -- " + " ".join(shlex.quote(a) for a in argv)


def render(spec: JobSpec) -> str:
    """The bash batch script of `spec` (all tasks of an array in one script)."""
    q = shlex.quote
    log_dir = os.path.abspath(spec.log_dir)
    lines = [
        "#!/bin/bash",
        "# written by seqray.hpc: every argument below is quoted with shlex.quote",
        "set -u",
    ]
    if spec.workdir is not None:
        lines.append(f"cd -- {q(os.path.abspath(spec.workdir))} || exit {EXIT_NO_WORKDIR}")
    for key, value in spec.env.items():
        lines.append(f"export {key}={q(value)}")  # key validated by JobSpec
    if spec.preamble:
        lines += ["# preamble", spec.preamble.rstrip("\n")]
    lines += [
        'index="${SEQRAY_TASK_INDEX:-${SLURM_ARRAY_TASK_ID:-0}}"',
        'if [ -n "${SEQRAY_JOB_KEY:-}" ]; then key="$SEQRAY_JOB_KEY"',
        'elif [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then '
        'key="${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"',
        'else key="${SLURM_JOB_ID:-0}"; fi',
        'case "$index" in',
    ]
    for i in range(spec.size):
        lines.append(f"  {i}) {_set_line(spec.task_argv(i))} ;;")
    lines += [
        f'  *) echo "seqray: this job has no task $index" >&2; exit {EXIT_NO_TASK} ;;',
        "esac",
        '"$@"',
        "rc=$?",
        f'exit_file={q(log_dir + "/" + spec.name + ".")}"$key".exit',
        'printf \'%s\\n\' "$rc" > "$exit_file.tmp" && mv -f -- "$exit_file.tmp" "$exit_file"',
        'exit "$rc"',
        "",
    ]
    return "\n".join(lines)


def write(spec: JobSpec, path: str | Path) -> Path:
    """Writes the script of `spec` to `path` (write then rename), executable; returns it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(spec))
    tmp.chmod(0o755)
    os.replace(tmp, path)
    return path


def log_paths(spec: JobSpec, key: str) -> tuple[str, str, str]:
    """(stdout, stderr, exit file) of the task whose key is `key`."""
    base = os.path.join(os.path.abspath(spec.log_dir), f"{spec.name}.{key}")
    return base + ".out", base + ".err", base + ".exit"


def read_exit_file(path: str) -> int | None:
    """The exit status the script recorded, or None when it has not written one."""
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    try:
        return int(text)
    except ValueError:
        return None
