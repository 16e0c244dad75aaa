"""GROMACS as one job: stage the inputs, run `gmx grompp` + `gmx mdrun`, collect the results.

`run_gromacs(executor, mdp, conf, top, job_dir)` does the three steps on either executor:

1. `stage` copies the run parameters (.mdp), the structure (.gro/.pdb), the topology (.top)
   and every file the topology `#include`s from beside it (`posre.itp`, a local `*.ff/`
   directory, recursively) into a new job directory, so the job reads nothing from where
   the inputs were made and the directory says exactly what ran. Includes that are not
   beside the topology (the force fields GROMACS ships) are left to `gmx`'s own search.
   With `steps`, the staged .mdp's `nsteps` is set (not mdrun's deprecated `-nsteps`).
2. The job is `templates.gromacs` (grompp, then mdrun -deffnm) in the job directory, its
   logs in `<job_dir>/logs`; a failure raises `JobFailedError` with grompp's or mdrun's
   stderr tail.
3. `collect` lists every file the job wrote with its size and sha256 and reads the energies
   from mdrun's log (`read_log`: the last step's and the averaged terms, the step count),
   then writes `<job_dir>/manifest.json`, a seqray manifest (`reports.gromacs`).

The energies come from the .log rather than from `gmx energy` on the .edr, so collecting
needs no GROMACS on the submitting machine; the tests compare them with `gmx energy`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, OutputError, SeqrayError
from ..io.writers import WrittenFile, write_file
from ..pipeline.manifest import MANIFEST, file_sha256, write_manifest
from . import templates
from .base import Executor
from .jobs import JobResult, JobSpec, Resources

LOG_DIR = "logs"
# what grompp and mdrun -deffnm write into the job directory
OUTPUT_SUFFIXES = (".tpr", ".edr", ".log", ".gro", ".xtc", ".trr", ".cpt")
GROMPP_OUT = "mdout.mdp"

_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)
_NSTEPS = re.compile(r"^[ \t]*nsteps[ \t]*=.*$", re.MULTILINE)


@dataclass(frozen=True)
class StagedFile:
    """One input copied into the job directory: where from, its name there, its digest."""

    source: str
    name: str  # relative to the job directory
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Staged:
    """A job directory holding the inputs of one grompp + mdrun run."""

    job_dir: str
    mdp: str  # the names grompp is given, relative to job_dir
    conf: str
    top: str
    files: tuple[StagedFile, ...]
    deffnm: str = "md"


@dataclass(frozen=True)
class Energies:
    """What mdrun's log says about the run: the energy terms (GROMACS's names, kJ/mol,
    K, bar) at the last step and averaged over the run, and how far it got."""

    step: int  # the last step written
    time_ps: float
    steps: int  # steps done: step - init-step
    nsteps: int | None  # steps asked for (-1: no limit)
    atoms: int | None
    frames: int | None  # energy frames the averages are over
    final: dict[str, float] = field(default_factory=dict)
    average: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class GromacsResult:
    """A finished run: its job, what it wrote, the energies and the manifest's path."""

    job_dir: str
    manifest: str
    job: JobResult
    energies: Energies
    files: tuple[WrittenFile, ...]

    def file(self, suffix: str) -> WrittenFile | None:
        """The output whose name ends with `suffix` (".edr", ".xtc"), if written."""
        return next((f for f in self.files if f.uri.endswith(suffix)), None)


# ---- staging ----
def _includes(top: Path) -> list[Path]:
    """The files `top` includes that lie beside it (in its directory or below), followed
    recursively; each include is resolved against the including file's directory, as
    grompp's preprocessor does."""
    root = top.parent.resolve()
    found: list[Path] = []
    todo = [top.resolve()]
    while todo:
        current = todo.pop()
        for name in _INCLUDE.findall(current.read_text(errors="replace")):
            if os.path.isabs(name):
                continue  # read where it is
            path = (current.parent / name).resolve()
            if not path.is_file():
                continue  # a force field from GROMACS's library, found by gmx
            if not path.is_relative_to(root):
                raise InputError(
                    f"{current}: #include {name!r} lies outside {root}; put it beside the "
                    "topology or include it by absolute path"
                )
            if path not in found:
                found.append(path)
                todo.append(path)
    return found


def _set_nsteps(text: str, steps: int) -> str:
    line = f"nsteps = {steps}"
    if _NSTEPS.search(text):
        return _NSTEPS.sub(line, text)
    return text + ("" if text.endswith("\n") or not text else "\n") + line + "\n"


def _check_job_dir(job_dir: Path) -> None:
    """A new or empty directory: seqray never writes among files it did not write."""
    if job_dir.exists() and not job_dir.is_dir():
        raise OutputError(f"{job_dir}: exists and is not a directory")
    if job_dir.is_dir() and any(job_dir.iterdir()):
        raise OutputError(f"{job_dir}: is not empty; give a new or empty job directory")


def stage(
    job_dir: str | os.PathLike[str],
    mdp: str | os.PathLike[str],
    conf: str | os.PathLike[str],
    top: str | os.PathLike[str],
    *,
    deffnm: str = "md",
    steps: int | None = None,
) -> Staged:
    """Copies the inputs into the new (or empty) `job_dir`: mdp, structure and topology
    under their own names, the topology's local includes at their paths relative to it.
    `steps` sets the staged mdp's `nsteps`."""
    out = Path(job_dir).absolute()
    _check_job_dir(out)
    if not deffnm or "/" in deffnm or deffnm.startswith("-"):
        raise SeqrayError(f"deffnm {deffnm!r}: give a plain file name stem")
    if steps is not None and steps < 0:
        raise SeqrayError(f"steps must be >= 0, not {steps}")
    paths = {"mdp": Path(mdp), "conf": Path(conf), "top": Path(top)}
    for role, path in paths.items():
        if not path.is_file():
            raise InputError(f"{path}: no such file (the {role} input)")
    top_dir = paths["top"].resolve().parent
    plan: dict[str, Path] = {}  # name in the job directory -> source
    for path in paths.values():
        _plan(plan, path.name, path.resolve())
    for path in _includes(paths["top"]):
        _plan(plan, path.relative_to(top_dir).as_posix(), path)
    _check_names(plan, paths, deffnm)
    files = []
    for name, source in plan.items():
        data = source.read_bytes()
        size, checksum = len(data), hashlib.sha256(data).hexdigest()
        if source == paths["mdp"].resolve() and steps is not None:
            data = _set_nsteps(data.decode(), steps).encode()
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        write_file(str(out / name), data)
        files.append(StagedFile(str(source), name, size, checksum))
    names = {role: path.name for role, path in paths.items()}
    return Staged(str(out), names["mdp"], names["conf"], names["top"], tuple(files), deffnm)


def _plan(plan: dict[str, Path], name: str, source: Path) -> None:
    """Adds `source` under `name`: two different inputs may not share a name."""
    if plan.setdefault(name, source) != source:
        raise InputError(f"{source} and {plan[name]} would both be staged as {name!r}")


def _check_names(plan: Mapping[str, Path], paths: Mapping[str, Path], deffnm: str) -> None:
    """No input may carry a name the job writes, or one that reads as an option."""
    for path in paths.values():
        if path.name.startswith("-"):
            raise InputError(f"{path}: a name starting with '-' would read as an option")
    reserved = {deffnm + s for s in OUTPUT_SUFFIXES} | {GROMPP_OUT, MANIFEST, LOG_DIR}
    for name, source in plan.items():
        if name.split("/")[0] in reserved:
            raise InputError(
                f"{source}: its staged name {name!r} is one the job writes "
                f"(deffnm {deffnm!r}); rename it or choose another deffnm"
            )


def job_spec(
    staged: Staged,
    *,
    gmx: str = "gmx",
    ntomp: int = 1,
    mdrun_args: Sequence[str] = (),
    name: str = "gromacs",
    resources: Resources | None = None,
    env: Mapping[str, str] | None = None,
    preamble: str = "",
) -> JobSpec:
    """The grompp + mdrun job of `staged`, run in its job directory (by default asking
    the scheduler for `ntomp` CPUs)."""
    argv = templates.gromacs(
        staged.mdp,
        staged.conf,
        staged.top,
        staged.deffnm,
        gmx=gmx,
        ntomp=ntomp,
        mdrun_args=mdrun_args,
    )
    return JobSpec(
        argv=tuple(argv),
        log_dir=os.path.join(staged.job_dir, LOG_DIR),
        name=name,
        workdir=staged.job_dir,
        env=dict(env or {}),
        resources=resources or Resources(cpus_per_task=ntomp),
        preamble=preamble,
    )


# ---- reading mdrun's log ----
_STEP_HEADER = re.compile(r"^\s+Step\s+Time\s*$")
_PARAM = re.compile(r"^\s+(nsteps|init-step)\s+=\s+(-?\d+)\s*$")
_ATOMS = re.compile(r"^There are:\s+(\d+)\s+Atoms")
_FRAMES = re.compile(r"^\s*Statistics over \d+ steps using (\d+) frames")
_WIDTH = 15  # mdrun prints each energy term's name and value in 15 columns


def _energy_block(lines: list[str], i: int, path: str) -> tuple[dict[str, float], int]:
    """The terms of the energy block whose first names line is `lines[i]`: pairs of a
    names line and a values line, up to a blank line. Returns them and the next index."""
    terms: dict[str, float] = {}
    while i + 1 < len(lines) and lines[i].strip():
        names_line, values = lines[i], lines[i + 1].split()
        names = [names_line[k : k + _WIDTH].strip() for k in range(0, len(names_line), _WIDTH)]
        names = [n for n in names if n]
        if len(names) != len(values):
            raise SeqrayError(
                f"{path}, line {i + 1}: {len(names)} energy names but {len(values)} values"
            )
        try:
            terms.update(zip(names, map(float, values)))
        except ValueError:
            raise SeqrayError(
                f"{path}, line {i + 2}: not energy values: {lines[i + 1]!r}"
            ) from None
        i += 2
    return terms, i


def read_log(path: str | os.PathLike[str]) -> Energies:
    """The energies of an mdrun log: the terms of the last step's block and of the
    averages block, the last step and time, nsteps and init-step from the parameters."""
    where = str(path)
    lines = Path(path).read_text(errors="replace").splitlines()
    step: int | None = None
    time_ps = 0.0
    params: dict[str, int] = {}
    atoms = frames = None
    final: dict[str, float] = {}
    average: dict[str, float] = {}
    averages = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if m := _PARAM.match(line):
            params[m.group(1)] = int(m.group(2))
        elif m := _ATOMS.match(line):
            atoms = int(m.group(1))
        elif m := _FRAMES.match(line):
            frames = int(m.group(1))
        elif _STEP_HEADER.match(line) and i + 1 < len(lines):
            parts = lines[i + 1].split()
            step, time_ps = int(parts[0]), float(parts[1])
        elif "A V E R A G E S" in line:
            averages = True
        elif line.strip() == "Energies (kJ/mol)":
            terms, i = _energy_block(lines, i + 1, where)
            if averages:
                average = terms
            else:
                final = terms
            continue
        i += 1
    if step is None or not final:
        raise SeqrayError(f"{where}: no energies in this mdrun log (did mdrun run?)")
    steps = step - params.get("init-step", 0)
    return Energies(step, time_ps, steps, params.get("nsteps"), atoms, frames, final, average)


# ---- collecting ----
def outputs(staged: Staged) -> list[WrittenFile]:
    """Every file in the job directory that the job wrote (not the staged inputs, the
    job's logs or the manifest), with its size and sha256, by name."""
    root = Path(staged.job_dir)
    skip = {f.name for f in staged.files} | {MANIFEST}
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and rel not in skip and rel.split("/")[0] != LOG_DIR:
            size, sha = file_sha256(str(path))
            found.append(WrittenFile(str(path), 0, size, sha))
    return found


def _finite(terms: Mapping[str, float]) -> dict[str, float | None]:
    """JSON has no NaN or infinity: such a value is recorded as null."""
    return {k: (v if math.isfinite(v) else None) for k, v in terms.items()}


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def collect(
    staged: Staged,
    job: JobResult,
    config: Mapping[str, Any],
    started: float,
    ended: float,
) -> GromacsResult:
    """Reads the finished job's outputs and energies and writes the job directory's
    manifest (last, so its presence marks the run complete)."""
    energies = read_log(os.path.join(staged.job_dir, staged.deffnm + ".log"))
    files = outputs(staged)
    report = {
        "job": {
            "id": job.job_id,
            "state": job.state.value,
            "exit_code": job.exit_code,
            "attempts": job.attempts,
            "stdout": job.stdout,
            "stderr": job.stderr,
            "submitted": _stamp(started),
            "finished": _stamp(ended),
            "seconds": round(ended - started, 3),
        },
        "step": energies.step,
        "time_ps": energies.time_ps,
        "steps": energies.steps,
        "nsteps": energies.nsteps,
        "atoms": energies.atoms,
        "energy_frames": energies.frames,
        "final": _finite(energies.final),
        "average": _finite(energies.average),
        "staged": [{"uri": f.name, "source": f.source} for f in staged.files],
    }
    cfg = {"engine": "gromacs", **config}
    body = {
        "config": cfg,
        "config_hash": hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest(),
        "inputs": [
            {
                "uri": f.source,
                "size": f.bytes,
                "format": Path(f.name).suffix[1:] or None,
                "checksum": f.sha256,
            }
            for f in staged.files
        ],
        "chunks": [],
        "shards": [],
        "files": [f.to_json() for f in files],
        "rejects": [],
        "stages": {
            "gromacs": {
                "takes": "system",
                "gives": "trajectory",
                "rows_in": energies.atoms or 0,
                "rows_out": energies.atoms or 0,
                "seconds": round(ended - started, 3),
            }
        },
        "reports": {"gromacs": report},
        "reads": {"in": 0, "out": 0},
    }
    manifest = write_manifest(staged.job_dir, body)
    return GromacsResult(staged.job_dir, manifest, job, energies, tuple(files))


def run_gromacs(
    executor: Executor,
    mdp: str | os.PathLike[str],
    conf: str | os.PathLike[str],
    top: str | os.PathLike[str],
    job_dir: str | os.PathLike[str],
    *,
    steps: int | None = None,
    deffnm: str = "md",
    gmx: str = "gmx",
    ntomp: int = 1,
    mdrun_args: Sequence[str] = (),
    name: str = "gromacs",
    resources: Resources | None = None,
    env: Mapping[str, str] | None = None,
    preamble: str = "",
    timeout: float | None = None,
) -> GromacsResult:
    """Stages the inputs into `job_dir`, runs grompp + mdrun there as one job on
    `executor` and collects the result (raises JobFailedError, with the job id and the
    log tail, when the job fails; JobTimeoutError past `timeout` seconds)."""
    staged = stage(job_dir, mdp, conf, top, deffnm=deffnm, steps=steps)
    spec = job_spec(
        staged,
        gmx=gmx,
        ntomp=ntomp,
        mdrun_args=mdrun_args,
        name=name,
        resources=resources,
        env=env,
        preamble=preamble,
    )
    started = time.time()
    (job,) = executor.run(spec, timeout=timeout)
    config = {
        "mdp": str(mdp),
        "conf": str(conf),
        "top": str(top),
        "deffnm": deffnm,
        "steps": steps,
        "gmx": gmx,
        "ntomp": ntomp,
        "mdrun_args": list(mdrun_args),
    }
    return collect(staged, job, config, started, time.time())
