"""Runs the command line makes are runs of the code location: the UI lists them under their job and re-executes them."""

import os
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import (
    InProcessWorkspaceLoadTarget,
    PyProjectFileTarget,
    WorkspaceFileTarget,
)
from dagster_graphql.client.query import LAUNCH_PIPELINE_REEXECUTION_MUTATION
from dagster_graphql.test.utils import execute_dagster_graphql

from pipelines.definitions import build_definitions
from pipelines.instance import REPO_ROOT
from pipelines.job_runs import register_videos, run_job, run_per_video_chain
from pipelines.stale_runs import run_process
from tests.conftest import write_test_video

LOCATION = "inverse-painting"
JOB = "process_videos"
# The query behind a job's Runs tab in the UI (GraphenePipeline.runs: the job's name and its repository's label).
JOB_RUNS = """
query($selector: PipelineSelector!) {
  pipelineOrError(params: $selector) {
    __typename
    ... on Pipeline { runs { runId status } }
  }
}
"""


@pytest.fixture
def cli_run(tmp_path: Path):
    """One `source_video` run of a tiny video made as `curate` makes it, in an instance whose launcher runs
    launched runs synchronously (as a run worker would, in this process)."""
    root = tmp_path / "data"
    write_test_video(root / "videos" / "clip.mp4")
    defs = build_definitions(str(root))
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(
        temp_dir=str(tmp_path / "home"), synchronous_run_launcher=True, synchronous_run_coordinator=True
    ) as instance:
        register_videos(instance, ["clip"])
        report = run_per_video_chain(
            defs, instance, ["clip"], assets=["source_video"], tags={"inverse-painting/launched-by": "curate"}
        )
        assert not report.failures, report.failures
        yield {"root": root, "instance": instance, "run": instance.get_run_by_id(report.runs["clip"])}


def test_cli_runs_have_the_code_locations_origin(cli_run, monkeypatch: pytest.MonkeyPatch):
    run = cli_run["run"]
    origin = run.remote_job_origin
    assert origin is not None, "a CLI run without an origin cannot be re-executed from the UI"
    assert origin.location_name == LOCATION and origin.job_name == JOB
    assert origin.repository_origin.repository_name == "__repository__"
    # the location `dagster dev` serves, started either way: the README's workspace.yaml, or in the checkout
    monkeypatch.chdir(REPO_ROOT)
    location = origin.repository_origin.code_location_origin
    ways = [PyProjectFileTarget("pyproject.toml")]
    ways += [WorkspaceFileTarget(["workspace.yaml"])] if (REPO_ROOT / "workspace.yaml").is_file() else []
    for way in ways:
        (served,) = way.create_origins()
        assert served.location_name == location.location_name
        assert served.loadable_target_origin.module_name == location.loadable_target_origin.module_name
    pointer = run.job_code_origin.repository_origin.code_pointer
    assert (pointer.module, pointer.fn_name) == ("pipelines.definitions", "defs")
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.tags["dagster/partition"] == "clip" and run.tags["inverse-painting/launched-by"] == "curate"
    assert run.asset_selection == {dg.AssetKey("source_video")}
    # the partition lease finds the run's process from its RUN_START event: the command's own
    found = run_process(cli_run["instance"], run.run_id)
    assert found is not None and found[0] == os.getpid()


def test_the_ui_lists_and_reexecutes_cli_runs(cli_run, tmp_path: Path):
    instance, parent = cli_run["instance"], cli_run["run"]
    # A code location named as the UI's, on this test's data root (a run executes the location's definitions).
    location_file = tmp_path / "location.py"
    location_file.write_text(
        f"from pipelines.definitions import build_definitions\n\ndefs = build_definitions({str(cli_run['root'])!r})\n"
    )
    target = InProcessWorkspaceLoadTarget(
        [
            InProcessCodeLocationOrigin(
                LoadableTargetOrigin(python_file=str(location_file), working_directory=str(REPO_ROOT)),
                location_name=LOCATION,
            )
        ]
    )
    with WorkspaceProcessContext(instance, target) as process_context:
        context = process_context.create_request_context()
        selector = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "pipelineName": JOB}
        listed = execute_dagster_graphql(context, JOB_RUNS, {"selector": selector}).data["pipelineOrError"]
        assert listed["__typename"] == "Pipeline", listed
        assert [run["runId"] for run in listed["runs"]] == [parent.run_id]

        result = execute_dagster_graphql(
            context,
            LAUNCH_PIPELINE_REEXECUTION_MUTATION,
            {"reexecutionParams": {"parentRunId": parent.run_id, "strategy": "ALL_STEPS"}},
        ).data["launchPipelineReexecution"]
        assert result["__typename"] == "LaunchRunSuccess", result
        child = instance.get_run_by_id(result["run"]["runId"])
        assert child.status == dg.DagsterRunStatus.SUCCESS
        assert child.parent_run_id == parent.run_id and child.tags["dagster/partition"] == "clip"
        assert child.asset_selection == {dg.AssetKey("source_video")}
        listed = execute_dagster_graphql(context, JOB_RUNS, {"selector": selector}).data["pipelineOrError"]
        assert {run["runId"] for run in listed["runs"]} == {parent.run_id, child.run_id}


def test_unpartitioned_cli_runs_too(cli_run):
    """`benchmark` without --gt and the demo's training and evaluation: runs of the location, failures reported."""
    defs = build_definitions(str(cli_run["root"]))
    report = run_job(defs, cli_run["instance"], "evaluate_models", {}, launched_by="benchmark")
    run = cli_run["instance"].get_run_by_id(report.runs["evaluate_models"])
    assert (run.remote_job_origin.location_name, run.remote_job_origin.job_name) == (LOCATION, "evaluate_models")
    assert run.status == dg.DagsterRunStatus.FAILURE and run.tags["inverse-painting/launched-by"] == "benchmark"
    # no trained models in this data root: the failed step is one line in the report, not an exception
    assert list(report.failures) == ["evaluate_models/reconstructions"], report.failures
