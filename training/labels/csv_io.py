"""A correction sheet a person edits in a spreadsheet: export with the auto labels, import the `correction` column.

Formula injection: a spreadsheet runs a cell that starts with = + - @ (or a tab/CR/LF) as a formula, so a
label or path like `=HYPERLINK(...)` would become a live link. Exported text cells that start with one of
those, or with a single quote, get a single quote in front (OWASP's "CSV injection" advice); the import
removes exactly that quote again. Quoting a leading quote too makes the round trip lossless: `'tis`
exports as `''tis` and imports as `'tis`. A cell a person types as `'tis` (a quote, then a letter) is not
an escape and is kept as typed.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from training.data.storage import atomic_path
from training.labels.store import read_utf8

CSV_COLUMNS = [
    "pair_id",
    "video_id",
    "pair_index",
    "prev_t_ms",
    "next_t_ms",
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
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_ESCAPED_START = (*FORMULA_START, "'")


def escape_cell(value: object) -> object:
    """A text cell a spreadsheet shows as text: `'` in front of a formula start or a leading quote."""
    if isinstance(value, str) and value.startswith(_ESCAPED_START):
        return "'" + value
    return value


def unescape_cell(value: str) -> str:
    """Undo `escape_cell`: drop the one quote in front of a formula start or of another quote."""
    if len(value) >= 2 and value[0] == "'" and value[1:].startswith(_ESCAPED_START):
        return value[1:]
    return value


def export_csv(rows: pd.DataFrame, path: Path) -> Path:
    """Write the sheet. `rows`: pair_id, video_id, pair_index, prev_t_ms, next_t_ms, auto_text, backend,
    prev/next/target paths, mt_mask_path and optionally `correction` (the current one, so the sheet shows what
    is in force). Text cells are escaped against formula injection (`escape_cell`)."""
    sheet = pd.DataFrame(
        {
            "pair_id": rows["pair_id"],
            "video_id": rows["video_id"],
            "pair_index": rows["pair_index"].astype("int64"),
            "prev_t_ms": rows["prev_t_ms"].astype("int64"),
            "next_t_ms": rows["next_t_ms"].astype("int64"),
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
    for column in sheet.columns:
        if sheet[column].dtype == object or pd.api.types.is_string_dtype(sheet[column]):
            sheet[column] = sheet[column].astype(object).map(escape_cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        sheet.to_csv(tmp, index=False, encoding=ENCODING)
    return path


def read_csv_corrections(path: Path) -> pd.DataFrame:
    """Candidate corrections (pair_id, text, ref[, author, prev_t_ms, next_t_ms]) from an edited sheet.

    A blank `correction` cell means "no correction" and gives no row; a cell holding only spaces is kept
    (as empty text) so the import rejects it by name. Every cell is read as text: a label like "NA" or
    "none" stays a label. The frame times, when the sheet has them, let the import refuse a row exported
    before the video was re-curated. A hand-written sheet with only `pair_id,correction` imports too.
    """
    text = read_utf8(path)
    try:
        sheet = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise ValueError(
            f"{path}: not a readable CSV ({' '.join(str(exc).split())}); save the sheet as CSV (UTF-8)"
        ) from exc
    sheet.columns = [str(c).strip() for c in sheet.columns]
    missing = {"pair_id", "correction"} - set(sheet.columns)
    if missing:
        raise ValueError(
            f"{path}: the sheet lacks column(s) {sorted(missing)}; keep the header of `labels export --csv` "
            "(at least pair_id and correction)"
        )
    sheet = sheet.fillna("")  # a short row leaves its last cells missing
    optional = [c for c in ("author", "prev_t_ms", "next_t_ms") if c in sheet.columns]
    rows = []
    for number, rec in enumerate(sheet.to_dict("records"), start=2):  # line 1 is the header
        if rec["correction"] == "":
            continue
        row = {
            "pair_id": unescape_cell(rec["pair_id"].strip()),
            "text": unescape_cell(rec["correction"]),
            "ref": f"line {number}",
        }
        row.update({c: unescape_cell(rec[c]) for c in optional if rec[c] != ""})
        rows.append(row)
    return pd.DataFrame(rows, columns=["pair_id", "text", "ref", "author", "prev_t_ms", "next_t_ms"])
