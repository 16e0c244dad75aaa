"""A real one-node Slurm for the tests: munged, slurmctld and slurmd started without systemd.

`SlurmCluster(root).start()` writes a munge key and a `slurm.conf` for one node on 127.0.0.1
(NodeName = `hostname -s`, CPUs=2, select/cons_tres, auth/munge through a private munged
socket, cgroup-free plugins: proctrack/linuxproc, task/none, jobacct_gather/none, no
accounting storage), with every state, spool, pid and log file under `root` and free ports,
starts the three daemons in the foreground as child processes, and waits until `sinfo`
shows the node idle. `stop()` cancels the cluster's jobs and ends the daemons it started,
by their pids, nothing else. `env` is what a client needs (`SLURM_CONF`).

The daemons run as root (SlurmUser=root), which is how CI runs the tests.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


class SlurmCluster:
    def __init__(self, root: str | Path, cpus: int = 2):
        self.root = Path(root)
        self.cpus = cpus
        self.node = socket.gethostname().split(".")[0]
        self.conf = self.root / "slurm.conf"
        self.munge_socket = self.root / "run" / "munge.socket"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def _client_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def write_config(self) -> None:
        r = self.root
        for d in ("run", "state", "spool", "log", "munge"):
            (r / d).mkdir(parents=True, exist_ok=True)
        (r / "run").chmod(0o755)  # munged wants its socket directory reachable by all
        key = r / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        ctld_port, d_port = free_port(), free_port()
        lines = [
            "ClusterName=seqraytest",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"SlurmctldPort={ctld_port}",
            f"SlurmdPort={d_port}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            f"StateSaveLocation={r / 'state'}",
            f"SlurmdSpoolDir={r / 'spool'}",
            f"SlurmctldPidFile={r / 'run' / 'slurmctld.pid'}",
            f"SlurmdPidFile={r / 'run' / 'slurmd.pid'}",
            f"SlurmctldLogFile={r / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={r / 'log' / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "SchedulerType=sched/builtin",
            # start a job as soon as it is submitted (the default waits up to ~3 s)
            "SchedulerParameters=sched_min_interval=0,batch_sched_delay=0",
            "MpiDefault=none",
            "SwitchType=switch/none",
            "ReturnToService=2",
            "MinJobAge=600",
            "KillWait=2",
            "InactiveLimit=0",
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory=1000 "
            "State=UNKNOWN",
            f"PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.root / "log" / f"{name}.stdout", "wb")
        with log:
            self.procs[name] = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._client_env(),
                start_new_session=True,
            )

    def _wait(self, what: str, check, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited ({proc.returncode})\n{self.logs()}")
            if check():
                return
            time.sleep(0.2)
        raise RuntimeError(f"timed out waiting for {what}\n{self.logs()}")

    def logs(self) -> str:
        parts = []
        for path in sorted((self.root / "log").glob("*")):
            parts.append(f"--- {path.name} ---\n{_tail(path)}")
        return "\n".join(parts)

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv), capture_output=True, text=True, env=self._client_env(), timeout=30
        )

    def node_state(self) -> str:
        out = self._run("sinfo", "--noheader", "--format=%T")
        return out.stdout.strip() if out.returncode == 0 else ""

    def start(self, timeout: float = 60.0) -> SlurmCluster:
        self.write_config()
        r = self.root
        try:
            self._spawn(
                "munged",
                [
                    "munged",
                    "--foreground",
                    "--force",
                    f"--key-file={r / 'munge' / 'munge.key'}",
                    f"--socket={self.munge_socket}",
                    f"--pid-file={r / 'run' / 'munged.pid'}",
                    f"--log-file={r / 'log' / 'munged.log'}",
                    f"--seed-file={r / 'munge' / 'munged.seed'}",
                ],
            )
            self._wait("the munge socket", self.munge_socket.exists, timeout)
            self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
            self._wait(
                "slurmctld to answer",
                lambda: "UP" in self._run("scontrol", "ping").stdout,
                timeout,
            )
            self._spawn("slurmd", ["slurmd", "-D", "-N", self.node, "-f", str(self.conf)])
            self._wait("the node to be idle", lambda: "idle" in self.node_state(), timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            try:
                self._run("scancel", "--user=root")
                time.sleep(0.5)
            except (OSError, subprocess.SubprocessError):
                pass
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
