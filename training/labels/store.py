"""The correction store: an append-only history of manual label corrections; the latest per pair wins.

Layout under the store directory (`<data root>/label_corrections/`):
`history/<seq:06d>-<UTC time>-<source>-<rows>.parquet`, one immutable file per import, with columns
`CORRECTION_COLUMNS`. Nothing is ever rewritten or deleted; no pipeline run writes here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from training.data.storage import write_parquet

CORRECTION_COLUMNS = ["pair_id", "text", "corrected_at", "source", "author"]
_PAIR_ID = re.compile(r"^(?P<video>.+)/(?P<index>\d{3,})$")
_HISTORY_FILE = re.compile(r"^(?P<seq>\d{6})-.*\.parquet$")


def pair_id(video_id: str, index: int) -> str:
    """`"<video_id>/<pair_index:03d>"`, the key of a pair across every label table."""
    if not video_id or "/" in video_id:
        raise ValueError(f"video id {video_id!r} must be non-empty and contain no '/'")
    if int(index) < 0:
        raise ValueError(f"pair index must be >= 0, got {index}")
    return f"{video_id}/{int(index):03d}"


def parse_pair_id(value: str) -> tuple[str, int]:
    """Inverse of `pair_id`; raises ValueError naming the value for anything else."""
    match = _PAIR_ID.match(str(value))
    if not match or "/" in match["video"]:
        raise ValueError(f"{value!r} is not a pair id; expected '<video_id>/<pair index, 3+ digits>', e.g. 'clip/007'")
    return match["video"], int(match["index"])


def now_utc() -> pd.Timestamp:
    return pd.Timestamp(datetime.now(UTC))


def _history_files(store_dir: Path) -> list[tuple[int, Path]]:
    folder = Path(store_dir) / "history"
    if not folder.is_dir():
        return []
    found = [(int(m["seq"]), p) for p in folder.iterdir() if (m := _HISTORY_FILE.match(p.name))]
    return sorted(found)


def read_history(store_dir: Path) -> pd.DataFrame:
    """Every correction ever imported, oldest import first, with its `seq` (import number) and `row`."""
    frames = []
    for seq, path in _history_files(store_dir):
        frame = pd.read_parquet(path)
        missing = set(CORRECTION_COLUMNS) - set(frame.columns)
        if missing:
            raise ValueError(
                f"{path}: correction file lacks columns {sorted(missing)}; it was not written by the store"
            )
        frames.append(frame[CORRECTION_COLUMNS].assign(seq=seq, row=range(len(frame))))
    if not frames:
        empty = pd.DataFrame({c: pd.Series(dtype="object") for c in CORRECTION_COLUMNS})
        return empty.assign(corrected_at=pd.Series(dtype="datetime64[us, UTC]"), seq=0, row=0).iloc[:0]
    history = pd.concat(frames, ignore_index=True)
    history["corrected_at"] = pd.to_datetime(history["corrected_at"], utc=True)
    return history


def latest_corrections(store_dir: Path) -> pd.DataFrame:
    """One row per corrected pair: its latest correction (the last imported; `corrected_at` = import time)."""
    history = read_history(store_dir)
    ordered = history.sort_values(["seq", "row"], kind="stable")
    latest = ordered.drop_duplicates("pair_id", keep="last").sort_values("pair_id", kind="stable")
    return latest[CORRECTION_COLUMNS].reset_index(drop=True)


def append_corrections(store_dir: Path, rows: pd.DataFrame, source: str) -> Path:
    """Write `rows` (CORRECTION_COLUMNS) as a new immutable history file; returns its path."""
    if rows.empty:
        raise ValueError("no corrections to append")
    if not re.fullmatch(r"[a-z0-9-]+", source):
        raise ValueError(f"source {source!r} must be lower-case letters, digits and '-' (e.g. 'csv', 'label-studio')")
    missing = set(CORRECTION_COLUMNS) - set(rows.columns)
    if missing:
        raise ValueError(f"corrections lack columns {sorted(missing)}")
    folder = Path(store_dir) / "history"
    folder.mkdir(parents=True, exist_ok=True)
    files = _history_files(store_dir)
    seq = files[-1][0] + 1 if files else 1
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = folder / f"{seq:06d}-{stamp}-{source}-{len(rows)}.parquet"
    if target.exists():  # never overwrite history
        raise FileExistsError(f"{target} exists; another import is running, retry")
    frame = rows[CORRECTION_COLUMNS].copy()
    frame["corrected_at"] = pd.to_datetime(frame["corrected_at"], utc=True)
    frame = frame.astype({"pair_id": "string", "text": "string", "source": "string", "author": "string"})
    return write_parquet(frame, target)


def _text_or(value: object, default: str) -> str:
    """`value` as text, or `default` when it is missing (None, NaN, NA, blank)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)) or not str(value).strip():
        return default
    return str(value).strip()


@dataclass
class ImportReport:
    """What an import did: pairs added/changed/unchanged, rows rejected (with the reason), the file written."""

    added: list[str] = field(default_factory=list)
    changed: list[tuple[str, str, str]] = field(default_factory=list)  # (pair id, old text, new text)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (row reference, reason)
    written: Path | None = None

    def render(self) -> str:
        lines = [
            f"added {len(self.added)}, changed {len(self.changed)}, unchanged {len(self.unchanged)}, "
            f"rejected {len(self.rejected)}"
        ]
        lines += [f"  changed {pid}: {old!r} -> {new!r}" for pid, old, new in self.changed]
        lines += [f"  rejected {ref}: {why}" for ref, why in self.rejected]
        lines.append(f"written: {self.written}" if self.written else "nothing written (no new or changed corrections)")
        return "\n".join(lines)


def import_corrections(
    store_dir: Path,
    candidates: pd.DataFrame,
    source: str,
    known_pair_ids: set[str],
    author: str = "",
) -> ImportReport:
    """Validate candidate corrections and append the new or changed ones; returns what happened.

    `candidates` has `pair_id`, `text` and `ref` (how a person finds the row: "line 7", "task 12"), and
    optionally `author`; `corrected_at` is the import time, so the last import wins. Rejected: unknown
    pair ids, empty text, and a pair listed more than once (all its rows when the texts differ; the
    repeats when they are equal). Texts are stripped of surrounding whitespace and otherwise kept as
    typed. Re-importing the same corrections writes nothing.
    """
    report = ImportReport()
    current = latest_corrections(store_dir).set_index("pair_id")["text"].to_dict()
    texts: dict[str, list[tuple[str, str]]] = {}
    keep = []
    for rec in candidates.to_dict("records"):
        ref, pid, text = str(rec["ref"]), str(rec.get("pair_id") or "").strip(), rec.get("text")
        text = "" if text is None or (isinstance(text, float) and pd.isna(text)) else str(text).strip()
        if pid not in known_pair_ids:
            report.rejected.append((ref, f"unknown pair id {pid!r}; export again to get the current pair ids"))
        elif not text:
            report.rejected.append((ref, f"empty text for {pid}; write a label or leave the row out"))
        else:
            texts.setdefault(pid, []).append((ref, text))
            keep.append({**rec, "pair_id": pid, "text": text, "ref": ref})
    accepted = []
    for rec in keep:
        rows = texts[rec["pair_id"]]
        if len({t for _, t in rows}) > 1:
            others = ", ".join(f"{r}: {t!r}" for r, t in rows)
            report.rejected.append((rec["ref"], f"{rec['pair_id']} listed with different texts ({others}); keep one"))
        elif rows[0][0] != rec["ref"]:
            report.rejected.append((rec["ref"], f"duplicate of {rows[0][0]} for {rec['pair_id']}"))
        else:
            accepted.append(rec)
    stamp = now_utc()
    new_rows = []
    for rec in accepted:
        pid, text = rec["pair_id"], rec["text"]
        if current.get(pid) == text:
            report.unchanged.append(pid)
            continue
        (report.changed.append((pid, current[pid], text)) if pid in current else report.added.append(pid))
        new_rows.append(
            {
                "pair_id": pid,
                "text": text,
                "corrected_at": stamp,
                "source": source,
                "author": _text_or(rec.get("author"), author),
            }
        )
    if new_rows:
        frame = pd.DataFrame(new_rows, columns=CORRECTION_COLUMNS)
        frame["corrected_at"] = pd.to_datetime(frame["corrected_at"], utc=True)
        report.written = append_corrections(store_dir, frame, source)
    return report
