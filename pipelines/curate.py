"""`inverse-painting curate` and `import-official`: the per-video chain from the command line."""

import os
import shutil
from pathlib import Path

import dagster as dg

from assets.curate import write_keyframe_tables
from pipelines.definitions import build_definitions
from pipelines.instance import prepare_environment
from pipelines.resources import StorageResource
from pipelines.runner import ChainReport, register_videos, run_per_video_chain
from training.data.catalog import VIDEO_EXTENSIONS, video_id_for
from training.data.official import read_official_layout
from training.data.storage import atomic_dir

AFTER_KEYFRAMES = ["frame_pairs", "difference_masks"]


def link_into_videos(files: list[Path], videos_dir: Path) -> tuple[list[str], dict[str, str]]:
    """Make each file visible in the videos folder (a symlink; inputs are never copied or modified).

    Returns the video ids and, per file that cannot be used, why.
    """
    videos_dir.mkdir(parents=True, exist_ok=True)
    ids, problems = [], {}
    for file in files:
        file = file.expanduser().resolve()
        if not file.is_file():
            problems[str(file)] = "no such file"
            continue
        if file.suffix.lower() not in VIDEO_EXTENSIONS:
            problems[str(file)] = f"not a video extension ({', '.join(sorted(VIDEO_EXTENSIONS))})"
            continue
        video_id = video_id_for(file)
        clashes = [
            p for p in videos_dir.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS and video_id_for(p) == video_id
        ]
        if clashes and clashes[0].resolve() != file:
            problems[str(file)] = f"video id '{video_id}' is taken by {clashes[0]}; rename the file"
            continue
        if not clashes:
            os.symlink(file, videos_dir / file.name)
        ids.append(video_id)
    return ids, problems


def curate(files: list[Path], data_root: Path, dagster_home: Path, run_config: dict | None = None) -> ChainReport:
    prepare_environment(dagster_home, data_root)
    defs = build_definitions(str(data_root.resolve()))
    storage: StorageResource = defs.resources["storage"]
    ids, problems = link_into_videos(files, storage.videos_dir)
    instance = dg.DagsterInstance.get()
    register_videos(instance, ids)
    report = run_per_video_chain(
        defs, instance, ids, run_config=run_config, tags={"inverse-painting/launched-by": "curate"}
    )
    report.failures.update({f"{path}/link": why for path, why in problems.items()})
    return report


def import_official(folder: Path, data_root: Path, dagster_home: Path) -> ChainReport:
    """Curated keyframes in the paper's released layout become `keyframes` partitions, then pairs and masks."""
    prepare_environment(dagster_home, data_root)
    defs = build_definitions(str(data_root.resolve()))
    storage: StorageResource = defs.resources["storage"]
    instance = dg.DagsterInstance.get()
    sequences = read_official_layout(folder)
    register_videos(instance, [seq.name for seq in sequences])
    for seq in sequences:
        table = write_imported_keyframes(storage, seq.name, seq.keyframes)
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key="keyframes",
                partition=seq.name,
                metadata={
                    "path": dg.MetadataValue.path(str(table)),
                    "keyframes": len(seq.keyframes),
                    "source": dg.MetadataValue.path(str(folder)),
                    "occluder_backend": "imported",
                },
            )
        )
    return run_per_video_chain(
        defs,
        instance,
        [seq.name for seq in sequences],
        assets=AFTER_KEYFRAMES,
        tags={"inverse-painting/launched-by": "import-official"},
    )


def write_imported_keyframes(storage: StorageResource, video_id: str, frames: list[tuple[int, Path]]) -> Path:
    """The `keyframes` outputs for already-curated frames: copies, the table, an empty dropped table."""
    folder = storage.images_dir("keyframes", video_id)
    rows = []
    with atomic_dir(folder) as tmp:
        for number, (t_ms, source) in enumerate(frames, start=1):
            shutil.copyfile(source, tmp / source.name)
            rows.append({"t_ms": t_ms, "path": str(folder / source.name), "is_target": number == len(frames)})
    write_keyframe_tables(storage, video_id, rows, dropped_rows=[])  # curated upstream: nothing dropped here
    return storage.table_path("keyframes", video_id)
