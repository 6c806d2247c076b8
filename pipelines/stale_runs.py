"""Runs whose process is gone: found by pid, marked failed so that the run queue moves.

A run killed with SIGKILL (or by a reboot, or a closed terminal) never writes its end: it stays STARTED,
and dagster.yaml's tag_concurrency_limits count it as in progress forever, so every later training run
stays QUEUED. Dagster's run monitoring cannot see this with the DefaultRunLauncher (it has no worker
health check; it only times out runs stuck STARTING), and runs executed in-process by the CLI have no
launcher at all. Every run's RUN_START event records the pid of the process that executes it, on this
machine for both the DefaultRunLauncher and the CLI: a STARTED run whose process no longer exists is over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.launcher import DefaultRunLauncher
from dagster._core.launcher.sync_in_memory_run_launcher import SyncInMemoryRunLauncher

from training.data.storage import process_alive

# Launchers whose run workers are processes of this machine (the in-memory one: ephemeral test instances).
LOCAL_LAUNCHERS = (DefaultRunLauncher, SyncInMemoryRunLauncher)


def run_process(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """(pid, time) of the process that started run ``run_id``, from its latest RUN_START event; None before."""
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.RUN_START, limit=1, ascending=False)
    if not records.records:
        return None
    entry = records.records[0].event_log_entry
    pid = entry.dagster_event.pid if entry.dagster_event else None
    return (pid, entry.timestamp) if pid else None


def run_process_alive(instance: dg.DagsterInstance, run_id: str) -> bool | None:
    """Whether the process executing ``run_id`` still runs (None: it has not logged its start yet)."""
    found = run_process(instance, run_id)
    return None if found is None else process_alive(*found)


@dataclass(frozen=True)
class StaleRun:
    run_id: str
    job_name: str
    pid: int
    message: str


def stale_run_message(pid: int, started: float) -> str:
    when = datetime.fromtimestamp(started, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"marked failed by stale_runs_sensor: the process that ran it (pid {pid}, started {when}) is gone "
        "(killed, or the machine restarted), so the run could never end and kept later runs with the same "
        "concurrency tag queued. Launch it again (training resumes from its last checkpoint)."
    )


def fail_stale_runs(instance: dg.DagsterInstance) -> list[StaleRun]:
    """Mark failed every STARTED run whose process no longer exists on this machine; return them.

    Only with a launcher of local processes (the DefaultRunLauncher, this project's): other launchers run
    workers on other machines, where a pid means nothing here, and bring their own health checks (run
    monitoring).
    """
    if not isinstance(instance.run_launcher, LOCAL_LAUNCHERS):
        return []
    failed = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        run = record.dagster_run
        found = run_process(instance, run.run_id)
        if found is None or process_alive(*found):
            continue
        current = instance.get_run_by_id(run.run_id)
        if current is None or current.status != dg.DagsterRunStatus.STARTED:
            continue  # it ended between the two reads
        message = stale_run_message(*found)
        instance.report_run_failed(current, message)
        failed.append(StaleRun(run.run_id, run.job_name, found[0], message))
    return failed
