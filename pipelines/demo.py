"""`inverse-painting demo`: synthetic videos in, every asset materialized, a summary out."""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from tqdm import tqdm

from evaluation.studio import StudioConfig, generate_studio
from pipelines.definitions import build_definitions
from pipelines.errors import root_cause
from pipelines.instance import REPO_ROOT, prepare_environment
from pipelines.jobs import process_videos_job
from pipelines.partitions import videos_partitions
from pipelines.resources import MLflowResource, StorageResource
from training.data.catalog import scan_videos

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class DemoSummary:
    data_root: Path
    dagster_home: Path
    tracking_uri: str
    generated: list[str] = field(default_factory=list)
    # asset key -> list of (partition, path)
    outputs: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    failures: dict[str, str] = field(default_factory=dict)

    def commands(self) -> list[str]:
        bindir = Path(sys.executable).parent
        return [
            f"cd {REPO_ROOT} && DAGSTER_HOME={self.dagster_home} INVERSE_PAINTING_DATA_ROOT={self.data_root} "
            f"{bindir / 'dagster'} dev",
            f"{bindir / 'mlflow'} ui --backend-store-uri {self.tracking_uri}",
        ]

    def render(self) -> str:
        lines = [f"Data root: {self.data_root}", f"Dagster instance: {self.dagster_home}", ""]
        if self.generated:
            lines.append(f"Synthetic studio: generated {len(self.generated)} videos into {self.data_root / 'videos'}")
        for asset, produced in self.outputs.items():
            folder = Path(produced[0][1]).parent if produced else ""
            lines.append(f"{asset}: {len(produced)} partitions materialized -> {folder}")
        for key, error in self.failures.items():
            lines.append(f"FAILED {key}: {error}")
        lines += ["", "Browse the results:", *(f"  {c}" for c in self.commands())]
        return "\n".join(lines)


def ensure_demo_videos(videos_dir: Path, count: int, seed: int, config: StudioConfig) -> list[str]:
    """Generate the synthetic videos when the folder has no video yet; return the ids generated."""
    if scan_videos(videos_dir).videos:
        return []
    bar = tqdm(total=count, desc="synthetic studio", unit="video")

    def advance(done: int, total: int) -> None:
        bar.update(done - bar.n)

    made = generate_studio(videos_dir, count=count, seed=seed, config=config, progress=advance)
    bar.close()
    return [video.video_id for video in made]


def run_demo(
    data_root: Path, dagster_home: Path, count: int = 6, seed: int = 0, config: StudioConfig | None = None
) -> DemoSummary:
    prepare_environment(dagster_home, data_root)
    defs = build_definitions(str(data_root.resolve()))
    storage: StorageResource = defs.resources["storage"]
    mlflow: MLflowResource = defs.resources["mlflow"]
    summary = DemoSummary(storage.root, dagster_home.resolve(), mlflow.resolved_tracking_uri())
    summary.generated = ensure_demo_videos(storage.videos_dir, count, seed, config or StudioConfig())

    instance = dg.DagsterInstance.get()
    catalog = scan_videos(storage.videos_dir)
    known = set(instance.get_dynamic_partitions(videos_partitions.name))
    instance.add_dynamic_partitions(videos_partitions.name, sorted(set(catalog.videos) - known))

    job = defs.resolve_job_def(process_videos_job.name)
    for video_id in tqdm(sorted(catalog.videos), desc="process_videos", unit="video"):
        # One bad video must not stop the others: failures are collected, not raised.
        result = job.execute_in_process(
            partition_key=video_id,
            instance=instance,
            raise_on_error=False,
            run_config=QUIET_LOGS,
            tags={"inverse-painting/launched-by": "demo"},
        )
        for event in result.get_asset_materialization_events():
            materialization = event.asset_materialization
            path = materialization.metadata.get("path")
            summary.outputs[materialization.asset_key.to_user_string()].append(
                (video_id, str(path.value) if path else "")
            )
        for failure in result.get_step_failure_events():
            summary.failures[f"{video_id}/{failure.step_key}"] = root_cause(failure.step_failure_data.error)
    return summary
