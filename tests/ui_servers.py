"""`dagster dev` and `mlflow ui` started as a user starts them (the demo's printed commands), for browser tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipelines.instance import REPO_ROOT

BROWSER_ENV = "INVERSE_PAINTING_BROWSER_TESTS"  # "required" (CI): fail instead of skipping without chromium


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen
    log: Path

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def wait_until_up(server: Server, probe_path: str, timeout_s: float) -> float:
    """Seconds until ``probe_path`` answers 200; raises with the server's log when it does not in time."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.url + probe_path, timeout=5) as answer:
                if answer.status == 200:
                    return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{server.name} did not answer {probe_path} in {timeout_s:.0f} s:\n{server.log_tail()}")


def start(name: str, command: list[str], env: dict[str, str], log: Path, url: str, cwd: Path = REPO_ROOT) -> Server:
    handle = log.open("w")
    # A session of its own: stopping it stops the children too (dagster dev runs the webserver and daemon).
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )
    return Server(name, url, process, log)


def stop(server: Server) -> None:
    if server.process.poll() is not None:
        return
    os.killpg(server.process.pid, 15)
    try:  # a server still up 5 s after SIGTERM is killed: the tests are done with it (CI once waited 30 s here)
        server.process.wait(5)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, 9)
        server.process.wait(10)


@contextmanager
def ui_servers(data_root: Path, dagster_home: Path, logs: Path) -> Iterator[tuple[Server, Server]]:
    """Both UIs on free 127.0.0.1 ports, on a data root and instance the demo made; stopped on exit."""
    bindir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "INVERSE_PAINTING_DATA_ROOT")}
    dagster_port, mlflow_port = free_port(), free_port()
    # As pipelines.instance.dagster_dev_command prints it: in $DAGSTER_HOME, the checkout's workspace.yaml.
    dagster = start(
        "dagster dev",
        [str(bindir / "dagster"), "dev", "-w", str(REPO_ROOT / "workspace.yaml"),
         "-h", "127.0.0.1", "-p", str(dagster_port)],
        {**env, "DAGSTER_HOME": str(dagster_home), "INVERSE_PAINTING_DATA_ROOT": str(data_root)},
        logs / "dagster_dev.log",
        f"http://127.0.0.1:{dagster_port}",
        cwd=dagster_home,
    )  # fmt: skip
    mlflow = start(
        "mlflow ui",
        [str(bindir / "mlflow"), "ui", "--backend-store-uri", f"sqlite:///{data_root / 'mlflow.db'}",
         "--host", "127.0.0.1", "--port", str(mlflow_port)],
        env,
        logs / "mlflow_ui.log",
        f"http://127.0.0.1:{mlflow_port}",
    )  # fmt: skip
    try:
        wait_until_up(dagster, "/server_info", 240)
        wait_until_up(mlflow, "/health", 240)
        yield dagster, mlflow
    finally:
        stop(dagster)
        stop(mlflow)
