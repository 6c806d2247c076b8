"""Extra ground-truth folders (the released layout) painted and scored as groups of their own, through Dagster."""

import json
from pathlib import Path
from urllib.parse import quote, unquote

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from evaluation.groups import VAL_GROUP, extra_groups
from evaluation.reconstruct import Models
from pipelines.definitions import build_definitions
from training.data.images import write_image
from training.data.official_release import ORDER_FILE
from training.models.renderer import Guidance


def write_released(folder: Path, clocks: list[str], seed: int, order_file: bool = True) -> Path:
    """One painting in the released layout: ``{index}_{m:ss}.jpg`` keyframes, bands appearing top to bottom."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    canvas = np.full((24, 32, 3), 255, np.uint8)
    stems = []
    for k, clock in enumerate(clocks, start=1):
        canvas[(k - 1) * 24 // len(clocks) : k * 24 // len(clocks)] = rng.integers(0, 200, 3)
        stems.append(f"{k}_{clock}")
        write_image(folder / f"{stems[-1]}.jpg", canvas)
    if order_file:
        (folder / ORDER_FILE).write_text(json.dumps({stems[-1]: stems[:-1]}))
    return folder


class _Renderer:
    """Blends the target into the masked region: enough for the painting loop to run on real frames."""

    resolution = 32
    default_guidance = Guidance()
    default_steps = 1

    def generate(self, current, target, text, mask, *settings, **options):  # Δt, sampler steps, guidance, …
        out = current.copy()
        out[mask] = (out[mask] * 0.5 + target[mask] * 0.5).astype(np.uint8)
        return out


class _Masks:
    def predict(self, target, current, *conditions, **options):
        return np.full(current.shape[:2], 0.9, np.float32)


class _Text:
    def generate(self, current, target):
        return "sky"


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """A dataset as training_dataset writes it: one training painting, the validation painting ``v1``."""
    root = tmp_path / "data"
    write_released(root / "keyframes" / "v1", ["0:05", "0:10", "0:15"], seed=0, order_file=False)
    manifest = pd.DataFrame(
        {"painting": ["t1"] * 3 + ["v1"] * 3, "split": ["train"] * 3 + ["val"] * 3, "dt_s": [5.0] * 6}
    ).assign(video_id=lambda m: m["painting"])
    folder = root / "training_dataset" / "abc"
    folder.mkdir(parents=True)
    manifest.to_parquet(folder / "manifest.parquet")
    latest = {"version": "abc", "manifest": str(folder / "manifest.parquet")}
    (root / "training_dataset" / "latest.json").write_text(json.dumps(latest))
    return root


def test_extra_folders_are_painted_and_scored_as_their_own_groups(data_root, tmp_path, instance, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("INVERSE_PAINTING_MLFLOW_UI", raising=False)  # links go to mlflow ui's default address
    monkeypatch.setattr(
        "assets.evaluation.load_registered_models",
        lambda uri, **placement: Models(_Renderer(), _Masks(), _Text(), versions={"renderer_version": "1"}),
    )
    example = write_released(tmp_path / "release" / "example", ["0:15", "0:40", "0:53"], seed=1)
    clash = write_released(tmp_path / "mine" / "v1", ["0:10", "0:30"], seed=2)  # named like the validation painting
    settings = {
        "dt_factors": [],
        "ablations": [],
        "baselines": ["fade"],
        "num_inference_steps": 1,
        "distance": "colour-structure",
        "fid_weights": None,
        "extra_ground_truth": [str(example), str(clash)],
    }
    job = build_definitions(str(data_root)).resolve_job_def("evaluate_models")
    run_config = {"ops": {"reconstructions": {"config": settings}, "benchmark": {"config": settings}}}
    result = job.execute_in_process(instance=instance, run_config=run_config)
    assert result.success

    # reconstructions: the validation split at the root as before, each extra group in its own folder
    rec = data_root / "reconstructions"
    index = json.loads((rec / "reconstructions.json").read_text())
    assert [(g["name"], g["paintings"]) for g in index["groups"]] == [
        ("val", ["v1"]),
        ("example", ["example"]),
        ("official-v1", ["official-v1"]),
    ]
    assert index["groups"][1]["folder"] == str(example)
    # where the models ran, resolved (this machine has no GPU): benchmark logs it as params
    assert (index["settings"]["device"], index["settings"]["dtype"]) == ("cpu", "fp32")
    for folder in ("ours/v1", "fade/v1", "example/ours/example", "official-v1/fade/official-v1"):
        assert list((rec / folder).glob("*.png")), folder
    assert set(index["methods"][0]["groups"]["example"]) == {"example"}

    # benchmark: one table, output folder and MLflow parent run per group, tagged with the group
    bench = data_root / "benchmark"
    assert (bench / "comparison.csv").is_file() and (bench / "example" / "comparison.csv").is_file()
    assert (bench / "official-v1" / "fade" / "official-v1.mp4").is_file()
    summary = json.loads((bench / "summary.json").read_text())["groups"]
    assert list(summary) == ["val", "example", "official-v1"] and summary["example"]["ground_truth"] == str(example)
    wins = {"distance_colour_structure", "iou", "ddc", "dts"}  # the distance by its backend, not "lpips"
    assert all(set(s["wins_over_every_baseline"]) == wins for s in summary.values())
    metadata = result.asset_materializations_for_node("benchmark")[0].metadata
    tables = metadata["comparison"].value
    assert tables.count("| ours |") == 3 and "### val: validation split (v1)" in tables
    assert f"### example: {example} (example)" in tables
    assert metadata["ours_beats_every_baseline_on"].value.startswith("val: ")
    assert "official-v1: " in metadata["ours_beats_every_baseline_on"].value
    checks = result.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [("metrics_finite", True)]
    assert checks[0].description.startswith("D (colour-structure-v1), IoU")  # not "LPIPS"
    assert metadata["distance_metric"].value == "distance_colour_structure"

    client = MlflowClient(tracking_uri=f"sqlite:///{data_root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("inverse-painting/benchmark")
    parents = client.search_runs([experiment.experiment_id], filter_string="tags.benchmark = 'parent'")
    by_group = {r.data.tags["group"]: r for r in parents}
    assert {g: r.info.run_name for g, r in by_group.items()} == {
        "val": "benchmark",
        "example": "benchmark:example",
        "official-v1": "benchmark:official-v1",
    }
    assert by_group["example"].data.params["ground_truth"] == str(example)
    assert by_group["example"].data.params["paintings"] == "example"
    assert (by_group["val"].data.params["device"], by_group["val"].data.params["dtype"]) == ("cpu", "fp32")
    children = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{by_group['example'].info.run_id}'"
    )
    assert sorted(r.data.tags["method"] for r in children) == ["fade", "ours"]
    assert all(r.data.tags["group"] == "example" for r in children)
    # the asset links to MLflow's compare view of each group's child runs and to its parent run
    compare = metadata["mlflow_compare_example"]
    assert isinstance(compare, dg.UrlMetadataValue) and compare.value.startswith(
        "http://127.0.0.1:5000/#/compare-runs?"
    )
    assert all(r.info.run_id in unquote(compare.value) for r in children)
    assert f"experiments={quote(json.dumps([experiment.experiment_id]))}" in compare.value
    parent_link = metadata["mlflow_parent_run"].value
    assert parent_link.endswith(f"#/experiments/{experiment.experiment_id}/runs/{by_group['val'].info.run_id}")
    assert isinstance(metadata["mlflow_compare"], dg.UrlMetadataValue)


def test_a_bad_extra_folder_fails_before_painting_with_the_folder_and_the_fix(tmp_path: Path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ValueError, match=rf"extra_ground_truth {missing}: .*Point it at one painting's folder"):
        extra_groups([missing], taken=[])
    write_released(tmp_path / "a" / "ours", ["0:10", "0:30"], seed=0)
    write_released(tmp_path / "b" / "ours", ["0:10", "0:30"], seed=1)
    (first,) = extra_groups([tmp_path / "a" / "ours"], taken=["ours"])  # a method's name: prefixed
    assert first.name == "official-ours" and first.paintings[0].name == "official-ours" and first.name != VAL_GROUP
    with pytest.raises(ValueError, match=r"b/ours and .*a/ours are both named 'ours'; rename a folder"):
        extra_groups([tmp_path / "a" / "ours", tmp_path / "b" / "ours"], taken=[])
    with pytest.raises(ValueError, match=r"'official-ours' is taken too"):
        extra_groups([tmp_path / "a" / "ours"], taken=["ours", "official-ours"])
