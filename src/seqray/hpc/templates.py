"""Job templates: commands as argument lists, and Jinja2 script preambles that quote values.

Three builders return the argv of a `JobSpec`:

- `user_command("tool --in {shard_uri} -o {out}/x.npy", out="/scratch/run 1")`: the
  template is split with `shlex.split` *first*, so its author fixes the argument structure,
  then each `{name}` is replaced inside its argument; a value never becomes more than the
  argument it sits in, whatever spaces, quotes or `$` it holds. Placeholders given no value
  are left for the job array (`JobSpec.items`, one value per task).
- `mpi_solver("pca", [...], ranks=2, launcher="mpirun"|"srun")`: `python -m
  seqray.solvers.<name>` under `mpirun -np N` (with `--allow-run-as-root --oversubscribe`
  when asked, as CI runs) or `srun --ntasks=N`.
- `gromacs(...)`: `gmx grompp` then `gmx mdrun` on staged inputs. The shell text is a
  constant written here; the file names reach it as positional arguments ("$1"...), never
  inside the text.

`render_preamble(template, **values)` renders a Jinja2 template of lines that go before the
command in the batch script (`module load`, environment set-up) with every `{{ value }}`
shell-quoted by `shlex.quote` (Jinja2's `finalize`), unless the value is wrapped in `Raw`
(trusted text chosen by the template's author). Jinja2 is imported only here (pip extra
`hpc`).
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import SeqrayError

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Raw(str):
    """Text a preamble template inserts as it is (not quoted): only for trusted values."""


def placeholders(argv: Sequence[str]) -> set[str]:
    """The `{name}` placeholders the arguments hold."""
    return {m for a in argv for m in _PLACEHOLDER.findall(a)}


def fill(argv: Sequence[str], values: Mapping[str, object]) -> list[str]:
    """`argv` with each `{name}` that `values` has replaced by its text (others kept)."""

    def one(arg: str) -> str:
        return _PLACEHOLDER.sub(
            lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), arg
        )

    return [one(a) for a in argv]


def user_command(template: str | Sequence[str], **values: object) -> list[str]:
    """The argv of a user command template (a command line or an argument list) with
    the placeholders that `values` gives filled in, each within its own argument."""
    if isinstance(template, str):
        try:
            argv = shlex.split(template)
        except ValueError as exc:
            raise SeqrayError(f"command template {template!r}: {exc}") from exc
    else:
        argv = [str(a) for a in template]
    if not argv:
        raise SeqrayError("the command template is empty")
    unknown = set(values) - placeholders(argv)
    if unknown:
        raise SeqrayError(
            f"command template has no placeholder {', '.join(sorted(unknown))} "
            f"(it has: {', '.join(sorted(placeholders(argv))) or 'none'})"
        )
    return fill(argv, values)


def mpi_solver(
    solver: str,
    args: Sequence[str] = (),
    *,
    ranks: int = 1,
    launcher: str = "mpirun",
    python: str = sys.executable,
    allow_run_as_root: bool = False,
    oversubscribe: bool = False,
    launcher_args: Sequence[str] = (),
) -> list[str]:
    """The argv of `python -m seqray.solvers.<solver> ARGS` on `ranks` MPI ranks."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", solver):
        raise SeqrayError(f"solver name {solver!r} is not valid")
    if ranks < 1:
        raise SeqrayError(f"ranks must be >= 1, not {ranks}")
    if launcher == "mpirun":
        head = ["mpirun", "-np", str(ranks)]
        if allow_run_as_root:
            head.append("--allow-run-as-root")
        if oversubscribe:
            head.append("--oversubscribe")
    elif launcher == "srun":
        head = ["srun", f"--ntasks={ranks}"]
    else:
        raise SeqrayError(f"launcher must be mpirun or srun, not {launcher!r}")
    return [*head, *launcher_args, python, "-m", f"seqray.solvers.{solver}", *map(str, args)]


# grompp then mdrun; the files come as "$@", never inside this text
_GROMACS_SCRIPT = (
    'gmx="$1"; mdp="$2"; conf="$3"; top="$4"; deffnm="$5"; ntomp="$6"; shift 6\n'
    '"$gmx" grompp -f "$mdp" -c "$conf" -p "$top" -o "$deffnm.tpr" -maxwarn 1 || exit $?\n'
    'exec "$gmx" mdrun -deffnm "$deffnm" -ntomp "$ntomp" "$@"\n'
)


def gromacs(
    mdp: str,
    conf: str,
    top: str,
    deffnm: str = "md",
    *,
    gmx: str = "gmx",
    ntomp: int = 1,
    mdrun_args: Sequence[str] = (),
) -> list[str]:
    """The argv of `gmx grompp` (mdp, structure, topology → DEFFNM.tpr) followed by `gmx
    mdrun -deffnm DEFFNM` (energies DEFFNM.edr, trajectory DEFFNM.xtc/.trr, log DEFFNM.log)
    in the job's working directory."""
    args = [gmx, mdp, conf, top, deffnm, str(ntomp), *map(str, mdrun_args)]
    return ["bash", "-c", _GROMACS_SCRIPT, "seqray-gromacs", *args]


def _quote(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(shlex.quote(str(v)) for v in value)
    return shlex.quote(str(value))


def render_preamble(template: str, **values: Any) -> str:
    """Renders a Jinja2 template of batch-script lines; every `{{ expr }}` is shell-quoted
    (a list becomes quoted words), except `Raw` values. Undefined names are errors."""
    try:
        import jinja2
    except ImportError as exc:  # pragma: no cover - the hpc extra installs it
        raise SeqrayError("job templates need jinja2 (pip install 'seqray[hpc]')") from exc
    env = jinja2.Environment(
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        finalize=_quote,
        keep_trailing_newline=True,
    )
    env.filters["raw"] = Raw
    try:
        return env.from_string(template).render(**values)
    except jinja2.TemplateError as exc:
        raise SeqrayError(f"job template: {exc}") from exc
