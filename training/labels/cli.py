"""`inverse-painting labels export|import`: the correction round trip (Label Studio or a CSV sheet)."""

from __future__ import annotations

import argparse
import getpass
import os
from pathlib import Path

import pandas as pd

from training.labels.csv_io import export_csv, read_csv_corrections
from training.labels.label_studio import export_tasks, read_export
from training.labels.store import ImportReport, import_corrections, latest_corrections

DATA_ROOT_ENV = "INVERSE_PAINTING_DATA_ROOT"  # the same variable the pipeline reads
STORE_DIR = "label_corrections"


def store_dir(data_root: Path) -> Path:
    return Path(data_root) / STORE_DIR


def _video_ids(data_root: Path, asset: str) -> list[str]:
    folder = Path(data_root) / asset
    return sorted(p.stem for p in folder.glob("*.parquet")) if folder.is_dir() else []


def known_pair_ids(data_root: Path) -> set[str]:
    """Pair ids of every frame_pairs table under the data root."""
    from training.labels.store import pair_id

    ids: set[str] = set()
    for video in _video_ids(data_root, "frame_pairs"):
        table = pd.read_parquet(Path(data_root) / "frame_pairs" / f"{video}.parquet", columns=["pair_index"])
        ids.update(pair_id(video, int(i)) for i in table["pair_index"])
    return ids


def export_rows(data_root: Path) -> pd.DataFrame:
    """Every auto-labelled pair joined with its images, M_t mask and current correction (one row per pair)."""
    videos = _video_ids(data_root, "auto_labels")
    if not videos:
        raise ValueError(f"{Path(data_root) / 'auto_labels'}: no auto labels yet; materialize auto_labels first")
    frames = []
    for video in videos:
        auto = pd.read_parquet(Path(data_root) / "auto_labels" / f"{video}.parquet")
        pairs = pd.read_parquet(Path(data_root) / "frame_pairs" / f"{video}.parquet")
        masks = pd.read_parquet(Path(data_root) / "difference_masks" / f"{video}.parquet")
        joined = auto.rename(columns={"text": "auto_text"}).merge(
            pairs[["pair_index", "prev_path", "next_path", "target_path"]], on="pair_index", how="inner"
        )
        frames.append(joined.merge(masks[["pair_index", "mt_mask_path"]], on="pair_index", how="inner"))
    rows = pd.concat(frames, ignore_index=True)
    current = latest_corrections(store_dir(data_root)).set_index("pair_id")["text"]
    rows["correction"] = rows["pair_id"].map(current)
    return rows


def run_export(data_root: Path, out: Path | None, as_csv: bool, base_url: str | None = None) -> list[Path]:
    rows = export_rows(data_root)
    if as_csv:
        return [export_csv(rows, out or Path(data_root) / "label_exports" / "corrections.csv")]
    out_dir = out or Path(data_root) / "label_exports" / "label-studio"
    return list(export_tasks(rows, data_root, out_dir, base_url=base_url))


def run_import(data_root: Path, file: Path, author: str) -> ImportReport:
    """Import a CSV sheet (.csv) or a Label Studio JSON export (.json) into the correction store."""
    suffix = file.suffix.lower()
    if suffix == ".csv":
        candidates, source = read_csv_corrections(file), "csv"
    elif suffix == ".json":
        candidates, source = read_export(file), "label-studio"
    else:
        raise ValueError(f"{file}: import takes a .csv sheet or a Label Studio .json export")
    known = known_pair_ids(data_root)
    if not known:
        raise ValueError(f"{Path(data_root) / 'frame_pairs'}: no frame pairs; curate videos before importing labels")
    return import_corrections(store_dir(data_root), candidates, source, known, author=author)


def add_labels_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `labels export` / `labels import` to a subparsers object; sets `func=run_labels_cli`."""
    labels = subparsers.add_parser("labels", help="export labels for correction, import corrections")
    actions = labels.add_subparsers(dest="labels_command", required=True)
    default_root = "default: $INVERSE_PAINTING_DATA_ROOT or ./data"
    export = actions.add_parser("export", help="a Label Studio import file + config, or a CSV sheet (--csv)")
    export.add_argument("--csv", action="store_true", help="write a CSV sheet instead of Label Studio tasks")
    export.add_argument("--data-root", type=Path, default=None, help=default_root)
    export.add_argument("--out", type=Path, default=None, help="output folder (Label Studio) or .csv file")
    export.add_argument(
        "--base-url", default=None, help="serve images from this URL instead of Label Studio local-files storage"
    )
    imported = actions.add_parser("import", help="import an edited CSV sheet or a Label Studio JSON export")
    imported.add_argument("file", type=Path, metavar="FILE")
    imported.add_argument("--data-root", type=Path, default=None, help=default_root)
    imported.add_argument("--author", default=None, help="recorded with each correction (default: your user name)")
    for parser in (labels, export, imported):
        parser.set_defaults(func=run_labels_cli)
    return labels


def run_labels_cli(args: argparse.Namespace) -> int:
    """Run a parsed `labels` command; 0 on success, 1 when rows were rejected or the input is unusable."""
    data_root = args.data_root or Path(os.environ.get(DATA_ROOT_ENV) or "data")
    try:
        if args.labels_command == "export":
            for path in run_export(data_root, args.out, args.csv, args.base_url):
                print(f"wrote {path}")
            if not args.csv:
                print(
                    "In Label Studio: set LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true and "
                    f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={Path(data_root).resolve()}, paste labeling_config.xml "
                    "as the labeling interface, import tasks.json; export as JSON when done."
                )
            return 0
        report = run_import(data_root, args.file, args.author or getpass.getuser())
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}")
        return 1
    print(report.render())
    return 1 if report.rejected else 0
