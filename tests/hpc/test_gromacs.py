"""GROMACS through both executors: a tripeptide built from a PDB in the test (pdb2gmx,
editconf), staged, run with grompp + mdrun for a few hundred steps, collected into a
manifest whose energies are checked against `gmx energy` and whose trajectory against
`gmx check`. The unit tests at the end need no GROMACS."""

from __future__ import annotations

import hashlib
import math
import re
import subprocess
from pathlib import Path

import pytest

from seqray.errors import InputError, OutputError, SeqrayError
from seqray.hpc import JobFailedError, JobState
from seqray.hpc.gromacs import read_log, run_gromacs, stage
from seqray.pipeline.manifest import load

from ..peers import require_tool
from .test_executors import KINDS, make

pytestmark = pytest.mark.timeout(180)

# ALA-ALA-ALA, heavy atoms in ideal extended-strand geometry (pdb2gmx adds the hydrogens)
PDB = """\
ATOM      1  N   ALA A   1       0.000   0.000   0.000  1.00  0.00           N
ATOM      2  CA  ALA A   1       1.458   0.000   0.000  1.00  0.00           C
ATOM      3  C   ALA A   1       2.009   0.711  -1.231  1.00  0.00           C
ATOM      4  O   ALA A   1       1.600   0.422  -2.356  1.00  0.00           O
ATOM      5  CB  ALA A   1       1.994  -1.432   0.063  1.00  0.00           C
ATOM      6  N   ALA A   2       2.936   1.637  -1.008  1.00  0.00           N
ATOM      7  CA  ALA A   2       3.545   2.390  -2.098  1.00  0.00           C
ATOM      8  C   ALA A   2       5.054   2.174  -2.143  1.00  0.00           C
ATOM      9  O   ALA A   2       5.734   2.305  -1.125  1.00  0.00           O
ATOM     10  CB  ALA A   2       3.232   3.881  -1.959  1.00  0.00           C
ATOM     11  N   ALA A   3       5.565   1.845  -3.324  1.00  0.00           N
ATOM     12  CA  ALA A   3       6.993   1.611  -3.503  1.00  0.00           C
ATOM     13  C   ALA A   3       7.587   2.578  -4.521  1.00  0.00           C
ATOM     14  O   ALA A   3       7.057   2.730  -5.621  1.00  0.00           O
ATOM     15  CB  ALA A   3       7.249   0.167  -3.940  1.00  0.00           C
ATOM     16  OXT ALA A   3       8.622   3.193  -4.183  1.00  0.00           O
END
"""

# nsteps here is overridden by run_gromacs(steps=...), which the tests check
MDP = """\
integrator         = md
dt                 = 0.001
nsteps             = 50
nstenergy          = 20
nstlog             = 20
nstcalcenergy      = 10
nstxout-compressed = 20
cutoff-scheme      = Verlet
pbc                = xyz
coulombtype        = PME
rcoulomb           = 1.0
rvdw               = 1.0
tcoupl             = v-rescale
tc-grps            = System
tau-t              = 0.1
ref-t              = 300
gen-vel            = yes
gen-temp           = 300
gen-seed           = 1
constraints        = h-bonds
"""

STEPS = 200
TERMS = ("Potential", "Kinetic En.", "Total Energy", "Temperature")


def gmx(*args: str, cwd: Path, stdin: str = "") -> str:
    proc = subprocess.run(
        ["gmx", "-quiet", *args], cwd=cwd, input=stdin, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def system(tmp_path_factory) -> dict[str, Path]:
    """The tripeptide in amber99sb-ildn, in vacuum in a 1 nm-margin cubic box: a
    topology that includes the force field from GROMACS's library and posre.itp from
    beside it."""
    require_tool("gmx")
    d = tmp_path_factory.mktemp("ala3 inputs")
    (d / "ala3.pdb").write_text(PDB)
    gmx("pdb2gmx", "-f", "ala3.pdb", "-o", "ala3.gro", "-p", "topol.top", "-ignh",
        "-ff", "amber99sb-ildn", "-water", "none", cwd=d)  # fmt: skip
    gmx("editconf", "-f", "ala3.gro", "-o", "box.gro", "-c", "-d", "1.0", "-bt", "cubic", cwd=d)
    (d / "md.mdp").write_text(MDP)
    assert '#include "posre.itp"' in (d / "topol.top").read_text()
    return {"mdp": d / "md.mdp", "conf": d / "box.gro", "top": d / "topol.top"}


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def gmx_energy(edr: Path) -> tuple[dict[str, float], dict[str, float]]:
    """The last frame's terms (from the .xvg) and the averages (from the table) that
    `gmx energy` reports: the independent truth for what collect read from the log."""
    # gmx energy's selection names have '-' for the spaces of the terms' names
    select = "".join(t.replace(" ", "-") + "\n" for t in TERMS) + "\n"
    out = gmx("energy", "-f", edr.name, "-o", "check.xvg", cwd=edr.parent, stdin=select)
    rows = [
        line.split()
        for line in (edr.parent / "check.xvg").read_text().splitlines()
        if line and line[0] not in "#@"
    ]
    last = dict(zip(TERMS, map(float, rows[-1][1:])))
    average = {}
    for term in TERMS:
        m = re.search(rf"^{re.escape(term)}\s+(\S+)", out, re.MULTILINE)
        assert m, out
        average[term] = float(m.group(1))
    (edr.parent / "check.xvg").unlink()
    return last, average


def check_run(result, job_dir: Path) -> None:
    """What every successful run must show: the outputs listed with their digests in a
    valid manifest, the energies as gmx energy reports them, all steps done."""
    assert result.job.ok and result.job.state is JobState.COMPLETED
    manifest = load(str(job_dir))
    listed = {Path(f.uri).name: f for f in manifest.files}
    for name in ("md.tpr", "md.edr", "md.log", "md.gro", "md.xtc", "mdout.mdp"):
        assert name in listed, sorted(listed)
        assert listed[name].sha256 == sha256(job_dir / name)
        assert listed[name].bytes == (job_dir / name).stat().st_size
    assert {"md.mdp", "box.gro", "topol.top", "posre.itp"}.isdisjoint(listed)  # inputs
    staged = {Path(i.uri).name: i.checksum for i in manifest.inputs}
    assert set(staged) == {"md.mdp", "box.gro", "topol.top", "posre.itp"}
    assert staged["posre.itp"] == sha256(job_dir / "posre.itp")
    # the staged mdp asks for STEPS, the source one for 50
    assert re.search(rf"^nsteps = {STEPS}$", (job_dir / "md.mdp").read_text(), re.MULTILINE)

    report = manifest.reports["gromacs"]
    assert report["job"]["id"] == result.job.job_id and report["job"]["state"] == "COMPLETED"
    assert report["steps"] == report["nsteps"] == result.energies.steps == STEPS
    assert report["time_ps"] == pytest.approx(STEPS * 0.001)
    assert report["atoms"] == 33 and report["energy_frames"] == STEPS // 10 + 1
    for term in TERMS:
        assert math.isfinite(report["final"][term]) and math.isfinite(report["average"][term])
    last, average = gmx_energy(job_dir / "md.edr")
    for term in TERMS:
        assert report["final"][term] == pytest.approx(last[term], rel=1e-5, abs=1e-3), term
        assert report["average"][term] == pytest.approx(average[term], rel=1e-4, abs=1e-3), term
    assert 100 < report["average"]["Temperature"] < 600
    frames = re.search(r"^Coords\s+(\d+)", gmx("check", "-f", "md.xtc", cwd=job_dir), re.M)
    assert frames and int(frames.group(1)) == STEPS // 20 + 1


@pytest.mark.integration
@pytest.mark.parametrize("kind", KINDS)
def test_gromacs_run_and_collect(kind, request, tmp_path, system):
    job_dir = tmp_path / "md"
    result = run_gromacs(make(kind, request), **system, job_dir=job_dir, steps=STEPS, timeout=120)
    check_run(result, job_dir)
    assert result.manifest == str(job_dir / "manifest.json")
    assert result.file(".edr").sha256 == sha256(job_dir / "md.edr")
    if kind == "slurm":
        assert result.job.job_id.isdigit()
    # seqray never writes among files it did not write: the job directory is not reused
    with pytest.raises(OutputError, match="not empty"):
        run_gromacs(make(kind, request), **system, job_dir=job_dir, steps=STEPS)


@pytest.mark.integration
@pytest.mark.parametrize("kind", KINDS)
def test_gromacs_job_dir_with_space_and_quotes(kind, request, tmp_path, system):
    job_dir = tmp_path / "md run 'one' \"two\" $HOME"
    result = run_gromacs(make(kind, request), **system, job_dir=job_dir, steps=STEPS, timeout=120)
    check_run(result, job_dir)
    assert Path(result.job.stdout).parent == job_dir / "logs"


@pytest.mark.integration
@pytest.mark.parametrize("kind", KINDS)
def test_gromacs_bad_mdp_fails_with_grompps_error(kind, request, tmp_path, system):
    bad = tmp_path / "bad.mdp"
    bad.write_text(
        system["mdp"].read_text().replace("integrator         = md", "integrator = warp")
    )
    job_dir = tmp_path / "bad run"
    with pytest.raises(JobFailedError) as info:
        run_gromacs(make(kind, request), bad, system["conf"], system["top"], job_dir, timeout=120)
    (failed,) = info.value.results
    message = str(info.value)
    assert failed.job_id in message and failed.state is JobState.FAILED
    assert "Invalid enum 'warp'" in message and "gmx grompp" in message, message
    assert not (job_dir / "manifest.json").exists() and not (job_dir / "md.tpr").exists()


# ---- no GROMACS needed ----
LOG = """\
   nsteps                         = 20
   init-step                      = 0
There are: 33 Atoms

           Step           Time
              0        0.00000

   Energies (kJ/mol)
           Bond          Angle      Potential    Kinetic En. Pressure (bar)
    1.00000e+01    2.00000e+01   -3.50000e+00    1.25000e+02   -1.00000e+00

           Step           Time
             20        0.02000

Writing checkpoint, step 20 at Thu Dec  3 11:42:34 2026


   Energies (kJ/mol)
           Bond          Angle      Potential    Kinetic En. Pressure (bar)
    1.10000e+01    2.10000e+01   -4.50000e+00    1.35000e+02            nan
   Constr. rmsd
    0.00000e+00


\t<====  A V E R A G E S  ====>

\tStatistics over 21 steps using 3 frames

   Energies (kJ/mol)
           Bond          Angle      Potential    Kinetic En. Pressure (bar)
    1.05000e+01    2.05000e+01   -4.00000e+00    1.30000e+02   -2.00000e+00

   Total Virial (kJ/mol)
    5.21014e+01   -3.27496e+00   -2.03944e+01
"""


def test_read_log(tmp_path):
    (tmp_path / "md.log").write_text(LOG)
    e = read_log(tmp_path / "md.log")
    assert (e.step, e.steps, e.nsteps, e.atoms, e.frames) == (20, 20, 20, 33, 3)
    assert e.time_ps == pytest.approx(0.02)
    assert e.final["Potential"] == -4.5 and e.final["Kinetic En."] == 135.0
    assert math.isnan(e.final["Pressure (bar)"]) and e.final["Constr. rmsd"] == 0.0
    assert e.average == {
        "Bond": 10.5,
        "Angle": 20.5,
        "Potential": -4.0,
        "Kinetic En.": 130.0,
        "Pressure (bar)": -2.0,
    }
    (tmp_path / "cut.log").write_text(LOG.replace("1.35000e+02            nan", "1.35000e+02"))
    with pytest.raises(SeqrayError, match=r"cut.log, line 19: 5 energy names but 4 values"):
        read_log(tmp_path / "cut.log")
    (tmp_path / "empty.log").write_text("GROMACS started\n")
    with pytest.raises(SeqrayError, match="no energies"):
        read_log(tmp_path / "empty.log")


def inputs(d: Path, top: str = '#include "posre.itp"\n#include "ff.ff/forcefield.itp"\n'):
    d.mkdir(parents=True, exist_ok=True)
    (d / "run.mdp").write_text("integrator = md\nnsteps    = 10 ; short\n")
    (d / "conf.gro").write_text("x\n")
    (d / "topol.top").write_text(top)
    (d / "posre.itp").write_text('#include "sub/more.itp"\n')
    (d / "sub").mkdir(exist_ok=True)
    (d / "sub" / "more.itp").write_text("; more\n")
    return d / "run.mdp", d / "conf.gro", d / "topol.top"


def test_stage_copies_local_includes_and_sets_nsteps(tmp_path):
    mdp, conf, top = inputs(tmp_path / "in")
    s = stage(tmp_path / "job", mdp, conf, top, steps=300)
    names = sorted(f.name for f in s.files)
    # ff.ff/forcefield.itp is not beside the topology: gmx finds it in its library
    assert names == ["conf.gro", "posre.itp", "run.mdp", "sub/more.itp", "topol.top"]
    assert (tmp_path / "job" / "run.mdp").read_text() == "integrator = md\nnsteps = 300\n"
    assert (tmp_path / "job" / "sub" / "more.itp").read_text() == "; more\n"
    by_name = {f.name: f for f in s.files}
    assert by_name["run.mdp"].sha256 == sha256(mdp)  # the source's digest
    assert (s.mdp, s.conf, s.top) == ("run.mdp", "conf.gro", "topol.top")


def test_stage_refusals(tmp_path):
    mdp, conf, top = inputs(tmp_path / "in")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "theirs.txt").write_text("not ours")
    with pytest.raises(OutputError, match="not empty"):
        stage(tmp_path / "busy", mdp, conf, top)
    assert (tmp_path / "busy" / "theirs.txt").read_text() == "not ours"
    # an input named like an output of mdrun -deffnm would be overwritten by the job
    with pytest.raises(InputError, match="one the job writes"):
        stage(tmp_path / "j1", mdp, conf, top, deffnm="conf")
    other = tmp_path / "other"
    other.mkdir()
    (other / "posre.itp").write_text("; not the topology's\n")
    with pytest.raises(InputError, match="both be staged as 'posre.itp'"):
        stage(tmp_path / "j4", mdp, other / "posre.itp", top)
    with pytest.raises(InputError, match="no such file"):
        stage(tmp_path / "j2", tmp_path / "nope.mdp", conf, top)
    _, _, out_top = inputs(tmp_path / "in2" / "deeper", top='#include "../outside.itp"\n')
    (tmp_path / "in2" / "outside.itp").write_text("; x\n")
    with pytest.raises(InputError, match="outside"):
        stage(tmp_path / "j3", mdp, conf, out_top)
