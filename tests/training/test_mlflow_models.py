"""The trained models as MLflow models: logged as pyfuncs with signature and example, registered, loadable by URI."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from training.experiment_tracking import REGISTERED_MODELS, Tracker, registered_model_path
from training.mlflow_models import KINDS, decode_gray, decode_rgb, input_example, save_pyfunc


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """The three tiny models (the text generator trained one epoch, the others as initialised: what is logged is
    the same save_pretrained folder), logged and registered in a fresh store."""
    from training.models.mask_generator import MaskGenerator
    from training.models.presets import get_preset
    from training.models.renderer import RenderPipeline
    from training.text_generator import train_text_generator
    from training.train.synthetic_manifest import write_tiny_training_dataset

    root = tmp_path_factory.mktemp("mlflow-models")
    write_tiny_training_dataset(root / "data")
    conversations = root / "data" / "training_dataset" / "v1" / "text_generator" / "train"
    preset = get_preset("tiny", tiny_root=root / "tiny-base")
    text = train_text_generator(next(conversations.glob("*.json")), "tiny", root / "text", epochs=1)
    folders = {
        "text_generator": text.model_dir,
        "mask_generator": MaskGenerator.from_preset(preset).save_pretrained(root / "mask"),
        "renderer": RenderPipeline.from_preset(preset).save_pretrained(root / "renderer"),
    }
    uri = f"sqlite:///{root / 'mlflow.db'}"
    tracker = Tracker(uri, artifact_root=root / "artifacts")
    runs = {}
    for asset, folder in folders.items():
        with tracker.start_run("inverse-painting/training", asset) as run:
            model_id = run.log_model(asset, lambda dest, spec, a=asset, f=folder: save_pyfunc(a, f, dest, spec))
            version = run.register_model(
                REGISTERED_MODELS[asset], model_id, description=f"{asset} v1", model_description=f"what {asset} does"
            )
            runs[asset] = (run.run_id, model_id, version)
    return {"uri": uri, "folders": folders, "runs": runs}


def test_each_model_is_a_logged_pyfunc_with_signature_example_and_a_described_registered_version(registered):
    client = MlflowClient(tracking_uri=registered["uri"])
    for asset, (run_id, model_id, version) in registered["runs"].items():
        name = REGISTERED_MODELS[asset]
        assert version == "1"
        logged = client.get_logged_model(model_id)
        assert logged.source_run_id == run_id and logged.status.to_proto() == logged.status.READY.to_proto()
        assert [o.model_id for o in client.get_run(run_id).outputs.model_outputs] == [model_id]  # the runs table
        found = client.get_model_version(name, version)
        assert found.source == f"models:/{model_id}" and found.run_id == run_id
        assert found.description == f"{asset} v1"
        assert client.get_registered_model(name).description == f"what {asset} does"
        # the version's files are an MLflow model: MLmodel with the signature, input example, the wrapped folder
        folder = Path(client.get_model_version_download_uri(name, version).removeprefix("file://"))
        mlmodel = (folder / "MLmodel").read_text()
        assert "python_function" in mlmodel and "signature" in mlmodel and (folder / "input_example.json").is_file()
        assert registered_model_path(registered["uri"], name).parent == folder / "artifacts"
        assert sorted(p.name for p in registered_model_path(registered["uri"], name).iterdir()) == sorted(
            p.name for p in registered["folders"][asset].iterdir()
        )


def test_the_registered_models_load_by_uri_and_predict_with_the_project_models(registered, monkeypatch):
    import mlflow.pyfunc
    import torch

    from training.models.mask_generator import load_mask_generator
    from training.models.renderer import load_renderer

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered["uri"])
    renderer = mlflow.pyfunc.load_model("models:/renderer/1")
    assert renderer.metadata.get_input_schema().input_names() == KINDS["renderer"].inputs.input_names()
    example = input_example("renderer")
    frame = decode_rgb(renderer.predict(example, params={"seed": 3})["frame"].iloc[0])
    assert frame.shape == (16, 16, 3)
    # the same frame as the project's renderer makes from the same inputs and seed
    direct = load_renderer(registered["folders"]["renderer"])
    row = example.iloc[0]
    expected = direct.generate(
        decode_rgb(row["current"]), decode_rgb(row["target"]), "sky", decode_gray(row["mask"]), 20.0,
        direct.default_steps, direct.default_guidance, torch.Generator().manual_seed(3),
    )  # fmt: skip
    assert np.array_equal(frame, expected)

    masks = mlflow.pyfunc.load_model("models:/mask-generator/1")
    two = pd.concat([input_example("mask_generator")] * 2, ignore_index=True)
    out = masks.predict(two, params={"use_time": False})
    assert len(out) == 2
    probability = decode_gray(out["mask_probability"].iloc[0])
    row = two.iloc[0]
    expected = load_mask_generator(registered["folders"]["mask_generator"]).predict(
        decode_rgb(row["target"]), decode_rgb(row["current"]), decode_gray(row["difference_mask"]), "sky", 20.0, False
    )
    assert probability.shape == (16, 16) and np.abs(probability.astype(float) - expected * 255).max() <= 0.5

    text = mlflow.pyfunc.load_model("models:/text-generator/1").predict(input_example("text_generator"))
    assert list(text.columns) == ["instruction"] and isinstance(text["instruction"].iloc[0], str)


def test_a_model_folder_that_is_missing_or_of_an_unknown_kind_is_refused(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no trained model folder"):
        save_pyfunc("renderer", tmp_path / "nowhere", tmp_path / "out")
    with pytest.raises(ValueError, match="no MLflow model kind"):
        save_pyfunc("labeller", tmp_path, tmp_path / "out")
