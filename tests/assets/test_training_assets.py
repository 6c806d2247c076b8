"""The training assets through Dagster: MLflow runs, registered versions, resume, and the retraining schedule."""

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import torch
from mlflow import MlflowClient

from pipelines.definitions import build_definitions
from pipelines.schedules import retrain_schedule
from training.train.synthetic_manifest import write_tiny_training_dataset

STEPS = {"text_generator": 1, "mask_generator": 3, "renderer": 3}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A dataset written as training_dataset would, and the three models trained for a few steps."""
    root = tmp_path_factory.mktemp("training") / "data"
    write_tiny_training_dataset(root)

    defs = build_definitions(str(root))
    job = defs.resolve_job_def("train_models")
    (root.parent / "home").mkdir()
    instance = dg.DagsterInstance.local_temp(tempdir=str(root.parent / "home"))
    config = {"ops": {name: {"config": {"steps": steps}} for name, steps in STEPS.items()}}
    results = [
        job.execute_in_process(
            instance=instance, run_config=config, asset_selection=[dg.AssetKey(name) for name in STEPS]
        )
        for _ in range(2)
    ]
    return {"root": root, "defs": defs, "instance": instance, "results": results}


def test_each_model_is_one_mlflow_run_with_a_loss_curve_and_a_registered_version(trained):
    first = trained["results"][0]
    assert first.success
    metadata = {
        e.materialization.asset_key.to_user_string(): e.materialization.metadata
        for e in first.get_asset_materialization_events()
    }
    assert set(metadata) == set(STEPS)
    client = MlflowClient(tracking_uri=f"sqlite:///{trained['root'] / 'mlflow.db'}")
    for name, entries in metadata.items():
        assert entries["dataset_version"].value == "v1"
        run = client.get_run(entries["mlflow_run_id"].value)
        params = run.data.params
        assert params["dataset_version"] == "v1" and params["model"] == name
        assert run.data.tags["inverse-painting/kind"] == "training"
        assert "loss" in run.data.metrics
        # the hyper-parameters the run used: the config's steps, the preset's lr and batch size, never "None"
        assert "None" not in params.values(), params
        assert float(params["lr"]) > 0 and int(params["batch_size"]) >= 1
        assert int(params["epochs" if name == "text_generator" else "steps"]) == STEPS[name]
        assert ("steps" in params) == (name != "text_generator")  # the text generator counts epochs
        # where it trained, resolved (never "auto"), and the checkpoint settings
        if not torch.cuda.is_available():
            assert (params["device"], params["dtype"]) == ("cpu", "fp32"), params
        assert params["save_optimizer_state"] == "False" and params["keep_checkpoints"] == "2"
        assert params["init"] == "pretrained"
        # the loss curve is a picture in the UI, not a file path
        assert entries["loss_curve"].value.startswith("![training loss](data:image/")
        assert Path(entries["loss_curve_path"].value).is_file()
        # the model is logged on the run (the runs table's Models column) and registered from that logged model
        registered = entries["registered_model"].value
        version = client.get_model_version(registered, entries["model_version"].value)
        model_id = version.source.removeprefix("models:/")
        assert [o.model_id for o in run.outputs.model_outputs] == [model_id]
        assert version.run_id == run.info.run_id and "training_dataset v1" in version.description
        assert run.info.run_id in version.description
        assert client.get_registered_model(registered).description.startswith(
            {"text_generator": "g_text", "mask_generator": "g_mask", "renderer": "Renderer"}[name]
        )
        assert entries["mlflow_model_uri"].value == f"models:/{registered}/{version.version}"
        assert Path(entries["path"].value).is_dir()
    experiment = client.get_experiment_by_name("inverse-painting/training")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert experiment.tags["metric_direction.loss"] == "lower"


def test_a_second_launch_with_the_same_data_and_config_resumes_instead_of_retraining(trained):
    second = trained["results"][1]
    assert second.success
    for event in second.get_asset_materialization_events():
        entries = event.materialization.metadata
        name = event.materialization.asset_key.to_user_string()
        assert entries["resumed_from_step"].value == entries["steps"].value, name
        # checkpoints hold the weights only by default: the resume says it had no optimizer state
        assert entries["resumed_optimizer_state"].value is False, name
        assert entries["model_version"].value == "2"  # a new registered version of the same weights


def test_schedule_launches_only_when_the_dataset_changed(trained, tmp_path: Path):
    root, instance = trained["root"], trained["instance"]
    resources = {"storage": trained["defs"].resources["storage"]}
    context = dg.build_schedule_context(instance=instance, resources=resources)
    assert isinstance(retrain_schedule(context), dg.SkipReason)  # no labelled videos in this data root

    # per-video tables whose dataset version differs from the trained "v1"
    manifest = pd.read_parquet(root / "training_dataset" / "v1" / "manifest.parquet")
    one = manifest[manifest["painting"] == manifest["painting"].iloc[0]].reset_index(drop=True)
    video = str(one["painting"].iloc[0])
    pairs = one.assign(pair_index=range(len(one)), prev_t_ms=0, next_t_ms=1)
    for asset, frame in (
        (
            "frame_pairs",
            pairs[["pair_index", "prev_t_ms", "next_t_ms", "prev_path", "next_path", "target_path", "dt_s"]],
        ),
        ("difference_masks", pairs[["pair_index", "mt_path", "md_path", "mt_mask_path", "md_mask_path"]]),
        (
            "instruction_labels",
            pairs.assign(pair_id=[f"{video}/{k:03d}" for k in range(len(one))])[["pair_index", "pair_id", "text"]],
        ),
    ):
        (root / asset).mkdir(exist_ok=True)
        frame.to_parquet(root / asset / f"{video}.parquet")
    request = retrain_schedule(dg.build_schedule_context(instance=instance, resources=resources))
    assert isinstance(request, dg.RunRequest) and request.run_key.startswith("retrain-")
    version = request.tags["inverse-painting/dataset_version"]
    for model in STEPS:  # models trained on exactly this version: nothing to do
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=model, metadata={"dataset_version": version})
        )
    assert isinstance(
        retrain_schedule(dg.build_schedule_context(instance=instance, resources=resources)), dg.SkipReason
    )


def test_paint_command_uses_the_registered_models_and_writes_frames_video_and_strip(trained, tmp_path: Path):
    import av
    import cv2
    import numpy as np

    from pipelines.cli import main

    target = np.full((48, 80, 3), 255, np.uint8)
    target[:24] = (40, 90, 200)
    target[24:] = (60, 140, 60)
    image = tmp_path / "painting.png"
    cv2.imwrite(str(image), cv2.cvtColor(target, cv2.COLOR_RGB2BGR))
    out = tmp_path / "out"
    quick = ["--steps", "2", "--max-updates", "2", "--distance", "colour-structure"]
    code = main(["paint", str(image), "--out", str(out), "--data-root", str(trained["root"]), *quick])
    assert code == 0
    frames = sorted(out.glob("[0-9][0-9][0-9].png"))
    assert 2 <= len(frames) <= 3 and frames[0].name == "000.png"
    assert (out / "distance.png").is_file()
    assert (cv2.imread(str(frames[0])) == 255).all() and cv2.imread(str(frames[-1])).shape == (48, 80, 3)
    with av.open(str(out / "process.mp4")) as video:
        assert sum(1 for _ in video.decode(video=0)) >= len(frames)
    assert (out / "steps.jpg").is_file()
    if not torch.cuda.is_available():  # auto: the CPU in fp32, recorded beside the outputs
        assert json.loads((out / ".inverse-painting-paint").read_text())["runtime"] == {
            "device": "cpu",
            "dtype": "fp32",
        }
        bf16 = ["--dtype", "bf16", "--data-root", str(trained["root"]), *quick]
        assert main(["paint", str(image), "--out", str(tmp_path / "bf16"), *bf16]) == 0
        assert json.loads((tmp_path / "bf16" / ".inverse-painting-paint").read_text())["runtime"]["dtype"] == "bf16"
    assert main(["paint", str(image), "--out", str(out), "--renderer", str(tmp_path / "nowhere")]) == 2
