"""The on-disk layout of a data root (ARCHITECTURE §2): every path the project reads or writes under it.

One place spells the layout, the environment variable that picks the root, and the MLflow store kept in it;
the Dagster resources (``pipelines/resources.py``), the command-line tools and the benchmark scripts all ask
a :class:`DataRoot` for their paths. Plain Python, no Dagster: the CLIs and tests use it without a code location.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATA_ROOT_ENV = "INVERSE_PAINTING_DATA_ROOT"
DEFAULT_DATA_ROOT = "data"
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"  # MLflow's own variable: a server shared by several data roots

# Asset folders whose name other code needs beyond the per-video helpers.
VIDEOS = "videos"
KEYFRAMES = "keyframes"
LABEL_CORRECTIONS = "label_corrections"
TRAINING_DATASET = "training_dataset"
MODELS = "models"
RECONSTRUCTIONS = "reconstructions"
BENCHMARK = "benchmark"
SETTINGS = "settings"
RECONSTRUCTIONS_INDEX = "reconstructions.json"  # inside reconstructions/ (staged with the frames it describes)
LOCKS = ".locks"  # per-video leases (training/data/storage.py partition_lock_paths)


def default_data_root() -> str:
    """``$INVERSE_PAINTING_DATA_ROOT`` when set (and not empty), else ``data`` (relative to the working folder)."""
    return os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_ROOT


def tracking_uri_override() -> str | None:
    """``$MLFLOW_TRACKING_URI`` when set and not empty: it replaces the data root's own SQLite store."""
    return os.environ.get(TRACKING_URI_ENV) or None


@dataclass(frozen=True)
class DataRoot:
    """A data root and the layout under it; ``root`` is absolute (``~`` expanded, symlinks resolved)."""

    root: Path

    def __init__(self, root: Path | str) -> None:
        object.__setattr__(self, "root", Path(root).expanduser().resolve())

    @classmethod
    def from_env(cls, explicit: Path | str | None = None) -> DataRoot:
        """``explicit`` (a ``--data-root`` option) when given, else ``$INVERSE_PAINTING_DATA_ROOT``, else ``./data``."""
        return cls(explicit if explicit not in (None, "") else default_data_root())

    # inputs
    @property
    def videos_dir(self) -> Path:
        """``videos/``: the input files (or symlinks to them), never modified."""
        return self.root / VIDEOS

    # per-asset outputs
    def asset_dir(self, asset: str) -> Path:
        """``<asset>/``: everything one asset writes."""
        return self.root / asset

    def table_path(self, asset: str, video_id: str) -> Path:
        """Per-video table of an asset: ``<asset>/<video_id>.parquet``."""
        return self.asset_dir(asset) / f"{video_id}.parquet"

    def images_dir(self, asset: str, video_id: str) -> Path:
        """Per-video image folder of an asset: ``<asset>/<video_id>/``."""
        return self.asset_dir(asset) / video_id

    def dropped_table_path(self, video_id: str) -> Path:
        """``keyframes/<video_id>.dropped.parquet``: every frame curation dropped, with its reason."""
        return self.asset_dir(KEYFRAMES) / f"{video_id}.dropped.parquet"

    @property
    def corrections_dir(self) -> Path:
        """``label_corrections/``: the correction store, written only by people and the correction tools."""
        return self.asset_dir(LABEL_CORRECTIONS)

    @property
    def corrections_history_dir(self) -> Path:
        """``label_corrections/history/``: one Parquet file per import, never rewritten."""
        return self.corrections_dir / "history"

    @property
    def label_exports_dir(self) -> Path:
        """``label_exports/``: where ``labels export`` writes its sheet or Label Studio tasks by default."""
        return self.root / "label_exports"

    @property
    def dataset_dir(self) -> Path:
        """``training_dataset/``: one folder per content version and ``latest.json``."""
        return self.asset_dir(TRAINING_DATASET)

    @property
    def latest_dataset_path(self) -> Path:
        """``training_dataset/latest.json``: the newest dataset version and its manifest."""
        return self.dataset_dir / "latest.json"

    @property
    def content_versions_path(self) -> Path:
        """``instruction_labels/_content_versions.sqlite``: each video's content version (training/dataset.py)."""
        return self.asset_dir("instruction_labels") / "_content_versions.sqlite"

    def dataset_version_dir(self, version: str) -> Path:
        """``training_dataset/<version>/``."""
        return self.dataset_dir / version

    def models_dir(self, asset: str | None = None) -> Path:
        """``models/`` or ``models/<asset>/``: trained model folders (``save_pretrained`` layout)."""
        folder = self.asset_dir(MODELS)
        return folder / asset if asset else folder

    @property
    def tiny_base_dir(self) -> Path:
        """``models/tiny-base/``: the tiny preset's random-init frozen encoders, built once per data root."""
        return self.models_dir("tiny-base")

    @property
    def reconstructions_dir(self) -> Path:
        """``reconstructions/``: every method's painted frames."""
        return self.asset_dir(RECONSTRUCTIONS)

    @property
    def reconstructions_index_path(self) -> Path:
        """``reconstructions/reconstructions.json``: what was painted, with which models and settings."""
        return self.reconstructions_dir / RECONSTRUCTIONS_INDEX

    @property
    def benchmark_dir(self) -> Path:
        """``benchmark/``: scores, comparison tables and plots."""
        return self.asset_dir(BENCHMARK)

    @property
    def benchmark_summary_path(self) -> Path:
        """``benchmark/summary.json``: per ground-truth group, which metrics ours wins."""
        return self.benchmark_dir / "summary.json"

    def benchmark_outputs_dir(self, script: str) -> Path:
        """``benchmarks/<script>/``: what a script of the checkout's benchmarks/ folder writes about this root."""
        return self.root / "benchmarks" / script

    # settings and bookkeeping
    @property
    def settings_dir(self) -> Path:
        """``settings/``: how this root's videos are processed (pipelines/settings.py)."""
        return self.root / SETTINGS

    @property
    def process_videos_settings_path(self) -> Path:
        """``settings/process_videos.yaml``: the per-video run config the commands last used."""
        return self.settings_dir / "process_videos.yaml"

    @property
    def locks_dir(self) -> Path:
        """``.locks/``: which run writes each video."""
        return self.root / LOCKS

    # tracking
    @property
    def mlflow_db(self) -> Path:
        """``mlflow.db``: the local MLflow store."""
        return self.root / "mlflow.db"

    @property
    def default_tracking_uri(self) -> str:
        """``sqlite:///<root>/mlflow.db``."""
        return f"sqlite:///{self.mlflow_db}"

    @property
    def artifact_root(self) -> Path:
        """``mlartifacts/``: artifacts of runs in the local store's experiments."""
        return self.root / "mlartifacts"

    def tracking_uri(self, explicit: str | None = None) -> str:
        """``explicit`` (a ``--tracking-uri`` option), else ``$MLFLOW_TRACKING_URI``, else this root's SQLite store."""
        return explicit or tracking_uri_override() or self.default_tracking_uri
