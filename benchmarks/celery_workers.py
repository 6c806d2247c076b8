"""8 studio videos processed by the cluster deployment (deploy/) with 1, then 2, Celery worker processes.

    python -m benchmarks.celery_workers [--videos 8] [--work /tmp/celery-bench]

Each measure starts its own PostgreSQL, Redis, code server and Celery worker (tests/cluster_services.py), waits
until the worker is up, then starts the daemon: its sensor queues one process_videos run per video at once, and
the wall time runs from the first run queued to the last run finished (what the worker count changes: not the
servers' start). The videos (24 s, 320x240) and settings are tests/pipelines/test_cluster.py's, generated once.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import dagster as dg

from tests.cluster_services import cluster, missing_servers
from tests.pipelines.test_cluster import prepare_data_root
from training.data.catalog import scan_videos


def measure(work: Path, videos: Path, workers: int, timeout_s: float = 3600) -> dict[str, float]:
    """Process every video of ``videos`` on a pool of ``workers`` processes; the wall time and the step time."""
    data_root = work / "data"
    shutil.copytree(videos, data_root)
    with cluster(work, data_root, daemon=False) as deployment:
        deployment.start_workers(concurrency=workers)
        deployment.start_daemon()
        expected = len(scan_videos(data_root / "videos").videos)  # one run per video, as the sensor sees them
        os.environ.update(deployment.instance_env)
        with dg.DagsterInstance.from_config(str(deployment.home)) as instance:
            deadline = time.monotonic() + timeout_s
            while True:
                records = instance.get_run_records()
                if len(records) >= expected and all(r.dagster_run.is_finished for r in records):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{workers} workers: runs not finished after {timeout_s} s")
                time.sleep(1.0)
            # A video failing a blocking check (too few keyframes) fails its run at the same step with either pool.
            failed = sum(r.dagster_run.status != dg.DagsterRunStatus.SUCCESS for r in records)
            first = min(r.create_timestamp.timestamp() for r in records)
            last = max(r.end_time for r in records if r.end_time)
            steps = 0.0
            for record in records:
                for step in instance.get_run_step_stats(record.dagster_run.run_id):
                    if step.start_time and step.end_time:
                        steps += step.end_time - step.start_time
    return {"wall_s": last - first, "step_s": steps, "runs": len(records), "failed": failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a new temporary one)")
    args = parser.parse_args()
    if missing_servers():
        raise SystemExit(f"missing {', '.join(missing_servers())}: make services (or apt-get install postgresql redis)")
    work = args.work or Path(tempfile.mkdtemp(prefix="celery-bench-"))
    source = work / "source"
    prepare_data_root(source, videos=args.videos, seed=0)
    results = {workers: measure(work / f"workers-{workers}", source, workers) for workers in (1, 2)}
    one, two = results[1]["wall_s"], results[2]["wall_s"]
    print(f"{args.videos} studio videos, process_videos per video, steps on a Celery pool (logs under {work})")
    print("| Celery worker processes | wall time (s) | sum of step times (s) | runs (failed) |")
    print("|---:|---:|---:|---:|")
    for workers, result in results.items():
        print(
            f"| {workers} | {result['wall_s']:.1f} | {result['step_s']:.1f} | {result['runs']} ({result['failed']}) |"
        )
    print(f"speed-up 1 -> 2 workers: {one / two:.2f}x")


if __name__ == "__main__":
    main()
