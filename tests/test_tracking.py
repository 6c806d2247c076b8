"""MLflow tracking through explicit run ids: model registration and loading a registered version."""

from pathlib import Path

import pytest

from training.tracking import Tracker, registered_model_path


def test_registered_versions_are_found_newest_first_and_by_number(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri, artifact_root=tmp_path / "artifacts")
    versions = []
    for k in range(2):
        folder = tmp_path / f"model-{k}"
        folder.mkdir()
        (folder / "config.json").write_text(f'{{"k": {k}}}')
        with tracker.start_run("inverse-painting/training", f"run-{k}") as run:
            versions.append(run.register_model("renderer", folder, tags={"dataset_version": f"v{k}"}))
    assert versions == ["1", "2"]
    assert (registered_model_path(uri, "renderer") / "config.json").read_text() == '{"k": 1}'
    assert (registered_model_path(uri, "renderer", "1") / "config.json").read_text() == '{"k": 0}'
    with pytest.raises(LookupError, match="mask-generator"):
        registered_model_path(uri, "mask-generator")
