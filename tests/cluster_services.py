"""The cluster deployment of deploy/ on this machine: PostgreSQL and Redis from Debian's packages, a code server,
the Dagster daemon and a Celery worker pool, each a real process on 127.0.0.1.

Shared by tests/pipelines/test_cluster.py and benchmarks/celery_workers.py. PostgreSQL refuses to run as root:
as root its data folder belongs to the ``postgres`` user (Debian's package creates it) and it runs as that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import yaml

from pipelines.instance import REPO_ROOT
from tests.ui_servers import free_port

CLUSTER_ENV = "INVERSE_PAINTING_CLUSTER_TESTS"  # "required" (CI): fail instead of skipping without the servers
INSTALL_HINT = "sudo apt-get install -y postgresql redis-server (or: make services)"
PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
BIN = Path(sys.executable).parent


def pg_binary(name: str) -> str | None:
    """``initdb``/``pg_ctl``/``createdb``: on PATH, else in Debian's versioned folder (not on PATH there)."""
    found = shutil.which(name)
    if found:
        return found
    for folder in PG_BIN_DIRS:
        if (folder / name).is_file():
            return str(folder / name)
    return None


def missing_servers() -> list[str]:
    """The server programs this machine lacks (empty: the cluster tests can run)."""
    missing = [name for name in ("initdb", "pg_ctl", "createdb") if pg_binary(name) is None]
    return missing + ([] if shutil.which("redis-server") else ["redis-server"])


def wait_until(check, timeout_s: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise TimeoutError(f"{what} not ready after {timeout_s:.0f} s\n{tail}")


def stop(process: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL, a process this module started and the processes it started."""
    if process.poll() is not None:
        return
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        children = []
    process.terminate()
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
    for child in children:
        with suppress(psutil.Error):
            child.kill()


@dataclass
class Postgres:
    port: int
    user: str = "dagster"
    db: str = "dagster"

    @property
    def env(self) -> dict[str, str]:
        """The environment deploy/dagster.yaml reads (trust authentication on 127.0.0.1: any password)."""
        return {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": "unused",
            "DAGSTER_PG_DB": self.db,
        }


@contextmanager
def postgres_server(log_dir: Path) -> Iterator[Postgres]:
    """A fresh PostgreSQL cluster on a free port of 127.0.0.1 (trust auth), removed on exit."""
    as_root = os.geteuid() == 0
    # Its own folder outside pytest's (pytest's tmp folders are root's, mode 700: the postgres user cannot enter).
    data = Path(tempfile.mkdtemp(prefix="inverse-painting-pg-"))
    prefix: list[str] = []
    if as_root:
        try:
            user = pwd.getpwnam("postgres")  # Debian's package creates it
        except KeyError:
            user = pwd.getpwnam("nobody")
        os.chown(data, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", user.pw_name, "--"]
    server = Postgres(port=free_port())
    log = log_dir / "postgres.log"
    pg_log = data / "server.log"
    try:
        with log.open("w") as out:
            subprocess.run(
                [*prefix, pg_binary("initdb"), "-D", str(data / "db"), "-U", server.user, "--auth=trust", "-E", "UTF8"],
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=120,
            )
        options = f"-c listen_addresses=127.0.0.1 -p {server.port} -k {data} -c fsync=off -c max_connections=200"
        subprocess.run(
            [*prefix, pg_binary("pg_ctl"), "-D", str(data / "db"), "-o", options, "-l", str(pg_log), "-w", "start"],
            capture_output=True,
            check=True,
            timeout=120,
        )
        subprocess.run(
            [pg_binary("createdb"), "-h", "127.0.0.1", "-p", str(server.port), "-U", server.user, server.db],
            capture_output=True,
            check=True,
            timeout=60,
        )
        yield server
    finally:
        if pg_log.exists():
            shutil.copyfile(pg_log, log_dir / "postgres-server.log")
        subprocess.run(
            [*prefix, pg_binary("pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def redis_server(log_dir: Path) -> Iterator[str]:
    """A Redis server on a free port of 127.0.0.1, nothing persisted; yields its URL."""
    port = free_port()
    log = log_dir / "redis.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=log_dir,
        )
    try:
        wait_until(lambda: "Ready to accept connections" in log.read_text(errors="replace"), 30, "redis-server", log)
        yield f"redis://127.0.0.1:{port}"
    finally:
        stop(process)


@dataclass
class Cluster:
    """Everything a cluster run needs, up: the environment of every process, and the processes."""

    home: Path
    data_root: Path
    env: dict[str, str]
    logs: Path
    workers: subprocess.Popen | None = None
    concurrency: int = 0
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def instance_env(self) -> dict[str, str]:
        """What deploy/dagster.yaml reads from the environment: set it to open the instance in this process."""
        return {k: v for k, v in self.env.items() if k.startswith(("DAGSTER_PG_", "INVERSE_PAINTING_DAGSTER_"))}

    def start(self, name: str, *args: str) -> subprocess.Popen:
        """A long-running process of the deployment, its output in ``logs/<name>.log``."""
        with (self.logs / f"{name}.log").open("w") as out:
            process = subprocess.Popen(list(args), env=self.env, cwd=self.home, stdout=out, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def pool_processes(self) -> list[psutil.Process]:
        """The Celery pool's worker processes (the children of the worker's main process)."""
        if self.workers is None:
            return []
        try:
            # dagster-celery -> celery (the worker's main process) -> the pool's processes
            return [pool for main in psutil.Process(self.workers.pid).children() for pool in main.children()]
        except psutil.Error:  # the worker is exiting
            return []

    def start_workers(self, concurrency: int, wait: bool = True) -> None:
        """``dagster-celery worker start`` as deploy/README.md runs it: one worker, a pool of ``concurrency``
        processes forked from a main process that has imported the code location once (``-i``)."""
        self.workers = self.start(
            "celery",
            str(BIN / "dagster-celery"),
            "worker",
            "start",
            "-A",
            "dagster_celery.app",
            "-y",
            str(REPO_ROOT / "deploy" / "celery.yaml"),
            "-i",
            "pipelines.definitions",
            "--",
            f"--concurrency={concurrency}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        )
        self.concurrency = concurrency
        if wait:
            self.wait_for_workers()

    def wait_for_workers(self, timeout_s: float = 300) -> None:
        wait_until(
            lambda: len(self.pool_processes()) == self.concurrency and "ready." in self.log("celery"),
            timeout_s,
            "the Celery worker",
            self.logs / "celery.log",
        )

    def start_daemon(self, timeout_s: float = 300) -> None:
        """``dagster-daemon run`` on the code server, once that serves: its sensor queues a run per new video at
        its first tick, its queue launches them (started before the server, it would retry only a minute later)."""
        wait_until(
            lambda: "Started Dagster code server" in self.log("code_server"),
            timeout_s,
            "the code server",
            self.logs / "code_server.log",
        )
        self.start("daemon", str(BIN / "dagster-daemon"), "run", "-w", str(self.home / "workspace.yaml"))

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            stop(process)


def write_workspace(home: Path, port: int) -> Path:
    """A workspace naming the code server (the same location name as the checkout's workspace.yaml)."""
    path = home / "workspace.yaml"
    server = {"host": "127.0.0.1", "port": port, "location_name": "inverse-painting"}
    path.write_text(yaml.safe_dump({"load_from": [{"grpc_server": server}]}))
    return path


@contextmanager
def cluster(work: Path, data_root: Path, daemon: bool = True, dequeue_interval_s: int = 1) -> Iterator[Cluster]:
    """PostgreSQL, Redis, the code location's gRPC server and (``daemon``) the Dagster daemon, on deploy/dagster.yaml.

    The Celery pool is started by the caller (``Cluster.start_workers``), with the concurrency it needs.
    """
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    home = work / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        pg = stack.enter_context(postgres_server(logs))
        redis = stack.enter_context(redis_server(logs))
        config = (REPO_ROOT / "deploy" / "dagster.yaml").read_text()
        # The daemon's queue is polled every second here (default 5 s): runs leave the queue sooner.
        config = config.replace(
            "  class: QueuedRunCoordinator\n",
            f"  class: QueuedRunCoordinator\n  config:\n    dequeue_interval_seconds: {dequeue_interval_s}\n",
        )
        (home / "dagster.yaml").write_text(config)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "INVERSE_PAINTING_"))}
        env.update(pg.env)
        env.update(
            DAGSTER_HOME=str(home),
            INVERSE_PAINTING_DATA_ROOT=str(data_root),
            INVERSE_PAINTING_EXECUTOR="celery",
            INVERSE_PAINTING_CELERY_BROKER=f"{redis}/0",
            INVERSE_PAINTING_CELERY_BACKEND=f"{redis}/1",
            INVERSE_PAINTING_DAGSTER_STORAGE=str(work / "shared" / "storage"),
            INVERSE_PAINTING_DAGSTER_LOGS=str(work / "shared" / "compute_logs"),
            PYTHONPATH=str(REPO_ROOT),
            # dagster-celery starts `celery` from PATH: this environment's, as an activated virtualenv would.
            PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        deployment = Cluster(home=home, data_root=data_root, env=env, logs=logs)
        stack.callback(deployment.stop_all)
        port = free_port()
        deployment.start(
            "code_server",
            str(BIN / "dagster"),
            "api",
            "grpc",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-m",
            "pipelines.definitions",
            "-d",
            str(REPO_ROOT),
            "--location-name",
            "inverse-painting",
        )
        write_workspace(home, port)
        if daemon:
            deployment.start_daemon()
        yield deployment


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
