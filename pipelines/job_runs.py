"""Running jobs from the command line (demo, curate, import-official, benchmark): one Dagster run per video.

Each run is an ordinary run of the code location that ``dagster dev`` loads (pipelines/instance.py
code_location_origin): it carries that location's job origin, so the UI lists it under its job, shows it on
the Overview timeline and re-executes it like a run launched there. The command executes it itself, in this
process, as the run worker that a launch would start does (the code location's executor is in-process,
pipelines/definitions.py): no second process importing the code location per run, and the job runs on the
definitions the command built for its data root.
"""

import logging
import os
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import dagster as dg
from dagster._core.code_pointer import CodePointer
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.execution.api import execute_run
from dagster._core.execution.execute_in_process import merge_run_tags
from dagster._core.origin import DEFAULT_DAGSTER_ENTRY_POINT, JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.remote_origin import RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.workspace.autodiscovery import loadable_targets_from_python_module
from tqdm import tqdm

from pipelines.errors import root_cause
from pipelines.instance import code_location_origin
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
    report = ChainReport()
    for video_id in tqdm(sorted(video_ids), desc=process_videos_job.name, unit="video"):
        result = execute_job_run(
            defs,
            instance,
            process_videos_job.name,
            run_config={**console_logs(verbose), **(run_config or {})},
            tags=tags or {},
            partition_key=video_id,
            assets=assets,
        )
        _record(result, report, video_id, instance)
    return report


def job_origins(defs: dg.Definitions, job_name: str) -> tuple[RemoteJobOrigin, JobPythonOrigin]:
    """Where ``job_name`` lives in the code location ``dagster dev`` loads: the origin the UI finds the run's job
    by (location, repository, job) and the one a run worker would load it from (module, attribute, interpreter).
    """
    location = code_location_origin()
    target = location.loadable_target_origin
    repository = defs.get_repository_def().name  # "__repository__" for a Definitions object
    attribute = target.attribute or _definitions_attribute(target.module_name)
    python_origin = RepositoryPythonOrigin(
        executable_path=sys.executable,
        # a code server given no working directory (workspace.yaml) records the one it was started in
        code_pointer=CodePointer.from_module(target.module_name, attribute, target.working_directory or os.getcwd()),
        container_image=None,
        entry_point=DEFAULT_DAGSTER_ENTRY_POINT,  # what a code server started by `dagster dev` records
        container_context={},
    )
    return (
        RemoteJobOrigin(RemoteRepositoryOrigin(location, repository), job_name),
        JobPythonOrigin(job_name, python_origin),
    )


@cache
def _definitions_attribute(module_name: str) -> str:
    """The attribute a code server finds in the module: its one Definitions object (``defs``). The commands
    have imported the module already (for build_definitions), so this is a lookup, not a load."""
    return loadable_targets_from_python_module(module_name, None)[0].attribute


def execute_job_run(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    job_name: str,
    run_config: dict[str, Any],
    tags: dict[str, str],
    partition_key: str | None = None,
    assets: list[str] | None = None,
) -> dg.JobExecutionResult:
    """Create a run of the code location's job ``job_name`` in ``instance`` and execute it in this process.

    The run's tags, partition and asset selection are those ``execute_in_process`` would give it; unlike that,
    it keeps the job's own executor and I/O manager, and its origins make it the code location's run (listed
    and re-executable in the UI). Failures are in the result (``raise_on_error=False``), not raised.
    """
    job = defs.resolve_job_def(job_name)
    selection = [dg.AssetKey(name) for name in assets] if assets else []
    if not run_config and partition_key and job.partitioned_config:
        run_config = dict(job.partitioned_config.get_run_config_for_partition_key(partition_key))
    run_tags = merge_run_tags(job, partition_key, tags, selection, instance, run_config)
    remote_origin, python_origin = job_origins(defs, job_name)
    run = instance.create_run_for_job(
        job_def=job,
        run_config=run_config,
        tags={**job.run_tags, **run_tags},
        asset_selection=frozenset(selection) or None,
        remote_job_origin=remote_origin,
        job_code_origin=python_origin,
    )
    return execute_run(InMemoryJob(job), run, instance, raise_on_error=False)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _record(result: dg.JobExecutionResult, report: ChainReport, label: str, instance: dg.DagsterInstance) -> None:
    """Add a run's materializations (with their `path` metadata), step failures and warnings to ``report``."""
    report.runs[label] = result.run_id
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        path = materialization.metadata.get("path")
        report.outputs[materialization.asset_key.to_user_string()].append((label, str(path.value) if path else ""))
    for failure in result.get_step_failure_events():
        report.failures[f"{label}/{failure.step_key}"] = _one_line(root_cause(failure.step_failure_data.error))
    if not result.success and not any(key.startswith(f"{label}/") for key in report.failures):
        # the run failed outside any step (a resource that did not start, the executor): still one line
        ends = result.filter_events(lambda event: event.is_run_failure)
        error = ends[0].job_failure_data.error if ends else None
        report.failures[f"{label}/run"] = _one_line(root_cause(error) if error else "the run failed (see its logs)")
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
    """An unpartitioned job (training, evaluation) as a run of the code location, executed in this process;
    failures collected, not raised."""
    result = execute_job_run(
        defs,
        instance,
        job_name,
        run_config={**console_logs(verbose), **run_config},
        tags={"inverse-painting/launched-by": launched_by},
    )
    report = ChainReport()
    _record(result, report, job_name, instance)
    return report
