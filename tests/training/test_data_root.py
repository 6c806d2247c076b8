"""DataRoot: the data root's layout (ARCHITECTURE §2), the variable that picks it and its MLflow store, in one place."""

import argparse
import re
from pathlib import Path

import pandas as pd
import pytest

from training.data.catalog import scan_videos
from training.data_root import DATA_ROOT_ENV, TRACKING_URI_ENV, DataRoot, default_data_root

ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "ARCHITECTURE.md"


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    monkeypatch.delenv(TRACKING_URI_ENV, raising=False)
    return monkeypatch


def test_the_root_is_the_option_else_the_variable_else_data(tmp_path: Path, clean_env):
    clean_env.chdir(tmp_path)
    here = tmp_path.resolve()
    assert DataRoot.from_env().root == here / "data"
    clean_env.setenv(DATA_ROOT_ENV, str(tmp_path / "from-env"))
    assert DataRoot.from_env().root == here / "from-env"
    assert DataRoot.from_env(tmp_path / "option").root == here / "option"
    clean_env.setenv(DATA_ROOT_ENV, "")  # set but empty: not the working folder itself
    assert DataRoot.from_env().root == here / "data"
    assert default_data_root() == "data"
    relative = DataRoot("rel")  # relative roots resolve once, so paths stay valid after a chdir
    clean_env.chdir("/")
    assert relative.table_path("keyframes", "v") == here / "rel" / "keyframes" / "v.parquet"


def test_the_commands_and_the_code_location_pick_the_same_root(tmp_path: Path, clean_env):
    from pipelines.cli import _roots
    from pipelines.resources import StorageResource
    from pipelines.resources import default_data_root as resources_default

    clean_env.setenv(DATA_ROOT_ENV, str(tmp_path / "env-root"))
    args = argparse.Namespace(data_root=None, dagster_home=tmp_path / "home")
    assert _roots(args)[0] == tmp_path / "env-root"
    assert StorageResource(data_root=resources_default()).root == DataRoot.from_env().root
    assert _roots(argparse.Namespace(data_root=tmp_path / "opt", dagster_home=None))[0] == tmp_path / "opt"


def test_tracking_uri_is_the_option_else_mlflow_variable_else_the_roots_sqlite_store(tmp_path: Path, clean_env):
    from training.experiment_tracking import sqlite_store_path

    layout = DataRoot(tmp_path)
    own = f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert layout.tracking_uri() == layout.default_tracking_uri == own
    assert sqlite_store_path(own) == layout.mlflow_db  # the file open_client locks and migrates
    clean_env.setenv(TRACKING_URI_ENV, "http://mlflow.example:5000")
    assert layout.tracking_uri() == "http://mlflow.example:5000"
    assert layout.tracking_uri("sqlite:///elsewhere.db") == "sqlite:///elsewhere.db"
    clean_env.setenv(TRACKING_URI_ENV, "")
    assert layout.tracking_uri() == own


def test_mlflow_resource_tracks_in_the_roots_store_unless_configured(tmp_path: Path, clean_env):
    import pipelines.resources as resources

    made = []
    clean_env.setattr(resources, "Tracker", lambda uri, artifact_root: made.append((uri, artifact_root)))
    # the resource reads only its config; definitions.py passes $MLFLOW_TRACKING_URI in
    clean_env.setenv(TRACKING_URI_ENV, "http://ignored-here")
    storage = resources.StorageResource(data_root=str(tmp_path / "root"))
    layout = DataRoot(tmp_path / "root")
    resources.MLflowResource(storage=storage).tracker()
    resources.MLflowResource(storage=storage, tracking_uri="http://srv", artifact_root="/arts").tracker()
    assert made == [(layout.default_tracking_uri, layout.artifact_root), ("http://srv", "/arts")]
    assert layout.root.is_dir()  # created for the SQLite file


def _section_2() -> str:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    return re.search(r"^## 2\..*?(?=^## 3\.)", text, flags=re.S | re.M).group(0)


def test_layout_is_the_one_architecture_section_2_describes(tmp_path: Path):
    section = _section_2()
    layout = DataRoot(tmp_path)
    described = {
        "videos/<video_id>.<ext>": layout.videos_dir / "<video_id>.<ext>",
        "<asset>/<video_id>.parquet": layout.table_path("<asset>", "<video_id>"),
        "<asset>/<video_id>/": layout.images_dir("<asset>", "<video_id>"),
        "settings/process_videos.yaml": layout.process_videos_settings_path,
        ".locks/": layout.locks_dir,
        "models/<asset>/": layout.models_dir("<asset>"),
        "models/tiny-base/": layout.tiny_base_dir,
        "mlflow.db": layout.mlflow_db,
        "mlartifacts/": layout.artifact_root,
        "label_exports/": layout.label_exports_dir,
        "benchmarks/<script>/": layout.benchmark_outputs_dir("<script>"),
    }
    assert "`DataRoot`" in section and "`training/data_root.py`" in section
    for spelled, path in described.items():
        assert f"`{spelled}`" in section, f"ARCHITECTURE §2 no longer names {spelled}"
        assert path.relative_to(layout.root).as_posix() + ("/" if spelled.endswith("/") else "") == spelled


def test_code_that_spells_its_own_paths_agrees_with_the_layout(tmp_path: Path):
    """Files that still build paths themselves (until they ask DataRoot) must match it."""
    from pipelines.settings import settings_path
    from training.data.storage import partition_lock_paths
    from training.labels.cli import store_dir

    layout = DataRoot(tmp_path)
    lock, holder = partition_lock_paths(layout.root, "v")
    assert lock.parent == holder.parent == layout.locks_dir
    assert settings_path(tmp_path) == layout.process_videos_settings_path
    assert store_dir(tmp_path) == layout.corrections_dir


PER_VIDEO = ("source_video", "sampled_frames", "canvas_geometry", "canvas_frames", "keyframes", "frame_pairs")
PER_VIDEO += ("difference_masks", "auto_labels", "instruction_labels")


def test_what_the_demo_wrote_is_where_the_layout_says(small_demo):
    """The real outputs of every asset (the session's demo run) sit at DataRoot's paths, and nothing else does."""
    layout = DataRoot(small_demo.data_root)
    videos = sorted(scan_videos(layout.videos_dir).videos)  # beside each video: the studio's ground truth
    assert len(videos) == 2
    for asset in PER_VIDEO:
        dropped = {layout.dropped_table_path(v) for v in videos} if asset == "keyframes" else set()
        expected = {layout.table_path(asset, v) for v in videos} | dropped
        images = {layout.images_dir(asset, v) for v in videos}
        # "_name": an asset's own bookkeeping beside its per-video outputs (e.g. an index of content versions)
        found = {p for p in layout.asset_dir(asset).iterdir() if not p.name.startswith("_")}
        assert expected <= found and found <= expected | images, asset
        for video in videos:
            table = pd.read_parquet(layout.table_path(asset, video))
            outputs = [c for c in table.columns if c.endswith("path") and asset != "source_video"]  # not the input
            for path in (Path(p) for column in outputs for p in table[column].dropna()):
                assert path.is_file() and path.is_relative_to(layout.root), f"{asset}: {path}"
    for made in (layout.process_videos_settings_path, layout.mlflow_db, layout.latest_dataset_path):
        assert made.is_file(), made
    for made in (layout.reconstructions_index_path, layout.benchmark_summary_path):
        assert made.is_file(), made
    assert layout.artifact_root.is_dir() and layout.tiny_base_dir.is_dir()
    assert {p.name for p in layout.models_dir().iterdir()} >= {"text_generator", "mask_generator", "renderer"}
    known = {layout.asset_dir(a) for a in PER_VIDEO} | {layout.videos_dir, layout.settings_dir, layout.locks_dir}
    known |= {layout.dataset_dir, layout.models_dir(), layout.reconstructions_dir, layout.benchmark_dir}
    known |= {layout.mlflow_db, layout.artifact_root, layout.corrections_dir}
    unknown = {p for p in layout.root.iterdir() if p not in known and not p.name.startswith(".mlflow.db")}
    assert not unknown, f"written outside DataRoot's layout: {sorted(map(str, unknown))}"
