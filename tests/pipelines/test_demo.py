"""The demo command end to end, in a reduced mode (tests/conftest.py small_demo)."""

from pathlib import Path

import dagster as dg
import pandas as pd
from mlflow import MlflowClient

from evaluation.metrics.score import distance_metric_name
from tests.conftest import SmallDemo


def test_demo_runs_end_to_end_and_prints_how_to_browse(small_demo: SmallDemo):
    data_root, home, done = small_demo.data_root, small_demo.dagster_home, small_demo.done
    videos = sorted(p.name for p in (data_root / "videos").glob("*.mp4"))
    assert len(videos) == 2
    for asset in ("source_video", "canvas_frames", "keyframes", "difference_masks", "instruction_labels"):
        assert f"{asset}: 2 partitions materialized" in done.stdout
    for asset in ("training_dataset", "text_generator", "mask_generator", "renderer"):
        assert f"{asset}: materialized" in done.stdout
    assert "dagster dev" in done.stdout and f"DAGSTER_HOME={home.resolve()}" in done.stdout
    assert f"mlflow ui --backend-store-uri sqlite:///{data_root.resolve() / 'mlflow.db'}" in done.stdout

    # The demo's run config (dense sampling, keyframes spaced for short videos) reached the assets.
    for video in videos:
        kept = pd.read_parquet(data_root / "keyframes" / video.replace(".mp4", ".parquet"))
        sampled = pd.read_parquet(data_root / "sampled_frames" / video.replace(".mp4", ".parquet"))
        # Defaults (2 s sampling, 20 s spacing) would give 10 samples and 1-2 keyframes on 20 s videos.
        assert len(sampled) >= 19 and len(kept) >= 3

    # The instance the printed command opens holds the runs and materializations.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert sorted(instance.get_dynamic_partitions("videos")) == sorted(Path(v).stem for v in videos)
        records = instance.fetch_materializations(dg.AssetKey("source_video"), limit=10).records
        assert len(records) == 2
    client = MlflowClient(tracking_uri=f"sqlite:///{data_root.resolve() / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("inverse-painting/ingest").experiment_id])
    assert len(runs) == 2 and all(run.info.status == "FINISHED" for run in runs)
    for model in ("text-generator", "mask-generator", "renderer"):
        versions = client.search_model_versions(f"name = '{model}'")
        # registered from the run's logged MLflow model, described in the registry
        assert versions and versions[0].source.startswith("models:/") and versions[0].description, model
        assert client.get_registered_model(model).description, model
    training = client.get_experiment_by_name("inverse-painting/training")
    assert training.tags["mlflow.experimentKind"] == "custom_model_development"  # not the GenAI screen
    for run in client.search_runs([training.experiment_id]):
        assert "None" not in run.data.params.values() and run.outputs.model_outputs, run.data.params["model"]

    # The benchmark: a table printed, one MLflow parent run with a child run per method.
    assert "| method |" in done.stdout and "| ours |" in done.stdout
    table = pd.read_csv(data_root / "benchmark" / "comparison.csv")
    assert {"ours", "ours-TE", "ours-TG", "ours-MG", "ours-RN", "ours-CE", "fade", "strokes"} <= set(table["method"])
    bench = client.get_experiment_by_name("inverse-painting/benchmark")
    runs = client.search_runs([bench.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(parents) == 1 and len(children) == len(table)
    # the distance goes by its backend: "lpips" only when it is LPIPS
    distance = distance_metric_name(parents[0].data.params["distance_backend"])
    assert distance in table.columns and all(distance in child.data.metrics for child in children)
    if distance != "lpips":
        assert "lpips" not in table.columns and not any("lpips" in child.data.metrics for child in children)


def test_demo_reports_a_bad_video_and_processes_the_others(tmp_path: Path, monkeypatch):
    from pipelines.demo import run_demo
    from training.data.studio import StudioConfig, generate_video

    # run_demo points the process at its instance and data root; monkeypatch restores both after.
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("INVERSE_PAINTING_DATA_ROOT", raising=False)
    data_root = tmp_path / "data"
    generate_video(data_root / "videos", "fine", seed=160, config=StudioConfig(duration_s=20, size=(320, 240), fps=10))
    (data_root / "videos" / "broken.mp4").write_bytes(b"\x00" * 1000)
    summary = run_demo(data_root=data_root, dagster_home=tmp_path / "home", count=1, train_steps=1)

    assert summary.generated == []  # videos were present: nothing generated
    assert [video for video, _ in summary.outputs["source_video"]] == ["fine"]
    assert [video for video, _ in summary.outputs["difference_masks"]] == ["fine"]
    # one painting trains, but none is held out to benchmark on: that stage says so instead of inventing one
    assert list(summary.failures) == ["broken/source_video", "evaluate_models/reconstructions"]
    assert "holds out no painting" in summary.failures["evaluate_models/reconstructions"]
    assert "broken.mp4" in summary.failures["broken/source_video"]
    assert "FAILED broken/source_video" in summary.render()
