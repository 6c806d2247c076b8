"""Running the per-video chain from the command line (demo, curate): one Dagster run per video."""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from tqdm import tqdm

from pipelines.errors import root_cause
from pipelines.jobs import process_videos_job
from pipelines.partitions import videos_partitions

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class ChainReport:
    # asset key -> [(video id, output path)]
    outputs: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    # "<video id>/<step>" -> what went wrong
    failures: dict[str, str] = field(default_factory=dict)
    # "<video id>/<asset>:<check>" -> the failed check's description (the run itself succeeded: work pending)
    failed_checks: dict[str, str] = field(default_factory=dict)


def register_videos(instance: dg.DagsterInstance, video_ids: list[str]) -> list[str]:
    """Add the ids that are not yet partitions of `videos`; return those added."""
    known = set(instance.get_dynamic_partitions(videos_partitions.name))
    new = sorted(set(video_ids) - known)
    if new:
        instance.add_dynamic_partitions(videos_partitions.name, new)
    return new


def run_per_video_chain(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    video_ids: list[str],
    run_config: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    assets: list[str] | None = None,
) -> ChainReport:
    """Materialize the per-video assets (all, or only `assets`) for each video, in-process, in `instance`.

    One bad video must not stop the others: failures are collected, not raised.
    """
    job = defs.resolve_job_def(process_videos_job.name)
    report = ChainReport()
    for video_id in tqdm(sorted(video_ids), desc=process_videos_job.name, unit="video"):
        result = job.execute_in_process(
            partition_key=video_id,
            instance=instance,
            raise_on_error=False,
            run_config={**QUIET_LOGS, **(run_config or {})},
            tags=tags or {},
            asset_selection=[dg.AssetKey(name) for name in assets] if assets else None,
        )
        _record(result, report, video_id)
    return report


def _record(result: dg.ExecuteInProcessResult, report: ChainReport, label: str) -> None:
    """Add a run's materializations (with their `path` metadata) and step failures to ``report``."""
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        path = materialization.metadata.get("path")
        report.outputs[materialization.asset_key.to_user_string()].append((label, str(path.value) if path else ""))
    for failure in result.get_step_failure_events():
        report.failures[f"{label}/{failure.step_key}"] = root_cause(failure.step_failure_data.error)
    for check in result.get_asset_check_evaluations():
        if not check.passed:
            key = f"{label}/{check.asset_key.to_user_string()}:{check.check_name}"
            report.failed_checks[key] = check.description or "failed"


def run_job(
    defs: dg.Definitions, instance: dg.DagsterInstance, job_name: str, run_config: dict[str, Any], launched_by: str
) -> ChainReport:
    """An unpartitioned job in-process (training, evaluation); failures collected, not raised."""
    job = defs.resolve_job_def(job_name)
    result = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={**QUIET_LOGS, **run_config},
        tags={"inverse-painting/launched-by": launched_by},
    )
    report = ChainReport()
    _record(result, report, job_name)
    return report
