"""SlurmExecutor's polling, state parsing and retry logic: with a scripted fake Slurm (no
daemons), and against the real cluster with a counting runner."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from seqray.errors import SeqrayError
from seqray.hpc import JobSpec, JobState, RetryPolicy, SlurmError, SlurmExecutor
from seqray.hpc.jobs import Resources
from seqray.hpc.slurm import parse_scontrol, slurm_state, subprocess_runner

pytestmark = pytest.mark.timeout(120)


class FakeSlurm:
    """Answers sbatch/squeue/scontrol/scancel from a table of job states the test drives."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.next_id = 100
        self.states: dict[str, str] = {}  # job id -> Slurm state
        self.exit_codes: dict[str, str] = {}
        self.submitted: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        argv = list(argv)
        self.calls.append(argv)
        cmd, out = argv[0], ""
        if cmd == "sbatch":
            self.submitted.append(argv)
            job = str(self.next_id)
            self.next_id += 1
            array = [a for a in argv if a.startswith("--array=")]
            if array:
                n = int(array[0].split("-")[-1]) + 1
                for i in range(n):
                    self.states[f"{job}_{i}"] = "PENDING"
            else:
                self.states[job] = "PENDING"
            out = f"{job};cluster\n"
        elif cmd == "squeue":
            jobs = next(a for a in argv if a.startswith("--jobs=")).split("=", 1)[1].split(",")
            out = "".join(f"{k}|{v}\n" for k, v in self.states.items() if k.split("_")[0] in jobs)
        elif cmd == "scontrol":
            for k, v in self.states.items():
                job, _, task = k.partition("_")
                ids = f"JobId=9{k.replace('_', '')} ArrayJobId={job} ArrayTaskId={task}"
                ids = ids if task else f"JobId={k}"
                out += f"{ids} JobName=x JobState={v} Reason=None ExitCode="
                out += f"{self.exit_codes.get(k, '0:0')}\n"
        elif cmd == "scancel":
            for k in argv[1:]:
                self.states[k] = "CANCELLED"
        return subprocess.CompletedProcess(argv, 0, out, "")

    def count(self, cmd: str) -> int:
        return sum(1 for c in self.calls if c[0] == cmd)


def test_one_squeue_call_per_poll_for_many_jobs(tmp_path):
    fake = FakeSlurm()
    ex = SlurmExecutor(runner=fake)
    subs = [ex.submit(JobSpec(argv=["true"], log_dir=tmp_path, name=f"j{i}")) for i in range(8)]
    subs.append(ex.submit(JobSpec(argv=["true"], log_dir=tmp_path, array=5, name="arr")))
    all_tasks = [t for s in subs for t in s.tasks]
    assert len(all_tasks) == 13
    for _ in range(3):
        before = fake.count("squeue")
        ex._update(all_tasks)
        assert fake.count("squeue") == before + 1
    # every job id in the single call
    call = next(c for c in reversed(fake.calls) if c[0] == "squeue")
    jobs = next(a for a in call if a.startswith("--jobs=")).split("=", 1)[1].split(",")
    assert sorted(jobs) == sorted({t.job_id.split("_")[0] for t in all_tasks})
    assert all(t.state is JobState.PENDING for t in all_tasks)
    # finish them all: each task's exit code file is what counts
    for t in all_tasks:
        fake.states[t.job_id] = "COMPLETED"
        Path(t.exit_file).write_text("0\n")
    before = fake.count("squeue")
    results = ex.wait_all(subs, timeout=10)
    assert fake.count("squeue") == before + 1
    assert fake.count("scontrol") == 0  # exit codes came from the exit-code files
    assert all(r.ok for rs in results for r in rs)


def test_exit_code_from_scontrol_when_no_exit_file(tmp_path):
    fake = FakeSlurm()
    ex = SlurmExecutor(runner=fake)
    sub = ex.submit(JobSpec(argv=["true"], log_dir=tmp_path))
    fake.states[sub.tasks[0].job_id] = "TIMEOUT"
    fake.exit_codes[sub.tasks[0].job_id] = "0:15"
    (result,) = ex.wait(sub, timeout=10)
    assert result.state is JobState.TIMEOUT and result.exit_code == 128 + 15


def test_node_fail_is_retried_with_backoff(tmp_path):
    fake = FakeSlurm()
    retry = RetryPolicy(max_attempts=3, backoff_s=0.05)
    ex = SlurmExecutor(runner=fake, retry=retry, poll_interval=0.01)
    spec = JobSpec(argv=["true"], log_dir=tmp_path, array=2, name="nf")
    sub = ex.submit(spec)
    first = list(sub.job_ids)
    fake.states[first[0]] = "COMPLETED"
    Path(sub.tasks[0].exit_file).write_text("0\n")
    fake.states[first[1]] = "NODE_FAIL"
    fake.exit_codes[first[1]] = "0:9"
    ex.poll(sub)
    assert sub.tasks[1].state is JobState.NODE_FAIL
    # wait resubmits task 1 alone (as a plain job with SEQRAY_TASK_INDEX=1); complete it
    original = fake.__call__

    def runner(argv):
        proc = original(argv)
        if argv[0] == "sbatch":
            job = proc.stdout.split(";")[0]
            fake.states[job] = "COMPLETED"
            Path(tmp_path / f"nf.{job}.exit").write_text("0\n")
        return proc

    ex.runner = runner
    results = ex.wait(sub, timeout=10)
    assert [r.attempts for r in results] == [1, 2]
    assert results[1].ok and results[1].history == (f"{first[1]} NODE_FAIL exit 137",)
    resubmit = fake.submitted[-1]
    assert "--export=ALL,SEQRAY_TASK_INDEX=1" in resubmit
    assert not any(a.startswith("--array") for a in resubmit)


def test_cancelled_and_lost(tmp_path):
    fake = FakeSlurm()
    ex = SlurmExecutor(runner=fake, retry=RetryPolicy(max_attempts=5))
    sub = ex.submit(JobSpec(argv=["true"], log_dir=tmp_path, array=2))
    ex.cancel(sub)
    assert fake.calls[-1] == ["scancel", *sub.job_ids]
    results = ex.wait(sub, timeout=10)
    assert [r.state for r in results] == [JobState.CANCELLED] * 2
    assert all(r.attempts == 1 for r in results)  # cancelled jobs are never retried
    # a job that squeue and scontrol both forgot, with no exit file, is LOST
    sub = ex.submit(JobSpec(argv=["true"], log_dir=tmp_path))
    del fake.states[sub.job_ids[0]]
    assert ex.poll(sub) == [JobState.LOST]


def test_sbatch_arguments(tmp_path):
    fake = FakeSlurm()
    ex = SlurmExecutor(runner=fake)
    res = Resources(
        cpus_per_task=2,
        mem="500M",
        time="00:05:00",
        ntasks=4,
        partition="debug",
        extra=("--qos=low",),
    )
    ex.submit(
        JobSpec(
            argv=["true"],
            log_dir=tmp_path,
            items=[{"a": "1"}] * 3,
            resources=res,
            workdir=tmp_path,
            name="n",
        )
    )
    args = fake.submitted[-1]
    for a in (
        "--parsable",
        "--job-name=n",
        "--cpus-per-task=2",
        "--mem=500M",
        "--time=00:05:00",
        "--ntasks=4",
        "--partition=debug",
        "--qos=low",
        "--array=0-2",
        f"--output={tmp_path}/n.%A_%a.out",
        f"--chdir={tmp_path}",
    ):
        assert a in args, a
    assert args[-1].endswith(".sh")


def test_errors(tmp_path):
    def failing(argv):
        return subprocess.CompletedProcess(
            argv, 1, "", "sbatch: error: Batch job submission failed"
        )

    with pytest.raises(SlurmError, match="submission failed"):
        SlurmExecutor(runner=failing).submit(JobSpec(argv=["true"], log_dir=tmp_path))
    with pytest.raises(SlurmError, match="'%'"):
        SlurmExecutor(runner=FakeSlurm()).submit(JobSpec(argv=["true"], log_dir=tmp_path / "a%j"))

    def scancel_done(argv):
        if argv[0] == "scancel":
            msg = "scancel: error: Kill job error on job id 100: "
            msg += "Job/step already completing or completed"
            return subprocess.CompletedProcess(argv, 1, "", msg)
        return fake(argv)

    fake = FakeSlurm()
    ex = SlurmExecutor(runner=scancel_done)
    ex.cancel(ex.submit(JobSpec(argv=["true"], log_dir=tmp_path)))  # not an error

    def scancel_down(argv):
        if argv[0] == "scancel":
            return subprocess.CompletedProcess(argv, 1, "", "Unable to contact slurm controller")
        return fake(argv)

    ex = SlurmExecutor(runner=scancel_down)
    with pytest.raises(SlurmError, match="scancel failed"):
        ex.cancel(ex.submit(JobSpec(argv=["true"], log_dir=tmp_path)))
    with pytest.raises(SlurmError, match="could not run"):
        SlurmExecutor(sbatch="/nonexistent/sbatch").submit(JobSpec(argv=["true"], log_dir=tmp_path))


def test_runner_drops_task_variables(monkeypatch):
    """sbatch exports the submitter's environment: a submitter inside an array job must
    not hand its task id to the jobs it submits."""
    for k in ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_JOB_ID", "SEQRAY_TASK_INDEX"):
        monkeypatch.setenv(k, "3")
    monkeypatch.setenv("SEQRAY_KEEP_ME", "1")
    out = subprocess_runner(["env"]).stdout
    assert "SEQRAY_KEEP_ME=1" in out
    assert "SLURM_ARRAY_" not in out and "SEQRAY_TASK_INDEX" not in out


def test_parse_scontrol_and_states():
    text = (
        "JobId=7 JobName=a JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0\n"
        "JobId=9 ArrayJobId=8 ArrayTaskId=1 JobState=CANCELLED ExitCode=0:15\n"
        "JobId=10 JobState=COMPLETED ExitCode=0:0\n"
    )
    assert parse_scontrol(text) == {
        "7": (JobState.FAILED, 3),
        "8_1": (JobState.CANCELLED, 143),
        "10": (JobState.COMPLETED, 0),
    }
    assert slurm_state("CANCELLED by 0") is JobState.CANCELLED
    assert slurm_state("BOOT_FAIL") is JobState.NODE_FAIL
    assert slurm_state("COMPLETING") is JobState.RUNNING
    assert slurm_state("SOMETHING_NEW") is JobState.RUNNING


def test_retry_policy():
    p = RetryPolicy(
        max_attempts=4, retry_exit_codes={75}, backoff_s=1, backoff_factor=3, max_backoff_s=5
    )
    assert [p.delay(n) for n in (1, 2, 3)] == [1, 3, 5]
    assert p.should_retry(JobState.FAILED, 75, 1)
    assert not p.should_retry(JobState.FAILED, 75, 4)
    assert not p.should_retry(JobState.FAILED, 1, 1)
    assert p.should_retry(JobState.NODE_FAIL, None, 3)
    assert not p.should_retry(JobState.CANCELLED, 75, 1)
    assert not p.should_retry(JobState.COMPLETED, 0, 1)


def test_spec_validation_and_pickling(tmp_path):
    import pickle

    for bad in (
        dict(argv=[]),
        dict(argv=["x"], name="a b"),
        dict(argv=["x"], env={"A B": "1"}),
        dict(argv=["x"], items=[{"index": "1"}]),
        dict(argv=["x"], array=2, items=[{"a": "1"}]),
    ):
        with pytest.raises((SeqrayError, TypeError)):
            JobSpec(log_dir=tmp_path, **bad)
    with pytest.raises(SeqrayError):
        Resources(mem="1G; rm -rf /")
    with pytest.raises(SeqrayError):
        Resources(cpus_per_task=0)
    spec = JobSpec(argv=["a", "{x}-{index}", "{y}"], log_dir=tmp_path, items=[{"x": "X"}])
    assert spec.task_argv(0) == ("a", "X-0", "{y}")
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert pickle.loads(pickle.dumps(RetryPolicy(retry_exit_codes={1}))).retry_exit_codes == {1}
    assert pickle.loads(pickle.dumps(SlurmExecutor())).sbatch == "sbatch"


@pytest.mark.integration
def test_real_polling_is_batched(slurm, tmp_path):
    """Against the real cluster: several separate jobs, each round one squeue call that
    lists every unfinished job."""
    calls: list[list[str]] = []

    def counting(argv):
        calls.append(list(argv))
        return subprocess_runner(argv)

    ex = SlurmExecutor(runner=counting, poll_interval=0.2, max_poll_interval=0.5)
    polls = 0
    real_poll = ex._poll

    def poll(tasks):
        nonlocal polls
        polls += 1
        return real_poll(tasks)

    ex._poll = poll  # type: ignore[method-assign]
    code = "import sys, time; time.sleep(1); print(sys.argv[1])"
    subs = [
        ex.submit(
            JobSpec(argv=[sys.executable, "-c", code, str(i)], log_dir=tmp_path, name=f"b{i}")
        )
        for i in range(4)
    ]
    results = ex.wait_all(subs, timeout=60)
    assert all(r.ok for rs in results for r in rs)
    squeues = [c for c in calls if c[0] == "squeue"]
    assert len(squeues) == polls >= 1
    first = next(a for a in squeues[0] if a.startswith("--jobs=")).split("=", 1)[1]
    assert sorted(first.split(",")) == sorted(s.job_ids[0] for s in subs)


@pytest.mark.integration
def test_attach_after_restart(slurm, tmp_path):
    """A second executor (a resumed run) re-attaches to an array by its job ids, including
    a retried task's plain job id, and collects the results without resubmitting."""
    code = "import sys, time; time.sleep(1); print('task', sys.argv[1])"
    spec = JobSpec(
        argv=[sys.executable, "-c", code, "{index}"], log_dir=tmp_path, array=3, name="att"
    )
    first = SlurmExecutor()
    sub = first.submit(spec)
    ids = sub.job_ids
    calls: list[list[str]] = []

    def counting(argv):
        calls.append(list(argv))
        return subprocess_runner(argv)

    second = SlurmExecutor(runner=counting, poll_interval=0.2, max_poll_interval=0.5)
    results = second.wait(second.attach(spec, ids), timeout=60)
    assert [r.job_id for r in results] == ids and all(r.ok for r in results)
    assert [Path(r.stdout).read_text() for r in results] == [f"task {i}\n" for i in range(3)]
    assert not any(c[0] == "sbatch" for c in calls)
    with pytest.raises(SeqrayError):
        second.attach(spec, ids[:2])
