"""The code location: definitions load, the sensor, the instance config, source_video + MLflow."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from mlflow import MlflowClient

from pipelines.definitions import build_definitions
from pipelines.errors import root_cause
from pipelines.instance import REPO_ROOT
from pipelines.partitions import videos_partitions
from pipelines.sensors import new_videos_sensor
from tests.conftest import write_test_video


def test_definitions_load_in_process(data_root: Path):
    defs = build_definitions(str(data_root))
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("process_videos")
    assert job.partitions_def == videos_partitions
    assert {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()} >= {"source_video"}


def test_dagster_cli_validates_the_code_location(tmp_path: Path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "INVERSE_PAINTING_DATA_ROOT": str(tmp_path / "data")}
    (tmp_path / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    dagster = Path(sys.executable).parent / "dagster"
    done = subprocess.run(
        [str(dagster), "definitions", "validate"], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "passed validation" in done.stderr + done.stdout


def test_instance_queues_one_training_run_at_a_time(tmp_path: Path):
    (tmp_path / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.run_coordinator.__class__.__name__ == "QueuedRunCoordinator"
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert {"key": "inverse-painting/kind", "value": "training", "limit": 1} in limits
        assert not instance.telemetry_enabled


def run_sensor(instance: dg.DagsterInstance, data_root: Path):
    defs = build_definitions(str(data_root))
    with dg.build_sensor_context(instance=instance, definitions=defs, resources=defs.resources) as context:
        return new_videos_sensor(context)


def test_sensor_registers_exactly_the_new_files(instance, data_root: Path):
    videos = data_root / "videos"
    assert isinstance(run_sensor(instance, data_root), dg.SkipReason)

    for name in ("b.mp4", "a.mov"):
        (videos / name).write_bytes(b"x")
    (videos / "notes.txt").write_text("not a video")
    result = run_sensor(instance, data_root)
    assert [req.partition_keys for req in result.dynamic_partitions_requests] == [["a", "b"]]
    assert sorted(req.partition_key for req in result.run_requests) == ["a", "b"]
    instance.add_dynamic_partitions("videos", ["a", "b"])

    (videos / "c.webm").write_bytes(b"x")
    result = run_sensor(instance, data_root)
    assert [req.partition_keys for req in result.dynamic_partitions_requests] == [["c"]]
    assert [req.partition_key for req in result.run_requests] == ["c"]
    assert all(req.job_name in (None, "process_videos") for req in result.run_requests)
    instance.add_dynamic_partitions("videos", ["c"])
    assert isinstance(run_sensor(instance, data_root), dg.SkipReason)


def materialize_source_video(instance, data_root: Path, keys: list[str]):
    defs = build_definitions(str(data_root))
    instance.add_dynamic_partitions("videos", keys)
    job = defs.resolve_job_def("process_videos")
    only = [dg.AssetKey("source_video")]
    return {
        key: job.execute_in_process(partition_key=key, instance=instance, raise_on_error=False, asset_selection=only)
        for key in keys
    }


def test_source_video_writes_its_table_and_links_its_mlflow_run(instance, data_root: Path):
    write_test_video(data_root / "videos" / "good.mp4", seconds=2.0)
    (data_root / "videos" / "bad.mp4").write_bytes(b"garbage" * 50)
    results = materialize_source_video(instance, data_root, ["bad", "good"])

    assert results["good"].success
    assert not results["bad"].success  # the bad video fails alone ...
    failure = root_cause(results["bad"].get_step_failure_events()[0].step_failure_data.error)
    assert "bad.mp4" in failure and "Re-encode" in failure

    table = pd.read_parquet(data_root / "source_video" / "good.parquet")
    assert table.loc[0, "video_id"] == "good" and table.loc[0, "codec"] == "h264"
    assert (data_root / "source_video" / "good" / "thumbnails.jpg").stat().st_size > 0
    assert not (data_root / "source_video" / "bad.parquet").exists()  # ... and leaves nothing behind

    event = instance.get_latest_materialization_event(dg.AssetKey("source_video"))
    metadata = event.asset_materialization.metadata
    assert event.asset_materialization.partition == "good"
    run_id = metadata["mlflow_run_id"].value
    client = MlflowClient(tracking_uri=f"sqlite:///{data_root.resolve() / 'mlflow.db'}")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["codec"] == "h264"
    assert run.data.tags["dagster.partition_key"] == "good"
    assert run.data.tags["dagster.run_id"] == results["good"].run_id
    assert [a.path for a in client.list_artifacts(run_id)] == ["thumbnails.jpg"]
    assert metadata["mlflow_run"].value.endswith(f"#/experiments/{run.info.experiment_id}/runs/{run_id}")


@pytest.mark.parametrize("missing", ["gone"])
def test_partition_whose_file_disappeared_fails_with_the_fix(instance, data_root: Path, missing: str):
    result = materialize_source_video(instance, data_root, [missing])[missing]
    assert not result.success
    assert "delete the partition" in root_cause(result.get_step_failure_events()[0].step_failure_data.error)


def test_the_printed_dagster_dev_line_starts_in_the_instance_with_the_checkouts_code_location(tmp_path: Path):
    """`dagster dev` warns when its folder holds a dagster.yaml that is not $DAGSTER_HOME's (the checkout's):
    the line the commands print starts it in $DAGSTER_HOME, with workspace.yaml naming the same location."""
    import shlex
    import tomllib

    from dagster._core.workspace.load import location_origins_from_yaml_paths

    from pipelines.instance import dagster_dev_command

    home, data = tmp_path / "home", tmp_path / "data"
    words = shlex.split(dagster_dev_command(home, data))
    assert words[:3] == ["cd", str(home.resolve()), "&&"]
    assert f"DAGSTER_HOME={home.resolve()}" in words and f"INVERSE_PAINTING_DATA_ROOT={data.resolve()}" in words
    workspace = Path(words[words.index("-w") + 1])
    assert workspace == REPO_ROOT / "workspace.yaml" and (REPO_ROOT / "dagster.yaml").is_file()
    [origin] = location_origins_from_yaml_paths([str(workspace)])
    tool = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["dagster"]
    assert origin.location_name == tool["code_location_name"]
    assert origin.loadable_target_origin.module_name == tool["module_name"]
