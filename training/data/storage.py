"""Writing outputs so that a killed run never leaves a half-written file behind.

Also the two things that make concurrent and killed runs safe for one partition (one video's
outputs): a lease that lets one run at a time write it (`claim_partition`), and the removal of what
a killed write left behind (`remove_stale_temps`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import psutil
from filelock import FileLock

from training.data_root import DataRoot


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_parquet(frame: pd.DataFrame, target: Path) -> Path:
    with atomic_path(target) as tmp:
        frame.to_parquet(tmp, index=False)
    return target


def write_bytes(data: bytes, target: Path) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return target


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside `target`; it replaces `target` only if the block succeeds.

    The old folder is moved aside before the new one is renamed in, so readers see either the old
    or the new complete folder, never a mix.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    old = target.with_name(f".{target.name}.old")
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


# tempfile's random part of mkstemp/mkdtemp names: 8 characters of [a-z0-9_].
_RANDOM = r"[a-z0-9_]{8}"


def remove_stale_temps(parent: Path, name: str) -> list[Path]:
    """Clean up after a killed `atomic_path` / `atomic_dir` on ``parent / name``; return what was removed.

    Removes exactly the names those two write: ``.{name}.<random>.tmp[.suffix]`` (file or folder) and
    ``.{name}.old``. A run killed between atomic_dir's two renames leaves ``.{name}.old`` and no ``name``:
    the old folder is then put back (the table written after it still describes it) instead of deleted.
    Call this only while no other process writes ``parent / name`` (under `claim_partition`): a live
    writer's temporary folder matches too.
    """
    if not parent.is_dir():
        return []
    pattern = re.compile(rf"\.{re.escape(name)}\.{_RANDOM}\.tmp(\.[^.]+)?")
    old = parent / f".{name}.old"
    target = parent / name
    if old.is_dir() and not old.is_symlink() and not target.exists():
        os.replace(old, target)
    removed = []
    for entry in sorted(parent.iterdir()):
        if entry != old and not pattern.fullmatch(entry.name):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def process_alive(pid: int, started_by: float) -> bool:
    """Is process ``pid`` running, and is it one that already existed at ``started_by`` (epoch seconds)?

    The second test tells a process apart from a later one that reused its pid.
    """
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        # 1 s of slack: create_time is rounded to clock ticks.
        return process.create_time() <= started_by + 1.0
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # someone else's process: it exists, and we cannot tell more
        return True


@dataclass(frozen=True)
class PartitionHolder:
    """Who writes a partition: a run (Dagster run id, or another label) in a process on a host."""

    run_id: str
    pid: int
    host: str
    since: float  # when that process started (epoch seconds): a reused pid is not mistaken for it

    @classmethod
    def this_process(cls, run_id: str, pid: int | None = None) -> PartitionHolder:
        """``run_id`` executed by process ``pid`` (default: this one) on this host."""
        pid = os.getpid() if pid is None else pid
        try:
            since = psutil.Process(pid).create_time()
        except psutil.Error:
            since = time.time()
        return cls(run_id=run_id, pid=pid, host=socket.gethostname(), since=since)

    def process_alive(self) -> bool:
        """Whether the holder's process still runs; True when it is on another host (nothing to check there)."""
        return self.host != socket.gethostname() or process_alive(self.pid, self.since)


def partition_lock_paths(root: Path, key: str) -> tuple[Path, Path]:
    """The lock file and the holder file of partition ``key`` under a data root."""
    folder = DataRoot(root).locks_dir
    return folder / f"{key}.lock", folder / f"{key}.holder.json"


def read_holder(path: Path) -> PartitionHolder | None:
    """The holder recorded in ``path``; None when absent or unreadable (a half-written file counts as free)."""
    try:
        return PartitionHolder(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def claim_partition(
    root: Path,
    key: str,
    me: PartitionHolder,
    holder_active: Callable[[PartitionHolder], bool],
    on_wait: Callable[[PartitionHolder], None],
    poll_s: float = 2.0,
) -> bool:
    """Wait until ``me`` holds partition ``key`` of the data root ``root``; True when newly taken.

    A partition is held by the last run that claimed it until ``holder_active(holder)`` says that run is
    over (finished, or its process gone): there is no release step, so a killed run never keeps it. A
    run re-claiming a partition it holds returns at once (False). ``on_wait`` is called on each poll
    while another run holds it.
    """
    lock_path, holder_path = partition_lock_paths(root, key)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        # The file lock only guards the read-check-write of the holder file: held for milliseconds, and
        # released by the OS if this process dies.
        with FileLock(lock_path):
            holder = read_holder(holder_path)
            if holder is not None and holder.run_id == me.run_id:
                return False
            if holder is None or not holder_active(holder):
                write_bytes(json.dumps(asdict(me)).encode(), holder_path)
                return True
        on_wait(holder)
        time.sleep(poll_s)


def release_partition(root: Path, key: str, me: PartitionHolder) -> None:
    """Give partition ``key`` up if ``me`` still holds it: for writers outside Dagster runs, whose process
    outlives the write (a command that writes, then launches the runs that wait for the partition)."""
    lock_path, holder_path = partition_lock_paths(root, key)
    with FileLock(lock_path):
        holder = read_holder(holder_path)
        if holder is not None and holder.run_id == me.run_id:
            holder_path.unlink()
