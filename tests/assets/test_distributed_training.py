"""A training asset with ``processes: 2``: torchrun launched through Dagster Pipes, 2 gloo processes on the CPU.

The renderer: its DDP needs find_unused_parameters (g_r's last layers feed nothing), the case a 2-process run breaks.
"""

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest
from mlflow import MlflowClient

from assets.training import TrainConfig, _config_hash
from pipelines.definitions import build_definitions
from pipelines.distributed_training import JOB_FILE
from training.models.presets import get_preset
from training.train.renderer import train_renderer
from training.train.synthetic_manifest import write_tiny_training_dataset

STEPS = 2


def test_the_renderer_trains_on_two_processes_through_pipes_resuming_a_killed_run(tmp_path: Path) -> None:
    root = tmp_path / "data"
    manifest = write_tiny_training_dataset(root)
    settings = {"steps": STEPS, "processes": 2, "device": "cpu"}
    out_dir = root / "models" / "renderer" / f"v1-{_config_hash(TrainConfig(**settings))}"
    # a run killed after its first step: a checkpoint at step 1 in the folder this config trains into
    preset = get_preset("tiny", tiny_root=root / "models" / "tiny-base")
    train_renderer(manifest, preset, out_dir, steps=1, seed=0, device="cpu")
    shutil.rmtree(out_dir / "model")

    job = build_definitions(str(root)).resolve_job_def("train_models")
    (tmp_path / "home").mkdir()
    instance = dg.DagsterInstance.local_temp(tempdir=str(tmp_path / "home"))
    run = job.execute_in_process(
        instance=instance,
        run_config={"ops": {"renderer": {"config": settings}}},
        asset_selection=[dg.AssetKey("renderer")],
    )
    assert run.success
    metadata = run.get_asset_materialization_events()[0].materialization.metadata

    # two ranks trained (rank 0 reports the group's size), resuming in the folder the in-process path uses
    assert metadata["world_size"].value == 2 and metadata["steps"].value == STEPS
    assert metadata["resumed_from_step"].value == 1
    assert Path(metadata["path"].value) == out_dir / "model" and (out_dir / "model" / "renderer.json").is_file()
    assert json.loads((out_dir / JOB_FILE).read_text())["out_dir"] == str(out_dir)
    # the subprocess' step lines reached the Dagster run's event log through Pipes
    messages = [entry.user_message for entry in instance.all_logs(run.run_id)]
    assert any(f"renderer step {STEPS} (2 processes): loss" in m for m in messages), messages
    # one MLflow run, as in-process: its loss per step, the processes asked for and the ranks that trained
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    mlflow_run = client.get_run(metadata["mlflow_run_id"].value)
    assert [m.step for m in client.get_metric_history(mlflow_run.info.run_id, "loss")] == [STEPS]
    assert mlflow_run.data.params["processes"] == "2" and mlflow_run.data.params["result.world_size"] == "2"
    assert metadata["final_loss"].value == pytest.approx(mlflow_run.data.metrics["loss"])
    assert metadata["model_version"].value == "1" and metadata["loss_curve"].value.startswith("![training loss]")


def test_the_text_generator_refuses_several_processes(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_tiny_training_dataset(root)
    job = build_definitions(str(root)).resolve_job_def("train_models")
    config = {"ops": {"text_generator": {"config": {"steps": 1, "processes": 2}}}}
    with pytest.raises(ValueError, match=r"text_generator: processes=2,"):
        job.execute_in_process(
            instance=dg.DagsterInstance.ephemeral(),
            run_config=config,
            asset_selection=[dg.AssetKey("text_generator")],
        )
