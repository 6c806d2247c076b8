"""MLflow tracking through explicit run ids: experiments, model registration and loading a registered version."""

import shutil
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from training.experiment_tracking import EXPERIMENT_KIND_TAG, Tracker, registered_model_path


def _copy(folder: Path):
    return lambda dest, spec: shutil.copytree(folder, dest)


def test_registered_versions_are_found_newest_first_and_by_number(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri, artifact_root=tmp_path / "artifacts")
    versions = []
    for k in range(2):
        folder = tmp_path / f"model-{k}"
        folder.mkdir()
        (folder / "config.json").write_text(f'{{"k": {k}}}')
        with tracker.start_run("inverse-painting/training", f"run-{k}") as run:
            model_id = run.log_model("renderer", _copy(folder))
            versions.append(run.register_model("renderer", model_id, tags={"dataset_version": f"v{k}"}))
    assert versions == ["1", "2"]
    # registering through the registry's process-wide client leaves no global tracking URI behind
    assert not mlflow.is_tracking_uri_set()
    assert (registered_model_path(uri, "renderer") / "config.json").read_text() == '{"k": 1}'
    assert (registered_model_path(uri, "renderer", "1") / "config.json").read_text() == '{"k": 0}'
    with pytest.raises(LookupError, match="mask-generator"):
        registered_model_path(uri, "mask-generator")


def test_a_version_registered_from_a_bare_folder_still_resolves_to_it(tmp_path: Path) -> None:
    """Data roots from before models were logged: the version's source is the run's ``model`` folder."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri, artifact_root=tmp_path / "artifacts")
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with tracker.start_run("inverse-painting/training", "old") as run:
        run.log_artifacts(folder, "model")
        source = f"{tracker.client.get_run(run.run_id).info.artifact_uri}/model"
        tracker.client.create_registered_model("renderer")
        tracker.client.create_model_version("renderer", source, run_id=run.run_id)
    assert (registered_model_path(uri, "renderer") / "config.json").is_file()


def test_experiments_are_model_development_ones_with_described_metric_directions(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    old = client.create_experiment("made-before", artifact_location=(tmp_path / "a").as_uri())
    chosen = client.create_experiment("user-chose", tags={EXPERIMENT_KIND_TAG: "genai_development"})
    tracker = Tracker(uri, artifact_root=tmp_path / "artifacts")

    new = tracker.describe_experiment("inverse-painting/benchmark", "what it holds", {"iou": False, "ddc": True})
    tags = client.get_experiment(new).tags
    assert tags[EXPERIMENT_KIND_TAG] == "custom_model_development"  # not the GenAI screen
    assert tags["mlflow.note.content"] == "what it holds"
    assert tags["metric_direction.iou"] == "higher" and tags["metric_direction.ddc"] == "lower"
    assert tracker.experiment_id("made-before") == old
    assert client.get_experiment(old).tags[EXPERIMENT_KIND_TAG] == "custom_model_development"
    tracker.experiment_id("user-chose")
    assert client.get_experiment(chosen).tags[EXPERIMENT_KIND_TAG] == "genai_development"
