"""The correction store: an append-only history of manual label corrections; the latest per pair wins.

Layout under the store directory (`<data root>/label_corrections/`):
`history/<seq:06d>-<UTC time>-<source>-<rows>.parquet`, one immutable file per import, with columns
`CORRECTION_COLUMNS`. Nothing is ever rewritten or deleted; no pipeline run writes here.

A correction belongs to the content of a pair, not to its position: each row records the video id and the
pair's frame times (`prev_t_ms`, `next_t_ms`), resolved at import time from the current frame_pairs table.
Re-curating a video with other settings renumbers its pairs; a correction then still names the frames it
was made for and is never moved to whatever pair took over its index. `pair_id` ("<video>/<NNN>") is kept
for people (it is how a sheet or a task names a row) and is not used for matching. Rows written before the
times were recorded (no `prev_t_ms`/`next_t_ms`) are "legacy": read, never applied, reported so a person can
check and import them again.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from training.data.storage import write_parquet

KEY_COLUMNS = ["video_id", "prev_t_ms", "next_t_ms"]
CORRECTION_COLUMNS = ["pair_id", *KEY_COLUMNS, "text", "corrected_at", "source", "author"]
# what every history file holds, including those written before corrections recorded frame times
LEGACY_COLUMNS = ["pair_id", "text", "corrected_at", "source", "author"]
# The paper's labels are 1-2 words ("mountains", "blue sky"); 64 characters leaves room for a short phrase
# in any language while refusing pasted paragraphs, which the text generator would learn as instructions.
MAX_LABEL_CHARS = 64
MAX_AUTHOR_CHARS = 200
_PAIR_ID = re.compile(r"^(?P<video>.+)/(?P<index>\d{3,})$")
_HISTORY_FILE = re.compile(r"^(?P<seq>\d{6})-.*\.parquet$")
# an HTML/XML tag, comment or processing instruction; "<3" or "a < b" are not markup
_MARKUP = re.compile(r"<\s*[/!?]?\s*[A-Za-z!?-][^<>]*>")
# a dict or list written out as text (e.g. "{'a': 1}" from a JSON object stored with str())
_SERIALIZED = re.compile(r"^\s*(\{.*\}|\[.*\])\s*$", re.DOTALL)
# unicode categories refused in a label: controls (newline, tab, ...), line/paragraph separators,
# format characters (zero-width and bidirectional overrides that make a label read differently than it is)
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


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


def read_utf8(path: Path) -> str:
    """The text of `path`; a file in another encoding gives one line naming the file and the fix."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}; e.g. saved as Latin-1 "
            "or ANSI); save it as UTF-8 (in a spreadsheet: 'CSV UTF-8') and import it again"
        ) from None


def _history_files(store_dir: Path) -> list[tuple[int, Path]]:
    folder = Path(store_dir) / "history"
    if not folder.is_dir():
        return []
    found = [(int(m["seq"]), p) for p in folder.iterdir() if (m := _HISTORY_FILE.match(p.name))]
    return sorted(found)


def _video_of(value: object) -> str | None:
    try:
        return parse_pair_id(str(value))[0]
    except ValueError:
        return None


def _empty_history() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="string") for c in CORRECTION_COLUMNS})
    frame = frame.astype({"prev_t_ms": "Int64", "next_t_ms": "Int64"})
    frame["corrected_at"] = pd.Series(dtype="datetime64[us, UTC]")
    return frame.assign(seq=pd.Series(dtype="int64"), row=pd.Series(dtype="int64"))


def read_history(store_dir: Path) -> pd.DataFrame:
    """Every correction ever imported, oldest import first, with its `seq` (import number) and `row`.

    Legacy rows (written before frame times were recorded) have NA `prev_t_ms`/`next_t_ms` and the video
    id read from their pair id.
    """
    frames = []
    for seq, path in _history_files(store_dir):
        frame = pd.read_parquet(path)
        missing = set(LEGACY_COLUMNS) - set(frame.columns)
        if missing:
            raise ValueError(
                f"{path}: correction file lacks columns {sorted(missing)}; it was not written by the store"
            )
        if "video_id" not in frame.columns:
            frame["video_id"] = [_video_of(p) for p in frame["pair_id"]]
        for column in ("prev_t_ms", "next_t_ms"):
            if column not in frame.columns:
                frame[column] = pd.NA
        frames.append(frame[CORRECTION_COLUMNS].assign(seq=seq, row=range(len(frame))))
    if not frames:
        return _empty_history()
    history = pd.concat(frames, ignore_index=True)
    history["corrected_at"] = pd.to_datetime(history["corrected_at"], utc=True)
    history = history.astype(
        {"prev_t_ms": "Int64", "next_t_ms": "Int64", "pair_id": "string", "video_id": "string", "text": "string"}
    )
    return history


def _is_legacy(history: pd.DataFrame) -> pd.Series:
    return history["prev_t_ms"].isna() | history["next_t_ms"].isna() | history["video_id"].isna()


def latest_corrections(store_dir: Path) -> pd.DataFrame:
    """One row per corrected pair content (video id + frame times): its latest correction (the last imported).

    Legacy rows are not here (see `legacy_corrections`): without frame times they cannot be matched safely.
    """
    history = read_history(store_dir)
    keyed = history[~_is_legacy(history)].sort_values(["seq", "row"], kind="stable")
    latest = keyed.drop_duplicates(KEY_COLUMNS, keep="last").sort_values(KEY_COLUMNS, kind="stable")
    return latest[CORRECTION_COLUMNS].reset_index(drop=True)


def legacy_corrections(store_dir: Path) -> pd.DataFrame:
    """The latest legacy correction per pair id that no later import of that pair id superseded.

    These were keyed by pair index only; they are reported (never applied) so a person can check the pair and
    import its label again, which then supersedes the legacy row.
    """
    history = read_history(store_dir).sort_values(["seq", "row"], kind="stable")
    legacy = _is_legacy(history)
    latest = history[legacy].drop_duplicates("pair_id", keep="last")
    order = list(zip(history["seq"], history["row"], strict=True))
    last_keyed: dict[str, tuple[int, int]] = {}
    for pid, position, is_legacy in zip(history["pair_id"], order, legacy, strict=True):
        if not is_legacy:
            last_keyed[str(pid)] = position
    superseded = [
        last_keyed.get(str(pid), (-1, -1)) > (seq, row)
        for pid, seq, row in zip(latest["pair_id"], latest["seq"], latest["row"], strict=True)
    ]
    kept = latest.loc[~np.array(superseded, dtype=bool)]
    return kept[CORRECTION_COLUMNS].reset_index(drop=True)


def append_corrections(store_dir: Path, rows: pd.DataFrame, source: str) -> Path:
    """Write `rows` (CORRECTION_COLUMNS) as a new immutable history file; returns its path."""
    if rows.empty:
        raise ValueError("no corrections to append")
    if not re.fullmatch(r"[a-z0-9-]+", source):
        raise ValueError(f"source {source!r} must be lower-case letters, digits and '-' (e.g. 'csv', 'label-studio')")
    missing = set(CORRECTION_COLUMNS) - set(rows.columns)
    if missing:
        raise ValueError(f"corrections lack columns {sorted(missing)}")
    if rows[KEY_COLUMNS].isna().any().any():
        raise ValueError("every correction needs its video_id, prev_t_ms and next_t_ms (the pair's frame times)")
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
    frame = frame.astype(
        {
            "pair_id": "string",
            "video_id": "string",
            "prev_t_ms": "int64",
            "next_t_ms": "int64",
            "text": "string",
            "source": "string",
            "author": "string",
        }
    )
    return write_parquet(frame, target)


def _missing(value: object) -> bool:
    return value is None or (not isinstance(value, (str, list, dict, tuple)) and bool(pd.isna(value)))


def _text_or(value: object, default: str) -> str:
    """`value` as one short line of text, or `default` when it is missing (None, NaN, NA, blank)."""
    if _missing(value) or not str(value).strip():
        return default
    return " ".join(str(value).split())[:MAX_AUTHOR_CHARS]


def _json_kind(value: object) -> str:
    kinds = {dict: "a JSON object", list: "a JSON list", tuple: "a JSON list", bool: "true/false"}
    for kind, name in kinds.items():
        if isinstance(value, kind):
            return name
    return "a number" if isinstance(value, (int, float)) else type(value).__name__


def check_label(value: object) -> tuple[str, str | None, str | None]:
    """`(text, kind, reason)`: the label stripped of surrounding whitespace, or why it is refused.

    A label is one short line of plain text: a string (not a JSON object, list or number), not empty, at most
    MAX_LABEL_CHARS characters, no control characters or line breaks, no markup, not a serialized dict/list.
    """
    if _missing(value):
        return "", "empty text", "empty text; write a label or leave the row out"
    if not isinstance(value, str):
        return "", "not text", f"the label is {_json_kind(value)}, not text; type the label as plain text"
    text = value.strip()
    if not text:
        return "", "empty text", "empty text; write a label or leave the row out"
    if any(ch in "\r\n\u2028\u2029\x0b\x0c\x85" for ch in text):
        return text, "several lines", "the label spans several lines; write it on one line"
    bad = next((ch for ch in text if unicodedata.category(ch) in _REFUSED_CATEGORIES), None)
    if bad is not None:
        return text, "control character", f"the label holds the control character U+{ord(bad):04X}; remove it"
    if len(text) > MAX_LABEL_CHARS:
        return (
            text,
            "too long",
            f"the label is {len(text)} characters, at most {MAX_LABEL_CHARS} (labels name what is painted in "
            "1-2 words, e.g. 'mountains')",
        )
    if _MARKUP.search(text):
        return text, "markup", "the label holds markup (<...>); write plain words"
    if _SERIALIZED.match(text):
        return text, "not text", "the label is a serialized dict/list, not words; write the label itself"
    return text, None, None


def parse_ms(value: object) -> int | None:
    """A frame time in whole milliseconds from a sheet cell or JSON value; None when blank; ValueError else."""
    if _missing(value) or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a whole number of milliseconds")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number of milliseconds") from None
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value != int(value) or value < 0:
        raise ValueError(f"{value!r} is not a whole number of milliseconds")
    return int(value)


@dataclass
class ImportReport:
    """What an import did: pairs added/changed/unchanged, rows rejected (with the reason), the file written.

    `rejected` holds every rejected row (row reference, reason); `rejected_kinds` the kind of each (same
    order), which `render` groups by so a file of a million bad rows prints a few lines.
    """

    added: list[str] = field(default_factory=list)
    changed: list[tuple[str, str, str]] = field(default_factory=list)  # (pair id, old text, new text)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (row reference, reason)
    rejected_kinds: list[str] = field(default_factory=list)
    written: Path | None = None
    rows: int = 0  # candidate rows read from the file

    def reject(self, ref: str, reason: str, kind: str) -> None:
        self.rejected.append((ref, reason))
        self.rejected_kinds.append(kind)

    @property
    def accepted(self) -> int:
        return len(self.added) + len(self.changed) + len(self.unchanged)

    def rejection_summary(self) -> str:
        """`"unknown pair id 3, empty text 1"`: rejected rows counted by kind, most frequent first."""
        counts = Counter(self.rejected_kinds)
        return ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def render(self, limit: int = 10) -> str:
        lines = [
            f"added {len(self.added)}, changed {len(self.changed)}, unchanged {len(self.unchanged)}, "
            f"rejected {len(self.rejected)}"
        ]
        lines += [f"  changed {pid}: {old!r} -> {new!r}" for pid, old, new in self.changed[:limit]]
        if len(self.changed) > limit:
            lines.append(f"  ... and {len(self.changed) - limit} more changed")
        if self.rejected:
            lines.append(f"  rejected rows by reason: {self.rejection_summary()}")
            lines += [f"  rejected {ref}: {why}" for ref, why in self.rejected[:limit]]
            if len(self.rejected) > limit:
                lines.append(f"  ... and {len(self.rejected) - limit} more rejected rows")
        if self.written:
            lines.append(f"written: {self.written}")
        elif not self.rows:
            lines.append("nothing written: the file holds no correction (fill the `correction` column)")
        else:
            lines.append("nothing written (no new or changed corrections)")
        return "\n".join(lines)


def _current_table(pairs: pd.DataFrame) -> dict[str, tuple[str, int, int]]:
    need = {"pair_id", "video_id", "prev_t_ms", "next_t_ms"}
    missing = need - set(pairs.columns)
    if missing:
        raise ValueError(f"current pairs lack columns {sorted(missing)}; re-materialize frame_pairs")
    return {
        str(pid): (str(video), int(a), int(b))
        for pid, video, a, b in zip(
            pairs["pair_id"], pairs["video_id"], pairs["prev_t_ms"], pairs["next_t_ms"], strict=True
        )
    }


def import_corrections(
    store_dir: Path,
    candidates: pd.DataFrame,
    source: str,
    pairs: pd.DataFrame,
    author: str = "",
) -> ImportReport:
    """Validate candidate corrections and append the new or changed ones; returns what happened.

    `candidates` has `pair_id`, `text` and `ref` (how a person finds the row: "line 7", "task 12"), and
    optionally `author` and the frame times the row was exported with (`prev_t_ms`, `next_t_ms`).
    `pairs` is the current frame_pairs of every video: pair_id, video_id, prev_t_ms, next_t_ms. Each
    accepted row is stored with the frame times of its pair now. Rejected: unknown pair ids; rows whose
    exported frame times differ from the pair's now (the video was re-curated: the row was written for
    other frames); labels that are not one short line of plain text (`check_label`); a pair listed more than
    once (all its rows when the texts differ; the repeats when they are equal). `corrected_at` is the
    import time, so the last import wins. Re-importing the same corrections writes nothing; nothing is
    written when every row is rejected.
    """
    current_pairs = _current_table(pairs)
    report = ImportReport(rows=len(candidates))
    latest = latest_corrections(store_dir)
    current = {
        (str(v), int(a), int(b)): str(t)
        for v, a, b, t in zip(latest["video_id"], latest["prev_t_ms"], latest["next_t_ms"], latest["text"], strict=True)
    }
    texts: dict[str, list[tuple[str, str]]] = {}
    keep = []
    for rec in candidates.to_dict("records"):
        ref, raw_pid = str(rec["ref"]), rec.get("pair_id")
        if not isinstance(raw_pid, str) and not _missing(raw_pid):
            report.reject(ref, f"the pair id is {_json_kind(raw_pid)}, not text like 'clip/007'", "unknown pair id")
            continue
        pid = "" if _missing(raw_pid) else raw_pid.strip()
        if pid not in current_pairs:
            shown = pid if len(pid) <= 80 else pid[:77] + "..."
            report.reject(
                ref, f"unknown pair id {shown!r}; export again to get the current pair ids", "unknown pair id"
            )
            continue
        video, prev_ms, next_ms = current_pairs[pid]
        try:
            sheet_times = (parse_ms(rec.get("prev_t_ms")), parse_ms(rec.get("next_t_ms")))
        except ValueError as exc:
            report.reject(ref, f"bad frame time for {pid}: {exc}; keep the exported prev_t_ms/next_t_ms", "bad time")
            continue
        if any(t is not None and t != now for t, now in zip(sheet_times, (prev_ms, next_ms), strict=True)):
            was = "-".join("?" if t is None else str(t) for t in sheet_times)
            report.reject(
                ref,
                f"pair {pid} now covers other frames ({prev_ms}-{next_ms} ms, the row was exported for {was} ms: "
                "the video was re-curated); export again and redo this row",
                "pair re-curated",
            )
            continue
        text, kind, why = check_label(rec.get("text"))
        if kind == "empty text":
            report.reject(ref, f"empty text for {pid}; write a label or leave the row out", kind)
            continue
        if kind is not None:
            report.reject(ref, f"{pid}: {why}", kind)
            continue
        texts.setdefault(pid, []).append((ref, text))
        keep.append({**rec, "pair_id": pid, "text": text, "ref": ref, "key": (video, prev_ms, next_ms)})
    accepted = []
    for rec in keep:
        rows = texts[rec["pair_id"]]
        if len({t for _, t in rows}) > 1:
            others = ", ".join(f"{r}: {t!r}" for r, t in rows[:5]) + (" ..." if len(rows) > 5 else "")
            report.reject(
                rec["ref"], f"{rec['pair_id']} listed with different texts ({others}); keep one", "conflicting texts"
            )
        elif rows[0][0] != rec["ref"]:
            report.reject(rec["ref"], f"duplicate of {rows[0][0]} for {rec['pair_id']}", "duplicate row")
        else:
            accepted.append(rec)
    stamp = now_utc()
    new_rows = []
    for rec in accepted:
        pid, text, key = rec["pair_id"], rec["text"], rec["key"]
        if current.get(key) == text:
            report.unchanged.append(pid)
            continue
        (report.changed.append((pid, current[key], text)) if key in current else report.added.append(pid))
        new_rows.append(
            {
                "pair_id": pid,
                "video_id": key[0],
                "prev_t_ms": key[1],
                "next_t_ms": key[2],
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
