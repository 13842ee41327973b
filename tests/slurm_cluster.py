"""A throwaway single-node Slurm (munged, slurmctld, slurmd) for the Slurm tests.

Everything lives in one temporary folder: the munge key and socket, the config, the state and
spool directories, the logs. Non-default ports keep it clear of a real Slurm on the machine.
``cred_expire`` is cut from 120 s to the minimum so a requeued job may start again in seconds
instead of two minutes. Needs root and Debian's ``slurm-wlm`` and ``munge`` (installed by
``.ci/run`` when it runs as root); the tests skip with a reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "scontrol", "squeue")


# Slurm holds a requeued job until now + cred_expire + 1 s: a floor under any hold.
CRED_EXPIRE = 5


def missing_requirement() -> str | None:
    """Why a real Slurm cannot be started here, or None when it can."""
    if os.geteuid() != 0:
        return "the Slurm tests start slurmctld, slurmd and munged, which needs root"
    paths = {name: shutil.which(name) or _sbin(name) for name in DAEMONS}
    lacking = [name for name, path in paths.items() if path is None]
    if lacking:
        return f"Slurm is not installed ({', '.join(lacking)} missing; apt-get install slurm-wlm munge)"
    return None


def _sbin(name: str) -> str | None:
    for folder in ("/usr/sbin", "/sbin", "/usr/bin"):
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    return None


def _memory_mb() -> int:
    """The node's memory for slurm.conf (the job script asks for --mem)."""
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.9)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SlurmCluster:
    root: Path
    node: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """The environment a user on this cluster has: SLURM_CONF points at the config."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "TIKTOK_"))}
        env["SLURM_CONF"] = str(self.conf)
        return env

    # ------------------------------------------------------------------ set-up
    def start(self) -> None:
        for sub in ("munge", "state", "spool", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root / "munge", 0o700)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(128))
        os.chmod(key, 0o400)
        socket_path = self.root / "munge" / "munge.socket"
        self._spawn(
            [
                _sbin("munged") or "munged",
                "--foreground",
                "--force",
                f"--socket={socket_path}",
                f"--key-file={key}",
                f"--pid-file={self.root / 'munge' / 'munged.pid'}",
                f"--log-file={self.root / 'log' / 'munged.log'}",
                f"--seed-file={self.root / 'munge' / 'munged.seed'}",
            ]
        )
        self._wait_for(socket_path.exists, "munged socket")
        self.conf.write_text(self._config(socket_path))
        self._spawn([_sbin("slurmctld") or "slurmctld", "-D", "-i", "-f", str(self.conf)])
        self._wait_for(self._controller_up, "slurmctld")
        self._spawn([_sbin("slurmd") or "slurmd", "-D", "-f", str(self.conf)])
        self._wait_for(self._node_idle, "slurmd to register the node")

    def _config(self, munge_socket: Path) -> str:
        r = self.root
        return "\n".join(
            [
                "ClusterName=tiktoktest",
                f"SlurmctldHost={self.node}(127.0.0.1)",
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                "SlurmUser=root",
                "SlurmdUser=root",
                f"AuthInfo=socket={munge_socket},cred_expire={CRED_EXPIRE}",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"StateSaveLocation={r / 'state'}",
                f"SlurmdSpoolDir={r / 'spool'}",
                f"SlurmctldPidFile={r / 'state' / 'slurmctld.pid'}",
                f"SlurmdPidFile={r / 'spool' / 'slurmd.pid'}",
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
                "SchedulerParameters=sched_interval=1,sched_min_interval=100000",
                "ReturnToService=2",
                "MinJobAge=300",
                "KillWait=30",
                "SlurmctldTimeout=30",
                "SlurmdTimeout=30",
                "MpiDefault=none",
                f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 2} "
                f"RealMemory={_memory_mb()} State=UNKNOWN",
                "PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )

    def _spawn(self, argv: list[str]) -> None:
        log = (self.root / "log" / f"{Path(argv[0]).name}.out").open("ab")
        self.procs.append(
            subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        )

    def _wait_for(self, ready, what: str, limit: float = 60.0) -> None:  # noqa: ANN001
        deadline = time.monotonic() + limit  # a guard against a daemon that never comes up
        while not ready():
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args[0]} exited: {self.logs()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}: {self.logs()}")
            time.sleep(0.2)

    def _controller_up(self) -> bool:
        return self.run("scontrol", "ping", check=False).returncode == 0

    def _node_idle(self) -> bool:
        out = self.run("sinfo", "-h", "-o", "%t", check=False).stdout.strip()
        return out in ("idle", "mix", "alloc")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # Job steps that outlived slurmd (a test that failed half-way) must not linger.
        subprocess.run(["pkill", "-f", f"slurmstepd.*{self.root}"], check=False)

    def logs(self) -> str:
        parts = []
        for path in sorted((self.root / "log").glob("*")):
            text = path.read_text(errors="replace")
            parts.append(f"--- {path.name}\n{text[-3000:]}")
        return "\n".join(parts)

    # --------------------------------------------------------------------- use
    def run(self, *argv: str, check: bool = True, env: dict[str, str] | None = None):  # noqa: ANN201
        done = subprocess.run(
            list(argv), capture_output=True, text=True, env=env or self.env, timeout=60
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
        return done

    def job(self, job_id: str) -> dict[str, str]:
        """``scontrol show job`` as a dict (JobState, StartTime, Restarts, ...)."""
        out = self.run("scontrol", "-o", "show", "job", job_id).stdout
        fields: dict[str, str] = {}
        for token in out.split():
            key, _, value = token.partition("=")
            fields.setdefault(key, value)
        return fields
