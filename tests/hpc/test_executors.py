"""Both executors against the same behaviour: quoting, exit codes and log tails, arrays,
cancellation, retries, timeouts. The Slurm variants run against the real one-node cluster
of the `slurm` fixture (tests/hpc/conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seqray.hpc import (
    Executor,
    JobFailedError,
    JobSpec,
    JobState,
    JobTimeoutError,
    LocalExecutor,
    Resources,
    RetryPolicy,
    SlurmExecutor,
)

pytestmark = pytest.mark.timeout(120)

# arguments a shell would mangle if any of them went through it unquoted
TORTURE = [
    "plain",
    "with space",
    "it's",
    'double "quoted"',
    "$HOME",
    "${PATH}",
    "$(touch pwned)",
    "`touch pwned`",
    "new\nline",
    "tab\there",
    "",
    "*",
    "semi;colon && echo x | cat > y",
    "back\\slash",
    "{index}",
    "-n",
    "ünïcødé",
]

ARGV_DUMP = "import json, sys; json.dump(sys.argv[2:], open(sys.argv[1], 'w'))"


def make(kind: str, request: pytest.FixtureRequest, **kw) -> Executor:
    if kind == "slurm":
        request.getfixturevalue("slurm")
        return SlurmExecutor(poll_interval=0.2, max_poll_interval=1.0, **kw)
    return LocalExecutor(**kw)


KINDS = ["local", pytest.param("slurm", marks=pytest.mark.integration)]


@pytest.mark.parametrize("kind", KINDS)
def test_quoting_torture(kind, request, tmp_path):
    """The job receives exactly the argv it was given, through paths with spaces, quotes,
    `$` and backticks (the working directory, the log directory and the output file)."""
    base = tmp_path / "dir with 'quotes' and $dollar and `ticks`"
    base.mkdir()
    out = base / 'argv "out".json'
    ex = make(kind, request)
    spec = JobSpec(
        argv=[sys.executable, "-c", ARGV_DUMP, str(out), *TORTURE],
        log_dir=base / "logs $(x)",
        workdir=base,
        env={"SEQRAY_TEST_VALUE": "a 'b' $c `d`"},
        name="quote",
    )
    (result,) = ex.run(spec, timeout=60)
    assert result.ok and result.exit_code == 0
    assert json.loads(out.read_text()) == TORTURE
    assert not (base / "pwned").exists() and not Path("pwned").exists()


@pytest.mark.parametrize("kind", KINDS)
def test_env_and_workdir(kind, request, tmp_path):
    ex = make(kind, request)
    value = "a 'b' $c `d`\nnext"
    spec = JobSpec(
        argv=[sys.executable, "-c", "import os; print(os.getcwd()); print(os.environ['V'])"],
        log_dir=tmp_path / "logs",
        workdir=tmp_path,
        env={"V": value},
    )
    (result,) = ex.run(spec, timeout=60)
    assert Path(result.stdout).read_text() == f"{tmp_path}\n{value}\n"


@pytest.mark.parametrize("kind", KINDS)
def test_failure_surfaces_exit_code_and_log_tail(kind, request, tmp_path):
    ex = make(kind, request)
    code = "import sys; print('progress 1'); print('boom: bad shard', file=sys.stderr); exit(7)"
    spec = JobSpec(argv=[sys.executable, "-c", code], log_dir=tmp_path, name="fails")
    with pytest.raises(JobFailedError) as info:
        ex.run(spec, timeout=60)
    (result,) = info.value.results
    assert result.state is JobState.FAILED and result.exit_code == 7
    message = str(info.value)
    assert result.job_id in message and "FAILED" in message and "exit code 7" in message
    assert "boom: bad shard" in message and "progress 1" in message
    # without check, the result is returned
    (again,) = ex.run(spec, timeout=60, check=False)
    assert not again.ok and again.exit_code == 7 and "boom" in again.log_tail


def test_missing_workdir_fails_with_its_exit_code(tmp_path):
    from seqray.hpc import script

    spec = JobSpec(argv=["true"], log_dir=tmp_path, workdir=tmp_path / "no such dir")
    with pytest.raises(JobFailedError) as info:
        LocalExecutor().run(spec, timeout=30)
    assert info.value.results[0].exit_code == script.EXIT_NO_WORKDIR
    assert "no such dir" in str(info.value)


@pytest.mark.parametrize("kind", KINDS)
def test_array_over_items(kind, request, tmp_path):
    ex = make(kind, request)
    items = [{"shard": str(tmp_path / f"shard {i}.txt")} for i in range(3)]
    spec = JobSpec(
        argv=["bash", "-c", 'printf "%s" "$1" > "$2"; echo "task $1"', "job", "{index}", "{shard}"],
        log_dir=tmp_path / "logs",
        items=items,
        name="arr",
    )
    results = ex.run(spec, timeout=60)
    assert [r.index for r in results] == [0, 1, 2]
    assert len({r.job_id for r in results}) == 3
    for i, r in enumerate(results):
        assert r.ok
        assert Path(items[i]["shard"]).read_text() == str(i)
        assert Path(r.stdout).read_text() == f"task {i}\n"
    if kind == "slurm":
        job = results[0].job_id.split("_")[0]
        assert [r.job_id for r in results] == [f"{job}_{i}" for i in range(3)]
        assert results[2].stdout.endswith(f"arr.{job}_2.out")


@pytest.mark.parametrize("kind", KINDS)
def test_cancel(kind, request, tmp_path):
    ex = make(kind, request)
    started = tmp_path / "started"
    spec = JobSpec(
        argv=["bash", "-c", 'touch "$1"; sleep 60; touch "$1.after"', "job", str(started)],
        log_dir=tmp_path,
        name="long",
    )
    sub = ex.submit(spec)
    deadline = time.monotonic() + 30
    while not started.exists():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.1)
    t0 = time.monotonic()
    ex.cancel(sub)
    (result,) = ex.wait(sub, timeout=30)
    assert result.state is JobState.CANCELLED
    assert time.monotonic() - t0 < 20
    time.sleep(0.5)
    assert not Path(str(started) + ".after").exists()


@pytest.mark.parametrize("kind", KINDS)
def test_retry_on_chosen_exit_code(kind, request, tmp_path):
    """Fails with 75 the first time (leaving a marker), succeeds the second time."""
    retry = RetryPolicy(max_attempts=3, retry_exit_codes=frozenset({75}), backoff_s=0.2)
    ex = make(kind, request, retry=retry)
    marker = tmp_path / "marker"
    code = (
        "import os, sys\n"
        "m = sys.argv[1]\n"
        "if not os.path.exists(m):\n"
        "    open(m, 'w').close(); print('transient', file=sys.stderr); sys.exit(75)\n"
        "print('second time lucky')\n"
    )
    spec = JobSpec(argv=[sys.executable, "-c", code, str(marker)], log_dir=tmp_path, name="flaky")
    (result,) = ex.run(spec, timeout=60)
    assert result.ok and result.attempts == 2
    assert len(result.history) == 1 and "exit 75" in result.history[0]
    assert Path(result.stdout).read_text() == "second time lucky\n"
    # an exit code outside the set is not retried
    marker.unlink()
    strict = make(kind, request, retry=RetryPolicy(max_attempts=3, retry_exit_codes={3}))
    with pytest.raises(JobFailedError) as info:
        strict.run(spec, timeout=60)
    assert info.value.results[0].attempts == 1 and info.value.results[0].exit_code == 75


@pytest.mark.parametrize("kind", KINDS)
def test_retry_one_array_task(kind, request, tmp_path):
    """Only the failing task of an array is submitted again, with its own arguments."""
    retry = RetryPolicy(max_attempts=2, retry_exit_codes=frozenset({75}), backoff_s=0.1)
    ex = make(kind, request, retry=retry)
    code = (
        "import os, sys\n"
        "i, m = sys.argv[1], sys.argv[2]\n"
        "if i == '1' and not os.path.exists(m):\n"
        "    open(m, 'w').close(); sys.exit(75)\n"
        "open(m + '.done.' + i, 'w').write(i)\n"
    )
    marker = str(tmp_path / "m")
    spec = JobSpec(
        argv=[sys.executable, "-c", code, "{index}", marker],
        log_dir=tmp_path,
        array=3,
        name="arr-retry",
    )
    results = ex.run(spec, timeout=60)
    assert [r.attempts for r in results] == [1, 2, 1]
    for i in range(3):
        assert Path(f"{marker}.done.{i}").read_text() == str(i)


@pytest.mark.parametrize("kind", KINDS)
def test_timeout_cancels(kind, request, tmp_path):
    ex = make(kind, request)
    spec = JobSpec(argv=["sleep", "60"], log_dir=tmp_path, name="slow")
    t0 = time.monotonic()
    with pytest.raises(JobTimeoutError, match="cancelled"):
        ex.run(spec, timeout=3)
    assert time.monotonic() - t0 < 20


def test_local_max_parallel(tmp_path):
    """With max_parallel=1 the tasks of an array run one after another."""
    ex = LocalExecutor(max_parallel=1)
    code = (
        "import sys, time\n"
        "t = time.time(); time.sleep(0.3)\n"
        "open(sys.argv[1], 'w').write(f'{t} {time.time()}')\n"
    )
    spec = JobSpec(
        argv=[sys.executable, "-c", code, str(tmp_path / "t{index}")],
        log_dir=tmp_path,
        array=3,
    )
    ex.run(spec, timeout=60)
    spans = sorted(tuple(map(float, (tmp_path / f"t{i}").read_text().split())) for i in range(3))
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end


def test_script_is_valid_bash_and_quotes_everything(tmp_path):
    from seqray.hpc import script

    spec = JobSpec(argv=["echo", *TORTURE], log_dir=tmp_path, env={"X": "$(y)"})
    text = script.render(spec)
    path = script.write(spec, tmp_path / "job.sh")
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    assert os.access(path, os.X_OK)
    # a task index the script does not have is refused
    env = {**os.environ, "SEQRAY_TASK_INDEX": "5", "SEQRAY_JOB_KEY": "k"}
    proc = subprocess.run(["bash", str(path)], env=env, capture_output=True, text=True)
    assert proc.returncode == script.EXIT_NO_TASK and "no task 5" in proc.stderr
    assert "$(y)" in text and "export X='$(y)'" in text


@pytest.mark.integration
@pytest.mark.parametrize(
    "launcher",
    [
        pytest.param(["srun", "--ntasks=2"], id="srun"),
        pytest.param(
            ["mpirun", "-np", "2", "--allow-run-as-root", "--oversubscribe"],
            id="mpirun",
            marks=pytest.mark.peers("mpirun"),
        ),
    ],
)
def test_two_rank_launch_inside_a_slurm_job(slurm, tmp_path, launcher):
    """A 2-task Slurm job starts two ranks with srun or OpenMPI's mpirun (as root, as CI
    runs): what the MPI solver jobs need from the test cluster."""
    rank = (
        'echo "rank ${OMPI_COMM_WORLD_RANK:-$SLURM_PROCID}'
        ' of ${OMPI_COMM_WORLD_SIZE:-$SLURM_NTASKS}"'
    )
    spec = JobSpec(
        argv=[*launcher, "bash", "-c", rank],
        log_dir=tmp_path,
        resources=Resources(ntasks=2),
    )
    (result,) = SlurmExecutor(poll_interval=0.2, max_poll_interval=1.0).run(spec, timeout=60)
    assert sorted(Path(result.stdout).read_text().splitlines()) == ["rank 0 of 2", "rank 1 of 2"]
