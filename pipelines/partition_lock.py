"""One run at a time writes a video's outputs: per-video assets hold the partition for their whole run.

A video's outputs refer to each other (keyframes copy sampled frames, pairs point at keyframe files,
masks at pairs), and one run's assets execute as separate steps, possibly in separate processes. A
lock held by one step would let two runs interleave their steps and leave frames of one run beside
keyframes of the other. So the first per-video step of a run takes the partition's lease for the run
(`training.data.storage.claim_partition`) and keeps it until the run is over in the Dagster instance or
its process is gone; a second run on the same video waits for it, saying which run it waits for.

Waiting rather than failing: the second run was asked for on purpose (other settings, a sensor's new
run, a re-materialization in the UI), and failing it would drop that request; after the wait it runs
with its own settings from start to end, as Dagster's own concurrency limits queue runs. Two runs never
wait on each other: a run holds at most one video (one partition per run).
"""

from __future__ import annotations

import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from pipelines.resources import StorageResource
from pipelines.stale_runs import run_process
from training.data.storage import (
    PartitionHolder,
    claim_partition,
    process_alive,
    release_partition,
    remove_stale_temps,
)

POLL_S = 2.0
WAIT_LOG_EVERY_S = 60.0


def holder_active(instance: dg.DagsterInstance, holder: PartitionHolder) -> bool:
    """Is the run that holds a partition still going?

    A run of this instance is judged by its status and by the process that started it (a killed run
    stays STARTED until stale_runs_sensor marks it). A holder this instance does not know (another
    DAGSTER_HOME on the same data root, or code outside Dagster) is judged by its process; runs in one
    process execute one after another, so a holder that is this very process is over.
    """
    run = instance.get_run_by_id(holder.run_id)
    if run is None:
        if holder.host == socket.gethostname() and holder.pid == os.getpid():
            return False
        return holder.process_alive()
    if run.is_finished:
        return False
    found = run_process(instance, run.run_id)
    return process_alive(*found) if found is not None else holder.process_alive()


def hold_partition(context: dg.AssetExecutionContext, storage: StorageResource, *outputs: Path) -> None:
    """Make this run the only writer of the video's outputs until it ends; then clean ``outputs``' leftovers.

    Call first thing in a per-video asset, with the files and folders it writes: what a killed write left
    beside them (``.<name>.<random>.tmp``, ``.<name>.old``) is removed, safely since no other run writes them.
    """
    key = context.partition_key
    instance = context.instance
    found = run_process(instance, context.run.run_id)
    me = PartitionHolder.this_process(context.run.run_id, pid=found[0] if found else None)
    last_log = [float("-inf")]

    def on_wait(holder: PartitionHolder) -> None:
        now = time.monotonic()
        if now - last_log[0] >= WAIT_LOG_EVERY_S:
            last_log[0] = now
            context.log.warning(
                f"{key}: waiting for run {holder.run_id} (pid {holder.pid} on {holder.host}) to finish: it is "
                "writing this video's outputs, and a video's frames, keyframes, pairs and masks must all come "
                "from one run. Cancel that run to go first."
            )

    taken = claim_partition(storage.root, key, me, lambda holder: holder_active(instance, holder), on_wait, POLL_S)
    if taken:
        context.log.debug(f"{key}: this run ({context.run.run_id}) now writes the video's outputs")
    for output in outputs:
        removed = remove_stale_temps(output.parent, output.name)
        if removed:
            context.log.warning(
                f"{key}: removed what a killed write of {output} left behind: {', '.join(p.name for p in removed)}"
            )


@contextmanager
def partition_held_by_command(instance: dg.DagsterInstance, root: Path, key: str, command: str) -> Iterator[None]:
    """Hold a video's partition while a command writes its outputs outside a run (``import-official``).

    Waits, as a run does, for a run writing that video; released on leaving, since the command goes on
    to launch runs of its own that need the partition.
    """
    me = PartitionHolder.this_process(f"{command}-{uuid.uuid4().hex[:8]}")
    last_log = [float("-inf")]

    def on_wait(holder: PartitionHolder) -> None:
        if time.monotonic() - last_log[0] >= WAIT_LOG_EVERY_S:
            last_log[0] = time.monotonic()
            print(
                f"{key}: waiting for run {holder.run_id} (pid {holder.pid} on {holder.host}) to finish writing "
                "this video's outputs",
                file=sys.stderr,
            )

    claim_partition(root, key, me, lambda holder: holder_active(instance, holder), on_wait, POLL_S)
    try:
        yield
    finally:
        release_partition(root, key, me)
