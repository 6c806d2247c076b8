"""Resources shared by every asset: where data lives, and where runs are tracked."""

from pathlib import Path
from typing import Any

import dagster as dg

from training.data_root import DATA_ROOT_ENV, DEFAULT_DATA_ROOT, DataRoot, default_data_root
from training.experiment_tracking import TrackedRun, Tracker

__all__ = ["DATA_ROOT_ENV", "MLflowResource", "ModelsResource", "StorageResource", "default_data_root"]


class StorageResource(dg.ConfigurableResource):
    """The one data root every path derives from; its layout is :class:`training.data_root.DataRoot`'s."""

    data_root: str = DEFAULT_DATA_ROOT

    @property
    def layout(self) -> DataRoot:
        return DataRoot(self.data_root)

    @property
    def root(self) -> Path:
        return self.layout.root

    @property
    def videos_dir(self) -> Path:
        return self.layout.videos_dir

    def asset_dir(self, asset: str) -> Path:
        return self.layout.asset_dir(asset)

    def table_path(self, asset: str, video_id: str) -> Path:
        """Per-video table of an asset: ``<root>/<asset>/<video_id>.parquet``."""
        return self.layout.table_path(asset, video_id)

    def images_dir(self, asset: str, video_id: str) -> Path:
        return self.layout.images_dir(asset, video_id)


class MLflowResource(dg.ConfigurableResource):
    """MLflow with explicit run ids; every run is tagged with the Dagster run, asset and partition.

    ``tracking_uri`` defaults to ``sqlite:///<data root>/mlflow.db`` and artifacts to
    ``<data root>/mlartifacts``; set ``tracking_uri`` to a server (``http://...``) to share runs.
    """

    storage: StorageResource
    tracking_uri: str | None = None
    artifact_root: str | None = None
    ui_url: str | None = None  # where `mlflow ui` / the server is browsed, for links in metadata

    def resolved_tracking_uri(self) -> str:
        # the configured URI only: definitions.py passes $MLFLOW_TRACKING_URI in as the config
        return self.tracking_uri or self.storage.layout.default_tracking_uri

    def tracker(self) -> Tracker:
        layout = self.storage.layout
        layout.root.mkdir(parents=True, exist_ok=True)
        return Tracker(self.resolved_tracking_uri(), artifact_root=self.artifact_root or layout.artifact_root)

    def start_run(self, context: dg.AssetExecutionContext, experiment: str, run_name: str | None = None) -> TrackedRun:
        tags = {
            "dagster.run_id": context.run.run_id,
            "dagster.asset_key": context.asset_key.to_user_string(),
        }
        if context.has_partition_key:
            tags["dagster.partition_key"] = context.partition_key
        name = run_name or "/".join(filter(None, [tags["dagster.asset_key"], tags.get("dagster.partition_key")]))
        return self.tracker().start_run(experiment, name, tags)

    def run_metadata(self, run: TrackedRun) -> dict[str, Any]:
        """Metadata entries linking a materialization to its MLflow run."""
        fragment = f"#/experiments/{run.experiment_id}/runs/{run.run_id}"
        base = self.ui_url or (self.tracking_uri if (self.tracking_uri or "").startswith("http") else None)
        entries: dict[str, Any] = {
            "mlflow_run_id": run.run_id,
            "mlflow_experiment_id": run.experiment_id,
        }
        if base:
            entries["mlflow_run"] = dg.MetadataValue.url(f"{base.rstrip('/')}/{fragment}")
        else:
            ui = f"mlflow ui --backend-store-uri {self.resolved_tracking_uri()}"
            entries["mlflow_run"] = dg.MetadataValue.text(f"{ui}  ->  {fragment}")
        return entries


class ModelsResource(dg.ConfigurableResource):
    """Where the pretrained models live: hub ids or local paths (a GPU machine sets local copies here).

    Stages choose a backend per run (``auto`` picks the paper's model when its weights are present
    locally, else the weight-free algorithm); this resource only says where the weights are.
    """

    grounding_dino: str = "IDEA-Research/grounding-dino-base"
    sam_checkpoint: str | None = None  # path to a segment_anything checkpoint, e.g. sam_vit_b_01ec64.pth
    sam_model_type: str = "vit_b"
    device: str = "auto"  # cuda when available, else cpu
