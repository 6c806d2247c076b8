"""`inverse-painting curate` and `import-official`: the per-video chain from the command line."""

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from pipelines.definitions import build_definitions
from pipelines.instance import prepare_environment
from pipelines.job_runs import ChainReport, register_videos, run_per_video_chain
from pipelines.partition_lock import partition_held_by_command
from pipelines.resources import StorageResource
from pipelines.settings import apply_chain_settings, chain_settings, for_assets
from training.data.catalog import VIDEO_EXTENSIONS, scan_videos, video_id_for
from training.data.keyframe_outputs import write_imported_keyframes
from training.data.official_release import OfficialSequence, read_official_layout

AFTER_KEYFRAMES = ["frame_pairs", "difference_masks"]
IMPORTED = "imported"  # the keyframes' `occluder_backend` metadata of a sequence import-official wrote
EXTENSIONS_TEXT = ", ".join(sorted(VIDEO_EXTENSIONS))


@dataclass
class CurateInputs:
    """The video files behind the paths a user passed (folders expanded), and why others cannot be used."""

    files: list[Path] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)  # path -> why
    folders: dict[Path, int] = field(default_factory=dict)  # folder -> video files found directly inside


def video_files_in(folder: Path) -> list[Path]:
    """The video files directly inside ``folder`` (sorted; hidden files and sub-folders are not looked into)."""
    found = (p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return sorted(p for p in found if p.suffix.lower() in VIDEO_EXTENSIONS)


def expand_inputs(paths: list[Path]) -> CurateInputs:
    """Files as they are; a folder becomes the video files directly inside it (what `curate DIR` means).

    Sub-folders are not searched: a data folder often holds other things (the studio's masks, exports).
    """
    inputs = CurateInputs()
    for path in paths:
        path = path.expanduser()
        try:
            if not path.is_dir():
                inputs.files.append(path)
                continue
            found = video_files_in(path)
        except OSError as err:  # unreadable folder (permissions), a name the file system refuses
            inputs.problems[str(path)] = f"cannot be read ({err.strerror or err})"
            continue
        inputs.folders[path] = len(found)
        if not found:
            inputs.problems[str(path)] = (
                f"a folder with no video files ({EXTENSIONS_TEXT}) directly inside; pass the video files "
                f"(e.g. {path}/*.mp4) or the folder that holds them"
            )
        inputs.files.extend(found)
    return inputs


def link_into_videos(
    files: list[Path], videos_dir: Path, reserved: Callable[[str], str | None] = lambda video_id: None
) -> tuple[list[str], dict[str, str]]:
    """Make each file visible in the videos folder (a symlink; inputs are never copied or modified).

    Returns the video ids (each once) and, per file that cannot be used, why: one bad file never stops
    the others. ``reserved(video_id)`` says why an id may not be used (None: it may).
    """
    videos_dir.mkdir(parents=True, exist_ok=True)
    ids: list[str] = []
    problems: dict[str, str] = {}
    for file in files:
        try:
            video_id = _link_one(file.expanduser().resolve(), videos_dir, reserved)
        except ValueError as err:
            problems[str(file)] = str(err)
            continue
        except (OSError, RuntimeError) as err:  # RuntimeError: a symlink loop (Path.resolve)
            problems[str(file)] = f"cannot be linked ({err})"
            continue
        if video_id not in ids:
            ids.append(video_id)
    return ids, problems


def _link_one(file: Path, videos_dir: Path, reserved: Callable[[str], str | None]) -> str:
    if file.is_dir():
        raise ValueError(f"is a folder; pass the video files (e.g. {file}/*.mp4)")
    if not file.is_file():
        raise ValueError("no such file")
    if file.suffix.lower() not in VIDEO_EXTENSIONS:
        raise ValueError(f"not a video extension ({EXTENSIONS_TEXT})")
    video_id = video_id_for(file)
    clashes = [p for p in videos_dir.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS and video_id_for(p) == video_id]
    if clashes and clashes[0].resolve() != file:
        raise ValueError(f"video id '{video_id}' is taken by {clashes[0]}; rename the file")
    why = reserved(video_id)
    if why:
        raise ValueError(why)
    if not clashes:
        os.symlink(file, videos_dir / file.name)
    return video_id


def keyframes_origin(instance: dg.DagsterInstance, video_id: str) -> str | None:
    """Who wrote the partition's latest keyframes: IMPORTED, a curation backend, or None (never written)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("keyframes"), asset_partitions=[video_id]), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return None
    backend = records[0].asset_materialization.metadata.get("occluder_backend")
    return str(backend.value) if backend is not None else "unknown"


def curate(
    files: list[Path], data_root: Path, dagster_home: Path, run_config: dict | None = None, verbose: bool = False
) -> ChainReport:
    """Link the video files (folders: the videos inside) into the data root and run their per-video chain.

    ``run_config``: the command's options, on top of the data root's settings and saved as them (see
    pipelines/settings.py); None: the data root's settings as they are.
    """
    prepare_environment(dagster_home, data_root)
    run_config = apply_chain_settings(data_root, run_config, written_by="curate").run_config
    defs = build_definitions(str(data_root.resolve()))
    storage: StorageResource = defs.resources["storage"]
    instance = dg.DagsterInstance.get()

    def reserved(video_id: str) -> str | None:
        if keyframes_origin(instance, video_id) == IMPORTED:
            return (
                f"video id '{video_id}' is the name of a sequence imported with import-official; curating would "
                "replace its keyframes. Rename the file"
            )
        return None

    inputs = expand_inputs(files)
    ids, problems = link_into_videos(inputs.files, storage.videos_dir, reserved)
    register_videos(instance, ids)
    report = run_per_video_chain(
        defs, instance, ids, run_config=run_config, tags={"inverse-painting/launched-by": "curate"}, verbose=verbose
    )
    report.failures.update({f"{path}/link": why for path, why in {**inputs.problems, **problems}.items()})
    return report


def check_import_names(sequences: list[OfficialSequence], videos_dir: Path, instance: dg.DagsterInstance) -> None:
    """Refuse (ValueError, before anything is written) a sequence named like a video curated from a file.

    Its import would replace that video's keyframes and leave the video's pairs and labels pointing at
    frames that are gone. Importing a sequence of the same name again is fine: it replaces its own import.
    """
    videos = scan_videos(videos_dir).videos
    for seq in sequences:
        folder = seq.target.parent
        fix = f"Rename the folder (e.g. to {folder.name}-official) and import again"
        if seq.name in videos:
            raise ValueError(
                f"{folder}: sequence '{seq.name}' has the id of the curated video {videos[seq.name]}; importing it "
                f"would replace that video's keyframes. {fix}."
            )
        origin = keyframes_origin(instance, seq.name)
        if origin not in (None, IMPORTED):
            raise ValueError(
                f"{folder}: partition '{seq.name}' holds keyframes curated from a video (its file is no longer in "
                f"{videos_dir}); importing would replace them. {fix}."
            )


def import_official(folder: Path, data_root: Path, dagster_home: Path, verbose: bool = False) -> ChainReport:
    """Curated keyframes in the paper's released layout become `keyframes` partitions, then pairs and masks."""
    prepare_environment(dagster_home, data_root)
    defs = build_definitions(str(data_root.resolve()))
    storage: StorageResource = defs.resources["storage"]
    instance = dg.DagsterInstance.get()
    sequences = read_official_layout(folder)
    check_import_names(sequences, storage.videos_dir, instance)
    register_videos(instance, [seq.name for seq in sequences])
    for seq in sequences:
        with partition_held_by_command(instance, storage.root, seq.name, "import-official"):
            table = write_imported_keyframes(storage.layout, seq.name, seq.keyframes)
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key="keyframes",
                partition=seq.name,
                metadata={
                    "path": dg.MetadataValue.path(str(table)),
                    "keyframes": len(seq.keyframes),
                    "source": dg.MetadataValue.path(str(folder)),
                    "occluder_backend": IMPORTED,
                },
            )
        )
    return run_per_video_chain(
        defs,
        instance,
        [seq.name for seq in sequences],
        run_config=for_assets(chain_settings(storage.root).run_config, AFTER_KEYFRAMES),
        assets=AFTER_KEYFRAMES,
        tags={"inverse-painting/launched-by": "import-official"},
        verbose=verbose,
    )
