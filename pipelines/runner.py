"""Running the per-video chain from the command line (demo, curate): one Dagster run per video."""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from tqdm import tqdm

from pipelines.errors import root_cause
from pipelines.jobs import process_videos_job
from pipelines.partitions import videos_partitions

# The terminal is for the progress bar and our one-line summary. Dagster's console logger prints every failed
# step with its stack traces (about 9 KB per bad video, ERROR level): at CRITICAL it prints nothing. Every
# event, stack traces included, is still stored in the run's event log in the instance (the UI's Runs page);
# warnings are collected into the summary instead (ChainReport.warnings). `--verbose` shows it all again.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
VERBOSE_LOGS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def console_logs(verbose: bool = False) -> dict[str, Any]:
    """Run config of Dagster's console logger: silent for a CLI run, everything with ``verbose``."""
    return VERBOSE_LOGS if verbose else QUIET_LOGS


@dataclass
class ChainReport:
    # asset key -> [(video id, output path)]
    outputs: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    # "<video id>/<step>" -> what went wrong
    failures: dict[str, str] = field(default_factory=dict)
    # "<video id>/<asset>:<check>" -> the failed check's description (the run itself succeeded: work pending)
    failed_checks: dict[str, str] = field(default_factory=dict)
    # "<video id>/<step>" -> warnings the step logged (the console logger no longer prints them)
    warnings: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    # "<video id>" (or job name) -> the Dagster run id, where the full logs are
    runs: dict[str, str] = field(default_factory=dict)

    def failed_runs(self) -> dict[str, str]:
        """Label -> run id of the runs that had a failed step."""
        failed = {key.split("/", 1)[0] for key in self.failures}
        return {label: run_id for label, run_id in self.runs.items() if label in failed}


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
    verbose: bool = False,
) -> ChainReport:
    """Materialize the per-video assets (all, or only `assets`) for each video, in-process, in `instance`.

    One bad video must not stop the others: failures are collected, not raised. Dagster's console output is
    off unless ``verbose`` (see QUIET_LOGS).
    """
    job = defs.resolve_job_def(process_videos_job.name)
    report = ChainReport()
    for video_id in tqdm(sorted(video_ids), desc=process_videos_job.name, unit="video"):
        result = job.execute_in_process(
            partition_key=video_id,
            instance=instance,
            raise_on_error=False,
            run_config={**console_logs(verbose), **(run_config or {})},
            tags=tags or {},
            asset_selection=[dg.AssetKey(name) for name in assets] if assets else None,
        )
        _record(result, report, video_id, instance)
    return report


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _record(result: dg.ExecuteInProcessResult, report: ChainReport, label: str, instance: dg.DagsterInstance) -> None:
    """Add a run's materializations (with their `path` metadata), step failures and warnings to ``report``."""
    report.runs[label] = result.run_id
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        path = materialization.metadata.get("path")
        report.outputs[materialization.asset_key.to_user_string()].append((label, str(path.value) if path else ""))
    for failure in result.get_step_failure_events():
        report.failures[f"{label}/{failure.step_key}"] = _one_line(root_cause(failure.step_failure_data.error))
    for check in result.get_asset_check_evaluations():
        if not check.passed:
            key = f"{label}/{check.asset_key.to_user_string()}:{check.check_name}"
            report.failed_checks[key] = check.description or "failed"
    logs = instance.all_logs(result.run_id)
    # Dagster's own step events are reported above (and its "not executing" notes for the steps after a
    # failure are not news): only what a step that ran logged at WARNING.
    started = {e.step_key for e in logs if e.dagster_event is not None and e.dagster_event.is_step_start}
    for entry in logs:
        logged = entry.dagster_event is None and entry.level >= logging.WARNING and entry.user_message
        if logged and (entry.step_key is None or entry.step_key in started):
            report.warnings[f"{label}/{entry.step_key or 'run'}"].append(_one_line(entry.user_message))


def run_job(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    job_name: str,
    run_config: dict[str, Any],
    launched_by: str,
    verbose: bool = False,
) -> ChainReport:
    """An unpartitioned job in-process (training, evaluation); failures collected, not raised."""
    job = defs.resolve_job_def(job_name)
    result = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={**console_logs(verbose), **run_config},
        tags={"inverse-painting/launched-by": launched_by},
    )
    report = ChainReport()
    _record(result, report, job_name, instance)
    return report
