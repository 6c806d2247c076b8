"""Issue 18, the Dagster runtime: one run at a time writes a video, killed writes are cleaned up, killed
runs do not block the queue, and the MLflow store is created once when two runs start together."""

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._utils.tags import TagConcurrencyLimitsCounter

from assets.ingest import sampled_frames
from pipelines import partition_lock
from pipelines.definitions import build_definitions
from pipelines.instance import REPO_ROOT
from pipelines.jobs import TRAINING_TAGS
from pipelines.partition_lock import partition_held_by_command
from pipelines.partitions import videos_partitions
from pipelines.resources import StorageResource
from pipelines.sensors import stale_runs_sensor
from tests.conftest import write_test_video
from tests.reliability_workers import TRAINING_SCRIPT, create_tracking_store
from training.data.storage import (
    PartitionHolder,
    claim_partition,
    partition_lock_paths,
    process_alive,
    read_holder,
    remove_stale_temps,
)


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# --- leftovers of killed writes ---------------------------------------------------------------------------


def test_killed_write_leftovers_are_removed_and_nothing_else(tmp_path: Path):
    folder = tmp_path / "sampled_frames"
    folder.mkdir()
    code = f"from tests.reliability_workers import killed_while_writing; killed_while_writing({str(folder)!r})"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    leftovers = sorted(p.name for p in folder.iterdir())
    assert len(leftovers) == 2 and all(name.startswith((".clip.", ".clip.parquet.")) for name in leftovers)
    # Look-alikes that are not what atomic_dir / atomic_path write, and another partition's temp: kept.
    keep = [".clip.tmp", "clip.abcd1234.tmp", ".clip.abc.tmp", ".clipper.abcd1234.tmp", "notes.txt"]
    for name in keep:
        (folder / name).write_text("user")
    (folder / "clip").mkdir()
    (folder / "clip" / ".x.abcd1234.tmp").write_text("inside the live folder")

    removed = remove_stale_temps(folder, "clip") + remove_stale_temps(folder, "clip.parquet")

    assert sorted(p.name for p in removed) == leftovers
    assert sorted(p.name for p in folder.iterdir()) == sorted([*keep, "clip"])
    assert (folder / "clip" / ".x.abcd1234.tmp").exists()
    assert remove_stale_temps(folder, "clip") == [] and remove_stale_temps(tmp_path / "absent", "clip") == []


def test_a_folder_moved_aside_by_a_killed_swap_is_put_back(tmp_path: Path):
    # atomic_dir killed between its two renames: the old complete folder is aside, the target is gone.
    (tmp_path / ".clip.old").mkdir()
    (tmp_path / ".clip.old" / "a.jpg").write_bytes(b"old")
    (tmp_path / ".clip.zz9_abcd.tmp").mkdir()
    remove_stale_temps(tmp_path, "clip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip"]
    assert (tmp_path / "clip" / "a.jpg").read_bytes() == b"old"
    # With the target present, the aside copy is stale and goes.
    (tmp_path / ".clip.old").mkdir()
    assert [p.name for p in remove_stale_temps(tmp_path, "clip")] == [".clip.old"]
    assert (tmp_path / "clip" / "a.jpg").exists()


# --- the partition lease ----------------------------------------------------------------------------------


def test_process_alive_tells_a_reused_pid_apart():
    me = PartitionHolder.this_process("run")
    assert process_alive(me.pid, me.since)
    assert not process_alive(me.pid, me.since - 3600)  # "the process of an hour ago": not this one
    assert not process_alive(dead_pid(), time.time())


def test_a_partition_is_taken_when_free_kept_by_its_run_and_waited_for_while_held(tmp_path: Path):
    first = PartitionHolder.this_process("run-1")
    second = PartitionHolder.this_process("run-2")
    assert claim_partition(tmp_path, "v", first, lambda h: True, on_wait=pytest.fail)
    assert not claim_partition(tmp_path, "v", first, lambda h: True, on_wait=pytest.fail)  # re-entrant

    polls = []

    def first_still_running(holder: PartitionHolder) -> bool:
        assert holder == first
        return len(polls) < 3

    assert claim_partition(tmp_path, "v", second, first_still_running, on_wait=polls.append, poll_s=0.01)
    assert polls == [first, first, first]
    assert read_holder(partition_lock_paths(tmp_path, "v")[1]) == second
    # Another partition is independent.
    assert claim_partition(tmp_path, "w", first, lambda h: True, on_wait=pytest.fail)


def test_a_holder_whose_process_died_is_replaced_at_once(tmp_path: Path):
    _, holder_file = partition_lock_paths(tmp_path, "v")
    killed = PartitionHolder("killed-run", dead_pid(), PartitionHolder.this_process("x").host, time.time() - 10)
    assert not killed.process_alive()
    claim_partition(tmp_path, "v", killed, lambda h: True, on_wait=pytest.fail)
    me = PartitionHolder.this_process("next-run")
    assert claim_partition(tmp_path, "v", me, lambda h: h.process_alive(), on_wait=pytest.fail)
    assert read_holder(holder_file) == me
    holder_file.write_text("{half")  # a torn holder file does not lock the video forever
    assert claim_partition(tmp_path, "v", killed, lambda h: True, on_wait=pytest.fail)


# --- the per-video assets under the lease -------------------------------------------------------------------


def started_run(
    instance: dg.DagsterInstance, job_name: str, tags: dict[str, str] | None = None, pid: int | None = None
) -> dg.DagsterRun:
    """A run marked STARTED as Dagster does, by a RUN_START event of process ``pid`` (default: this one)."""
    run = instance.add_run(dg.DagsterRun(job_name=job_name, tags=tags or {}, status=dg.DagsterRunStatus.NOT_STARTED))
    start = DagsterEvent(DagsterEventType.RUN_START.value, job_name=job_name, pid=pid or os.getpid())
    instance.report_dagster_event(start, run_id=run.run_id)
    return instance.get_run_by_id(run.run_id)


def materialize_frames(instance: dg.DagsterInstance, data_root: Path, video_id: str) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [sampled_frames],
        partition_key=video_id,
        instance=instance,
        resources={"storage": StorageResource(data_root=str(data_root))},
        run_config={"ops": {"sampled_frames": {"config": {"sample_every_s": 0.5}}}},
    )


def warnings_of(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [e.user_message for e in instance.all_logs(run_id) if e.level >= 30 and e.user_message]


def test_a_second_run_on_a_video_waits_for_the_run_writing_it(instance, data_root: Path, monkeypatch):
    """Run A is writing video v (it holds the lease and runs); run B waits, says for whom, then writes."""
    monkeypatch.setattr(partition_lock, "POLL_S", 0.05)
    write_test_video(data_root / "videos" / "v.mp4")
    instance.add_dynamic_partitions(videos_partitions.name, ["v"])
    writer = started_run(instance, "process_videos")
    assert writer.status == dg.DagsterRunStatus.STARTED
    claim_partition(data_root, "v", PartitionHolder.this_process(writer.run_id), lambda h: True, pytest.fail)
    ended = []

    def finish_writer() -> None:
        time.sleep(1.0)
        ended.append(time.time())
        instance.report_run_failed(writer, "done")

    threading.Thread(target=finish_writer).start()
    result = materialize_frames(instance, data_root, "v")

    assert result.success
    assert ended, "run B wrote while run A was still running"
    table = data_root / "sampled_frames" / "v.parquet"
    assert table.stat().st_mtime >= ended[0]
    assert any(
        f"v: waiting for run {writer.run_id}" in m and "Cancel that run" in m
        for m in warnings_of(instance, result.run_id)
    )
    assert read_holder(partition_lock_paths(data_root, "v")[1]).run_id == result.run_id


def test_a_command_writing_outside_runs_waits_for_the_run_writing_the_video_and_then_lets_runs_in(
    instance, data_root: Path, monkeypatch
):
    """import-official writes keyframes outside any run: it waits like a run, and gives the video back after."""
    monkeypatch.setattr(partition_lock, "POLL_S", 0.05)
    writer = started_run(instance, "process_videos")
    claim_partition(data_root, "v", PartitionHolder.this_process(writer.run_id), lambda h: True, pytest.fail)
    threading.Timer(0.5, lambda: instance.report_run_failed(writer, "done")).start()
    started = time.monotonic()
    with partition_held_by_command(instance, data_root, "v", "import-official"):
        assert time.monotonic() - started >= 0.4  # it waited for the run
        assert read_holder(partition_lock_paths(data_root, "v")[1]).run_id.startswith("import-official-")
    # Given back: the runs this command launches next (other processes) take the video at once.
    assert read_holder(partition_lock_paths(data_root, "v")[1]) is None
    assert claim_partition(data_root, "v", PartitionHolder.this_process("next-run"), lambda h: True, pytest.fail)


def test_a_run_after_a_killed_one_takes_the_video_and_cleans_its_temps(instance, data_root: Path):
    """The killed run still shows STARTED (its process is gone): the next run does not wait for it."""
    write_test_video(data_root / "videos" / "v.mp4")
    instance.add_dynamic_partitions(videos_partitions.name, ["v"])
    pid = dead_pid()
    killed = started_run(instance, "process_videos", pid=pid)
    assert killed.status == dg.DagsterRunStatus.STARTED
    holder = PartitionHolder(killed.run_id, pid, PartitionHolder.this_process("x").host, time.time())
    claim_partition(data_root, "v", holder, lambda h: True, pytest.fail)
    leftover = data_root / "sampled_frames" / ".v.k1ll3d_x.tmp"
    leftover.mkdir(parents=True)
    (leftover / "000000000.jpg").write_bytes(b"\xff" * 1000)
    other_video = data_root / "sampled_frames" / ".w.k1ll3d_x.tmp"  # another partition's: not ours to judge
    other_video.mkdir()

    t0 = time.time()
    result = materialize_frames(instance, data_root, "v")

    assert result.success and time.time() - t0 < 30
    assert not leftover.exists() and other_video.exists()
    assert not any("waiting for run" in m for m in warnings_of(instance, result.run_id))
    assert any(
        "removed what a killed write" in m and ".v.k1ll3d_x.tmp" in m for m in warnings_of(instance, result.run_id)
    )
    assert len(pd.read_parquet(data_root / "sampled_frames" / "v.parquet")) >= 3


# --- killed runs and the run queue ---------------------------------------------------------------------------


def queue_blocks(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """Would the QueuedRunCoordinator hold ``run`` back under dagster.yaml's tag concurrency limits?"""
    limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    in_progress = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    return TagConcurrencyLimitsCounter(limits, in_progress).is_blocked(run)


def test_a_killed_training_run_is_marked_failed_and_the_next_training_leaves_the_queue(tmp_path: Path):
    """A training run executed by another process (as the CLI does) is killed with SIGKILL: it stays STARTED
    and holds the one-training-at-a-time limit until stale_runs_sensor sees that its process is gone."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-c", TRAINING_SCRIPT], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "training"
        with dg.DagsterInstance.from_config(str(home)) as instance:
            (running,) = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
            queued = dg.DagsterRun(job_name="train_models", tags=TRAINING_TAGS)  # the next one, e.g. the schedule's
            assert queue_blocks(instance, queued)
            with dg.build_sensor_context(instance=instance) as context:
                assert "still has its process" in stale_runs_sensor(context).skip_message
            assert instance.get_run_by_id(running.run_id).status == dg.DagsterRunStatus.STARTED

            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            assert instance.get_run_by_id(running.run_id).status == dg.DagsterRunStatus.STARTED  # the bug
            assert queue_blocks(instance, queued)

            with dg.build_sensor_context(instance=instance) as context:
                assert running.run_id in stale_runs_sensor(context).skip_message
            after = instance.get_run_by_id(running.run_id)
            assert after.status == dg.DagsterRunStatus.FAILURE
            failure = instance.all_logs(running.run_id, of_type=DagsterEventType.RUN_FAILURE)[-1]
            assert f"pid {proc.pid}" in failure.message and "is gone" in failure.message
            assert not queue_blocks(instance, queued)
            with dg.build_sensor_context(instance=instance) as context:  # nothing left to do
                assert "still has its process" in stale_runs_sensor(context).skip_message
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_instance_serialises_runs_of_one_video_and_times_out_runs_that_never_start(tmp_path: Path):
    (tmp_path / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits
        assert instance.run_monitoring_enabled and instance.run_monitoring_start_timeout_seconds > 0
        running = started_run(instance, "process_videos", {"dagster/partition": "a"})
        assert running.tags["dagster/partition"] == "a"
        same = dg.DagsterRun(job_name="process_videos", tags={"dagster/partition": "a"})
        other = dg.DagsterRun(job_name="process_videos", tags={"dagster/partition": "b"})
        assert queue_blocks(instance, same) and not queue_blocks(instance, other)


def test_the_stale_runs_sensor_is_registered(data_root: Path):
    defs = build_definitions(str(data_root))
    assert defs.resolve_sensor_def("stale_runs_sensor").default_status == dg.DefaultSensorStatus.RUNNING


# --- the MLflow store -------------------------------------------------------------------------------------------


def test_two_processes_creating_the_tracking_store_at_once_both_succeed(tmp_path: Path):
    context = multiprocessing.get_context("spawn")
    uri = f"sqlite:///{tmp_path / 'data' / 'mlflow.db'}"
    go, out = context.Event(), context.Queue()
    readies = [context.Event() for _ in range(2)]
    workers = [
        context.Process(target=create_tracking_store, args=(uri, str(tmp_path / "art"), ready, go, out))
        for ready in readies
    ]
    for worker in workers:
        worker.start()
    try:
        assert all(ready.wait(120) for ready in readies)
        go.set()  # both import MLflow first, then open the fresh store at the same moment
        results = [out.get(timeout=120) for _ in workers]
    finally:
        for worker in workers:
            worker.join(60)
    assert results == ["ok", "ok"]
