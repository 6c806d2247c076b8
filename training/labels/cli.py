"""`inverse-painting labels export|import`: the correction round trip (Label Studio or a CSV sheet).

Labelling by hand needs no GPU and no model: `labels export --csv` lists every curated pair (with its auto
label when a labeller ran, empty otherwise); fill the `correction` column and `labels import` the sheet. A
hand-written CSV with just `pair_id,correction` (pair ids like `clip/007`) imports too.
"""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path

import pandas as pd

from training.data_root import DataRoot, default_data_root
from training.labels.csv_io import export_csv, read_csv_corrections
from training.labels.label_studio import export_tasks, read_export
from training.labels.merge import orphaned_corrections
from training.labels.store import (
    ImportReport,
    import_corrections,
    latest_corrections,
    legacy_corrections,
    pair_id,
)

CURATE_FIRST = "curate videos first (inverse-painting curate VIDEO ...)"
HAND_LABELLING = (
    "To label by hand (no GPU or model needed): `labels export --csv`, fill the `correction` column (1-2 words "
    "per pair, e.g. 'mountains'; leave a cell blank to skip that pair), then `labels import SHEET.csv`. A CSV "
    "you write yourself with the columns pair_id,correction (pair ids like clip/007) imports too."
)


def store_dir(data_root: Path) -> Path:
    return DataRoot(data_root).corrections_dir


def _video_ids(data_root: Path, asset: str) -> list[str]:
    folder = DataRoot(data_root).asset_dir(asset)
    return sorted(p.stem for p in folder.glob("*.parquet")) if folder.is_dir() else []


def _read_table(path: Path, columns: set[str], fix: str) -> pd.DataFrame:
    try:
        table = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable table ({' '.join(str(exc).split())[:200]}); {fix}") from exc
    missing = columns - set(table.columns)
    if missing:
        raise ValueError(f"{path}: lacks columns {sorted(missing)}; {fix}")
    return table


def current_pairs(data_root: Path) -> pd.DataFrame:
    """Every curated pair under the data root now: pair_id, video_id, pair_index, frame times and paths."""
    frames = []
    for video in _video_ids(data_root, "frame_pairs"):
        path = DataRoot(data_root).table_path("frame_pairs", video)
        need = {"pair_index", "prev_t_ms", "next_t_ms", "prev_path", "next_path", "target_path"}
        table = _read_table(path, need, f"re-materialize frame_pairs of {video}")
        table = table[sorted(need)].assign(video_id=video)
        table["pair_id"] = [pair_id(video, int(i)) for i in table["pair_index"]]
        frames.append(table)
    if not frames:
        raise ValueError(
            f"{DataRoot(data_root).asset_dir('frame_pairs')}: no curated video under {data_root}; {CURATE_FIRST}"
        )
    pairs = pd.concat(frames, ignore_index=True)
    return pairs.astype({"pair_index": "int64", "prev_t_ms": "int64", "next_t_ms": "int64"})


def known_pair_ids(data_root: Path) -> set[str]:
    """Pair ids of every frame_pairs table under the data root."""
    return set(current_pairs(data_root)["pair_id"])


def export_rows(data_root: Path) -> pd.DataFrame:
    """Every curated pair with its images, M_t mask, auto label and current correction (one row per pair).

    A video without auto_labels (or a pair its auto_labels lack) is listed with an empty auto label and
    backend "none", so a person can label it by hand.
    """
    pairs = current_pairs(data_root)
    frames = []
    for video, group in pairs.groupby("video_id", sort=True):
        rows = group
        auto_path = DataRoot(data_root).table_path("auto_labels", video)
        if auto_path.is_file():
            auto = _read_table(auto_path, {"pair_index", "text", "backend"}, f"re-materialize auto_labels of {video}")
            auto = auto.assign(model_id=auto.get("model_id", "none"))
            auto = auto[["pair_index", "text", "backend", "model_id"]].rename(columns={"text": "auto_text"})
            rows = rows.merge(auto.drop_duplicates("pair_index"), on="pair_index", how="left")
        mask_path = DataRoot(data_root).table_path("difference_masks", video)
        if mask_path.is_file():
            fix = f"re-materialize difference_masks of {video}"
            masks = _read_table(mask_path, {"pair_index", "mt_mask_path"}, fix)
            masks = masks[["pair_index", "mt_mask_path"]].drop_duplicates("pair_index")
            rows = rows.merge(masks, on="pair_index", how="left")
        frames.append(rows)
    rows = pd.concat(frames, ignore_index=True)
    for column in ("auto_text", "mt_mask_path"):
        if column not in rows.columns:
            rows[column] = pd.NA
    for column in ("backend", "model_id"):
        rows[column] = rows[column].fillna("none") if column in rows.columns else "none"
    rows["auto_text"] = rows["auto_text"].astype(object).where(rows["auto_text"].notna(), "")
    latest = latest_corrections(store_dir(data_root))
    current = {
        (str(v), int(a), int(b)): t
        for v, a, b, t in zip(latest["video_id"], latest["prev_t_ms"], latest["next_t_ms"], latest["text"], strict=True)
    }
    rows["correction"] = [
        current.get((str(v), int(a), int(b)))
        for v, a, b in zip(rows["video_id"], rows["prev_t_ms"], rows["next_t_ms"], strict=True)
    ]
    return rows.sort_values(["video_id", "pair_index"], kind="stable").reset_index(drop=True)


def orphans(data_root: Path) -> pd.DataFrame:
    """Corrections in the history that no current pair takes, with the reason (kept, never applied)."""
    store = store_dir(data_root)
    return orphaned_corrections(latest_corrections(store), legacy_corrections(store), current_pairs(data_root))


def run_export(data_root: Path, out: Path | None, as_csv: bool, base_url: str | None = None) -> list[Path]:
    """Write the CSV sheet or the Label Studio files of every curated pair; returns the paths written."""
    return write_export(export_rows(data_root), data_root, out, as_csv, base_url)


def write_export(
    rows: pd.DataFrame, data_root: Path, out: Path | None, as_csv: bool, base_url: str | None = None
) -> list[Path]:
    if as_csv:
        return [export_csv(rows, out or DataRoot(data_root).label_exports_dir / "corrections.csv")]
    out_dir = out or DataRoot(data_root).label_exports_dir / "label-studio"
    return list(export_tasks(rows, data_root, out_dir, base_url=base_url))


def run_import(data_root: Path, file: Path, author: str) -> ImportReport:
    """Import a CSV sheet (.csv) or a Label Studio JSON export (.json) into the correction store.

    The whole file is read and checked before anything is written; a file none of whose rows is a valid
    correction is refused with one line (the first reasons and where the rest are).
    """
    suffix = file.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise ValueError(f"{file}: import takes a .csv sheet or a Label Studio .json export")
    if not file.is_file():
        raise FileNotFoundError(
            f"{file}: no such file; pass the sheet written by `labels export --csv` or a Label Studio JSON export"
        )
    if suffix == ".csv":
        candidates, source = read_csv_corrections(file), "csv"
    else:
        candidates, source = read_export(file), "label-studio"
    pairs = current_pairs(data_root)
    report = import_corrections(store_dir(data_root), candidates, source, pairs, author=author)
    if report.rejected and not report.accepted:
        first = "; ".join(f"{ref}: {why}" for ref, why in report.rejected[:1])
        raise ValueError(
            f"{file}: none of its {len(report.rejected)} correction row(s) is valid ({report.rejection_summary()}); "
            f"first: {first}. Nothing was imported; start from `labels export --csv` (or a Label Studio export)"
        )
    return report


def _print_orphans(found: pd.DataFrame, limit: int = 10) -> None:
    if found.empty:
        return
    print(
        f"note: {len(found)} correction(s) in the history match no current pair; they are kept and not applied "
        "to any other pair:"
    )
    for rec in found.head(limit).to_dict("records"):
        print(f"  {rec['pair_id']} {rec['text']!r}: {rec['reason']}")
    if len(found) > limit:
        print(f"  ... and {len(found) - limit} more")


def add_labels_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `labels export` / `labels import` to a subparsers object; sets `func=run_labels_cli`."""
    labels = subparsers.add_parser(
        "labels",
        help="export labels for correction, import corrections (also: label pairs by hand, no GPU needed)",
        description="Correct the instruction labels, or write them by hand. " + HAND_LABELLING,
    )
    actions = labels.add_subparsers(dest="labels_command", required=True)
    default_root = "default: $INVERSE_PAINTING_DATA_ROOT or ./data"
    export = actions.add_parser(
        "export",
        help="a Label Studio import file + config, or a CSV sheet (--csv) listing every curated pair",
        description="List every curated pair for labelling. " + HAND_LABELLING,
    )
    export.add_argument("--csv", action="store_true", help="write a CSV sheet instead of Label Studio tasks")
    export.add_argument("--data-root", type=Path, default=None, help=default_root)
    export.add_argument("--out", type=Path, default=None, help="output folder (Label Studio) or .csv file")
    export.add_argument(
        "--base-url", default=None, help="serve images from this URL instead of Label Studio local-files storage"
    )
    imported = actions.add_parser(
        "import",
        help="import an edited CSV sheet (or a hand-written pair_id,correction CSV) or a Label Studio JSON export",
    )
    imported.add_argument("file", type=Path, metavar="FILE")
    imported.add_argument("--data-root", type=Path, default=None, help=default_root)
    imported.add_argument("--author", default=None, help="recorded with each correction (default: your user name)")
    for parser in (labels, export, imported):
        parser.set_defaults(func=run_labels_cli)
    return labels


def run_labels_cli(args: argparse.Namespace) -> int:
    """Run a parsed `labels` command; 0 on success, 1 when some rows were rejected.

    An unusable input raises ValueError/FileNotFoundError naming it and the fix; the CLI entry prints it
    as one line (exit 2).
    """
    data_root = args.data_root or Path(default_data_root())
    if args.labels_command == "export":
        rows = export_rows(data_root)
        paths = write_export(rows, data_root, args.out, args.csv, args.base_url)
        for path in paths:
            print(f"wrote {path}")
        pending = int((rows["auto_text"].eq("") & rows["correction"].isna()).sum())
        if pending:
            print(f"{pending} of {len(rows)} pair(s) have no label yet. {HAND_LABELLING}")
        if args.csv:
            print(f"Fill the `correction` column, then run: inverse-painting labels import {paths[0]}")
        else:
            print(
                "In Label Studio: set LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true and "
                f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={Path(data_root).resolve()}, paste labeling_config.xml "
                "as the labeling interface, import tasks.json; export as JSON when done."
            )
        _print_orphans(orphans(data_root))
        return 0
    report = run_import(data_root, args.file, args.author or getpass.getuser())
    print(report.render())
    return 1 if report.rejected else 0
