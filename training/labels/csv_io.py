"""A correction sheet a person edits in a spreadsheet: export with the auto labels, import the `correction` column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from training.data.storage import atomic_path

CSV_COLUMNS = [
    "pair_id",
    "video_id",
    "pair_index",
    "auto_label",
    "correction",
    "backend",
    "prev_path",
    "next_path",
    "target_path",
    "mask_path",
]
# UTF-8 with a byte-order mark: spreadsheet programs then read accents correctly; reading accepts both.
ENCODING = "utf-8-sig"


def export_csv(rows: pd.DataFrame, path: Path) -> Path:
    """Write the sheet. `rows`: pair_id, video_id, pair_index, auto_text, backend, prev/next/target paths,
    mt_mask_path and optionally `correction` (the current one, so the sheet shows what is in force)."""
    sheet = pd.DataFrame(
        {
            "pair_id": rows["pair_id"],
            "video_id": rows["video_id"],
            "pair_index": rows["pair_index"].astype("int64"),
            "auto_label": rows["auto_text"],
            "correction": rows.get("correction"),
            "backend": rows["backend"],
            "prev_path": rows["prev_path"],
            "next_path": rows["next_path"],
            "target_path": rows["target_path"],
            "mask_path": rows["mt_mask_path"],
        },
        columns=CSV_COLUMNS,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        sheet.to_csv(tmp, index=False, encoding=ENCODING)
    return path


def read_csv_corrections(path: Path) -> pd.DataFrame:
    """Candidate corrections (pair_id, text, ref[, author]) from an edited sheet.

    A blank `correction` cell means "no correction" and gives no row; a cell holding only spaces is kept
    (as empty text) so the import rejects it by name. Every cell is read as text: a label like "NA" or
    "none" stays a label.
    """
    try:
        sheet = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=ENCODING)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"{path}: not a readable CSV ({exc}); save the sheet as CSV (UTF-8)") from exc
    missing = {"pair_id", "correction"} - set(sheet.columns)
    if missing:
        raise ValueError(
            f"{path}: the sheet lacks column(s) {sorted(missing)}; keep the header of `labels export --csv` "
            "(at least pair_id and correction)"
        )
    rows = []
    for number, rec in enumerate(sheet.to_dict("records"), start=2):  # line 1 is the header
        if rec["correction"] == "":
            continue
        row = {"pair_id": rec["pair_id"].strip(), "text": rec["correction"], "ref": f"line {number}"}
        if rec.get("author"):
            row["author"] = rec["author"]
        rows.append(row)
    return pd.DataFrame(rows, columns=["pair_id", "text", "ref", "author"])
