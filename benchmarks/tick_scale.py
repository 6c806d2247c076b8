"""How long one tick of the retraining schedule and of the new-videos sensor takes with 10 000 videos.

    python -m benchmarks.tick_scale [--videos 10000] [--new 100] [--failed-fraction 0.01] [--work DIR] [--json]

Dagster gives a schedule or sensor tick 60 s. The benchmark builds a synthetic catalog in a temporary folder
(or ``--work``): a local SQLite Dagster instance with N dynamic partitions of ``videos``; the latest
materialization of every partition of the assets whose blocking checks the schedule reads (canvas_geometry,
keyframes, difference_masks) and one evaluation of each blocking check per partition, ``--failed-fraction``
of them failed; the three models materialized on an older dataset version; a data root with an empty
stand-in file per video in ``videos/`` (plus ``--new`` files not registered yet) and per per-video table (the
tick only lists and stats them), and the per-video content versions instruction_labels would have stored.
It then times one evaluation of ``retrain_schedule`` and of ``new_videos_sensor`` (and checks what they
return: the expected dataset version, the failed videos left out, the new files requested).

The events are written in bulk through the event log storage's own tables and serialization (the storage's
one-event-at-a-time ``store_event`` takes ~15 ms an event here, 20 minutes for 70 000 events); the benchmark
reads them back through the public APIs before timing. Takes about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluation,
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
from dagster._core.events.log import EventLogEntry
from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
from dagster_shared.serdes import serialize_value

from assets.dataset import blocking_checks, failed_video_checks
from pipelines.jobs import TRAINING_MODELS
from pipelines.partitions import videos_partitions
from pipelines.resources import StorageResource
from pipelines.schedules import retrain_schedule
from pipelines.sensors import new_videos_sensor
from training.dataset import (
    SIGNATURE_TABLES,
    VideoVersion,
    combine_versions,
    store_video_versions,
    tables_signature,
    validation_paintings,
)


def _entry(event_type: DagsterEventType, data: object, timestamp: float) -> EventLogEntry:
    event = DagsterEvent(event_type_value=event_type.value, event_specific_data=data, job_name=RUNLESS_JOB_NAME)
    return EventLogEntry(
        error_info=None, level="debug", user_message="", run_id=RUNLESS_RUN_ID, timestamp=timestamp, dagster_event=event
    )


def write_events(instance: dg.DagsterInstance, videos: list[str], failed: set[str]) -> None:
    """The latest materializations and blocking check evaluations of every video, in two bulk inserts."""
    storage = instance.event_log_storage
    keys = blocking_checks()
    assets = sorted({key.asset_key for key in keys}, key=lambda k: k.to_string())
    for asset in assets:  # one through the ordinary path: the asset's row in the asset index
        instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=videos[0]))
    now = time.time()
    rows = [
        storage._event_to_row(  # the storage's own row for the event
            _entry(
                DagsterEventType.ASSET_MATERIALIZATION,
                StepMaterializationData(dg.AssetMaterialization(asset, partition=video)),
                now,
            )
        )
        for asset in assets
        for video in videos
    ]
    with storage.index_connection() as conn:
        conn.execute(SqlEventLogStorageTable.insert(), rows)
    latest = {
        asset: storage.get_latest_storage_id_by_partition(asset, DagsterEventType.ASSET_MATERIALIZATION)
        for asset in assets
    }
    checks = []
    for key in keys:
        for video in videos:
            passed = video not in failed
            evaluation = AssetCheckEvaluation(
                asset_key=key.asset_key,
                check_name=key.name,
                passed=passed,
                severity=dg.AssetCheckSeverity.ERROR,
                target_materialization_data=AssetCheckEvaluationTargetMaterializationData(
                    storage_id=latest[key.asset_key][video], run_id=RUNLESS_RUN_ID, timestamp=now
                ),
            )
            checks.append(
                {
                    "asset_key": key.asset_key.to_string(),
                    "check_name": key.name,
                    "run_id": RUNLESS_RUN_ID,
                    "execution_status": (
                        AssetCheckExecutionRecordStatus.SUCCEEDED if passed else AssetCheckExecutionRecordStatus.FAILED
                    ).value,
                    "evaluation_event": serialize_value(
                        _entry(DagsterEventType.ASSET_CHECK_EVALUATION, evaluation, now)
                    ),
                    "evaluation_event_timestamp": datetime.fromtimestamp(now, UTC).replace(tzinfo=None),
                    "materialization_event_storage_id": latest[key.asset_key][video],
                }
            )
    with storage.index_connection() as conn:
        conn.execute(AssetCheckExecutionsTable.insert(), checks)


def write_data_root(root: Path, videos: list[str], new: int) -> dict[str, str]:
    """Empty stand-ins for the videos and their per-video tables; the content versions instruction_labels would
    have stored (synthetic). Returns video id -> content version."""
    for folder in ("videos", *SIGNATURE_TABLES):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for video in videos:
        (root / "videos" / f"{video}.mp4").touch()
        for asset in SIGNATURE_TABLES:
            (root / asset / f"{video}.parquet").touch()
    for k in range(new):
        (root / "videos" / f"new_{k:05d}.mp4").touch()
    versions = {video: f"{random.getrandbits(64):016x}" for video in videos}
    store_video_versions(
        root,
        {video: (VideoVersion(versions[video], 30, 0), tables_signature(root, video)) for video in videos},
    )
    return versions


def timed(function, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def run(work: Path, count: int, new: int, failed_fraction: float) -> dict:
    random.seed(0)
    root, home = work / "data", work / "dagster"
    videos = [f"video_{k:05d}" for k in range(count)]
    failed = set(random.sample(videos, round(failed_fraction * count)))
    setup = time.perf_counter()
    versions = write_data_root(root, videos, new)
    home.mkdir(parents=True)
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        instance.add_dynamic_partitions(videos_partitions.name, videos)
        write_events(instance, videos, failed)
        for model in TRAINING_MODELS:
            instance.report_runless_asset_event(dg.AssetMaterialization(model, metadata={"dataset_version": "old"}))
        setup_s = time.perf_counter() - setup
        # what was written reads back as real events would
        assert set(failed_video_checks(instance, videos)) == failed, "the synthetic check results do not read back"
        usable = [v for v in videos if v not in failed]
        expected = combine_versions({v: versions[v] for v in usable}, validation_paintings(usable, 0.2))

        resources = {"storage": StorageResource(data_root=str(root))}
        schedule_s, request = timed(retrain_schedule, dg.build_schedule_context(instance=instance, resources=resources))
        assert isinstance(request, dg.RunRequest), request
        assert request.tags["inverse-painting/dataset_version"] == expected, "the tick's version is not the expected"
        sensor_s, result = timed(new_videos_sensor, dg.build_sensor_context(instance=instance, resources=resources))
        assert isinstance(result, dg.SensorResult) and len(result.run_requests) == new, result
        for k in range(new):
            (root / "videos" / f"new_{k:05d}.mp4").unlink()
        idle_s, idle = timed(new_videos_sensor, dg.build_sensor_context(instance=instance, resources=resources))
        assert isinstance(idle, dg.SkipReason), idle
    return {
        "videos": count,
        "failed_videos": len(failed),
        "setup_s": round(setup_s, 1),
        "retrain_schedule_tick_s": round(schedule_s, 2),
        f"new_videos_sensor_tick_s ({new} new files)": round(sensor_s, 2),
        "new_videos_sensor_tick_s (none new)": round(idle_s, 2),
        "tick_limit_s": 60,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--new", type=int, default=100, help="files in videos/ not registered yet")
    parser.add_argument("--failed-fraction", type=float, default=0.01, help="videos whose blocking checks failed")
    parser.add_argument("--work", type=Path, help="a new or empty folder (default: a temporary one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.work is not None:
        if args.work.exists() and any(args.work.iterdir()):
            parser.error(f"--work {args.work} is not empty; name a new or empty folder")
        args.work.mkdir(parents=True, exist_ok=True)
        report = run(args.work, args.videos, args.new, args.failed_fraction)
    else:
        with tempfile.TemporaryDirectory(prefix="tick_scale.") as work:
            report = run(Path(work), args.videos, args.new, args.failed_fraction)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, value in report.items():
            print(f"{name:45s} {value}")
    print(f"cpu cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
