"""Code that tests/pipelines/test_reliability_runtime.py runs in other processes (light imports: spawn
re-imports this)."""

from __future__ import annotations

import multiprocessing.synchronize
import os
import signal
from pathlib import Path


def create_tracking_store(
    uri: str, artifacts: str, ready: multiprocessing.synchronize.Event, go: multiprocessing.synchronize.Event, out
) -> None:
    """Open the tracker on ``uri`` and log one run, starting when ``go`` is set; put "ok" or the error on ``out``."""
    from training.experiment_tracking import Tracker

    ready.set()
    go.wait(60)
    try:
        with Tracker(uri, artifact_root=artifacts).start_run("inverse-painting/ingest", "race") as run:
            run.log_metrics({"x": 1.0})
        out.put("ok")
    except Exception as exc:
        out.put(f"{type(exc).__name__}: {exc}"[:300])


def killed_while_writing(folder: str) -> None:
    """Start an atomic_dir and an atomic_path write under ``folder`` and die by SIGKILL half way."""
    from training.data.storage import atomic_dir, atomic_path

    root = Path(folder)
    with atomic_dir(root / "clip") as tmp, atomic_path(root / "clip.parquet") as table:
        (tmp / "000000000.jpg").write_bytes(b"frame")
        table.write_bytes(b"half a table")
        os.kill(os.getpid(), signal.SIGKILL)


# A training-like job run in-process by a separate process, killed by the test (see the test's docstring).
TRAINING_SCRIPT = """
import sys, time
import dagster as dg
from pipelines.jobs import TRAINING_TAGS

@dg.op
def train():
    print("training", flush=True)
    time.sleep(120)

@dg.job(tags=TRAINING_TAGS)
def train_models():
    train()

train_models.execute_in_process(instance=dg.DagsterInstance.get())
"""
