"""Job templates: user commands with placeholders, MPI solver and GROMACS argv, Jinja2
preambles that quote every value; run through the local executor (and Slurm for arrays)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from seqray.errors import SeqrayError
from seqray.hpc import JobSpec, LocalExecutor
from seqray.hpc.templates import Raw, gromacs, mpi_solver, render_preamble, user_command

from .test_executors import ARGV_DUMP, KINDS, TORTURE, make

pytestmark = pytest.mark.timeout(120)

NASTY = "/tmp/dir with 'q' \"dq\" $HOME `id` ;&|\nnl"


def test_user_command_keeps_the_template_structure():
    argv = user_command(
        "tool --in {shard_uri} -o {out}/x.npy --tag={tag}",
        shard_uri=NASTY,
        out="a b",
        tag="$(rm -rf /)",
    )
    assert argv == ["tool", "--in", NASTY, "-o", "a b/x.npy", "--tag=$(rm -rf /)"]
    # placeholders without a value stay for the array items
    assert user_command(["t", "{shard_uri}", "{x}"], x="1") == ["t", "{shard_uri}", "1"]
    with pytest.raises(SeqrayError, match="no placeholder nope"):
        user_command("t {a}", nope="1")
    with pytest.raises(SeqrayError, match="template"):
        user_command("t 'unclosed")


@pytest.mark.parametrize("kind", KINDS)
def test_user_command_array_over_shards(kind, request, tmp_path):
    """A user command over three shard URIs (nasty names) as a job array: each task gets
    its own shard as exactly one argument."""
    shards = [f"s3://bucket/run 1/shard '{i}' $x.parquet" for i in range(3)]
    out = tmp_path / "out dir"
    out.mkdir()
    argv = user_command(
        [sys.executable, "-c", ARGV_DUMP, "{out}/task{index}.json", "{shard_uri}", "--k=$K"],
        out=str(out),
    )
    spec = JobSpec(argv=argv, log_dir=tmp_path / "logs", items=[{"shard_uri": s} for s in shards])
    make(kind, request).run(spec, timeout=60)
    for i, s in enumerate(shards):
        assert json.loads((out / f"task{i}.json").read_text()) == [s, "--k=$K"]


def test_mpi_solver_argv():
    argv = mpi_solver(
        "pca",
        ["in dir", "-o", "out"],
        ranks=4,
        python="py",
        allow_run_as_root=True,
        oversubscribe=True,
    )
    assert argv == [
        "mpirun",
        "-np",
        "4",
        "--allow-run-as-root",
        "--oversubscribe",
        "py",
        "-m",
        "seqray.solvers.pca",
        "in dir",
        "-o",
        "out",
    ]
    argv = mpi_solver("knn", ["x"], ranks=2, launcher="srun", python="py")
    assert argv == ["srun", "--ntasks=2", "py", "-m", "seqray.solvers.knn", "x"]
    for bad in (
        dict(solver="pca; rm"),
        dict(solver="pca", ranks=0),
        dict(solver="pca", launcher="sh"),
    ):
        with pytest.raises(SeqrayError):
            mpi_solver(**bad)  # type: ignore[arg-type]


def test_gromacs_steps_with_a_recording_gmx(tmp_path):
    """grompp then mdrun, in order, each getting the staged file names unmangled (a fake
    `gmx` records its arguments; the real one runs in the GROMACS integration test)."""
    work = tmp_path / "md $run 'one'"
    work.mkdir()
    fake = tmp_path / "gmx"
    fake.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        "open('calls.jsonl', 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    fake.chmod(0o755)
    staged = {n: str(work / f"in `{n}` $x") for n in ("mdp", "conf", "top")}
    argv = gromacs(
        staged["mdp"],
        staged["conf"],
        staged["top"],
        deffnm="md out",
        gmx=str(fake),
        ntomp=2,
        mdrun_args=["-nsteps", "100"],
    )
    LocalExecutor().run(JobSpec(argv=argv, log_dir=tmp_path, workdir=work), timeout=60)
    calls = [json.loads(line) for line in (work / "calls.jsonl").read_text().splitlines()]
    assert calls == [
        [
            "grompp",
            "-f",
            staged["mdp"],
            "-c",
            staged["conf"],
            "-p",
            staged["top"],
            "-o",
            "md out.tpr",
            "-maxwarn",
            "1",
        ],
        ["mdrun", "-deffnm", "md out", "-ntomp", "2", "-nsteps", "100"],
    ]


def test_gromacs_stops_when_grompp_fails(tmp_path):
    fake = tmp_path / "gmx"
    fake.write_text('#!/bin/bash\necho "$1" >> calls; [ "$1" = grompp ] && exit 4; exit 0\n')
    fake.chmod(0o755)
    argv = gromacs("a.mdp", "c.gro", "t.top", gmx=str(fake))
    (r,) = LocalExecutor().run(
        JobSpec(argv=argv, log_dir=tmp_path, workdir=tmp_path), timeout=60, check=False
    )
    assert r.exit_code == 4 and (tmp_path / "calls").read_text() == "grompp\n"


def test_preamble_quotes_every_value(tmp_path):
    text = render_preamble(
        "module load {{ module }}\nexport DATA={{ data }}\n{{ flags }}\n{{ cmd | raw }}\n",
        module="gromacs/2023 $(id)",
        data=NASTY,
        flags=["a b", "$c"],
        cmd=Raw("ulimit -s unlimited"),
    )
    lines = text.splitlines()
    assert lines[0] == "module load " + shlex.quote("gromacs/2023 $(id)")
    assert "\nexport DATA=" + shlex.quote(NASTY) + "\n" in text
    assert lines[-2:] == ["'a b' '$c'", "ulimit -s unlimited"]
    with pytest.raises(SeqrayError, match="undefined"):
        render_preamble("{{ missing }}")
    # the value survives a real shell
    pre = render_preamble("export DATA={{ data }}\n", data=NASTY)
    spec = JobSpec(
        argv=[sys.executable, "-c", "import os; print(os.environ['DATA'], end='')"],
        log_dir=tmp_path,
        preamble=pre,
    )
    (r,) = LocalExecutor().run(spec, timeout=60)
    assert Path(r.stdout).read_text() == NASTY
    path = tmp_path / "s.sh"
    from seqray.hpc import script

    script.write(JobSpec(argv=["echo", *TORTURE], log_dir=tmp_path, preamble=pre), path)
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
