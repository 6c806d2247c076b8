"""`instruction_labels`: the correction when a pair has one, else its auto label.

Corrections are matched to pairs by content: (video_id, prev_t_ms, next_t_ms), the video and the frame times
of the pair the correction was made for. A correction whose frames no longer form a pair (the video was
re-curated with other settings, or is gone) is orphaned: reported by `orphaned_corrections`, kept in the
history, and never moved to the pair that now has its index.
"""

from __future__ import annotations

import pandas as pd

from training.labels.store import CORRECTION_COLUMNS, KEY_COLUMNS

LABEL_COLUMNS = ["pair_id", "video_id", "pair_index", "text", "source", "auto_text", "backend", "corrected_at"]
PAIR_KEY_COLUMNS = ["video_id", "pair_index", "prev_t_ms", "next_t_ms"]
ORPHAN_COLUMNS = [*CORRECTION_COLUMNS, "reason"]


def _pair_keys(pairs: pd.DataFrame) -> pd.DataFrame:
    """`pairs` (frame_pairs rows with video_id) reduced to PAIR_KEY_COLUMNS with uniform dtypes."""
    missing = set(PAIR_KEY_COLUMNS) - set(pairs.columns)
    if missing:
        raise ValueError(f"frame pairs lack columns {sorted(missing)}; re-materialize frame_pairs")
    keys = pairs[PAIR_KEY_COLUMNS].astype(
        {"video_id": "string", "pair_index": "int64", "prev_t_ms": "Int64", "next_t_ms": "Int64"}
    )
    twice = keys.duplicated(["video_id", "pair_index"])
    if twice.any():
        video, index = keys.loc[twice, ["video_id", "pair_index"]].iloc[0]
        raise ValueError(f"frame_pairs of {video} lists pair {index} twice; re-materialize frame_pairs")
    return keys.reset_index(drop=True)


def _keyed(corrections: pd.DataFrame) -> pd.DataFrame:
    """The latest correction per pair content; rows without frame times (legacy) are left out."""
    missing = set(CORRECTION_COLUMNS) - set(corrections.columns)
    if missing:
        raise ValueError(f"corrections lack columns {sorted(missing)}; read them with latest_corrections")
    fixes = corrections.astype({"video_id": "string", "prev_t_ms": "Int64", "next_t_ms": "Int64"})
    fixes = fixes.dropna(subset=KEY_COLUMNS)
    return fixes.drop_duplicates(KEY_COLUMNS, keep="last")


def instruction_labels(auto: pd.DataFrame, corrections: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """One row per auto-labelled pair: `text` = correction if any, else the auto label; `source` says which.

    `pairs` are the current frame_pairs rows (video_id, pair_index, prev_t_ms, next_t_ms) of the videos in
    `auto`: they give each pair's frame times, by which corrections are matched. Pairs with neither keep
    text NaN and source NaN (the asset check fails on them). Corrections of frames that no pair covers now
    are not applied here (see `orphaned_corrections`).
    """
    missing = {"pair_id", "video_id", "pair_index", "text", "backend"} - set(auto.columns)
    if missing:
        raise ValueError(f"auto labels lack columns {sorted(missing)}; re-materialize auto_labels")
    out = auto[["pair_id", "video_id", "pair_index", "text", "backend"]].rename(columns={"text": "auto_text"})
    out = out.astype({"video_id": "string", "pair_index": "int64"}).reset_index(drop=True)
    out = out.merge(_pair_keys(pairs), on=["video_id", "pair_index"], how="left", validate="many_to_one")
    fixes = _keyed(corrections)[[*KEY_COLUMNS, "text", "corrected_at"]].rename(columns={"text": "fixed"})
    # a pair missing from `pairs` has NA times; NA keys must not meet in the merge, so they match nothing
    has_times = out["prev_t_ms"].notna() & out["next_t_ms"].notna()
    matched = out[has_times].merge(fixes, on=KEY_COLUMNS, how="left", validate="many_to_one")
    matched.index = out.index[has_times]
    corrected = matched["fixed"].reindex(out.index)
    has_auto = out["auto_text"].notna() & out["auto_text"].astype("string").str.strip().ne("")
    out["text"] = corrected.where(corrected.notna(), out["auto_text"].where(has_auto)).astype("string")
    out["source"] = pd.Series(pd.NA, index=out.index, dtype="string")
    out.loc[has_auto, "source"] = "auto"
    out.loc[corrected.notna(), "source"] = "correction"
    out["corrected_at"] = pd.to_datetime(matched["corrected_at"].reindex(out.index), utc=True)
    return out[LABEL_COLUMNS].reset_index(drop=True)


def _span(a: object, b: object) -> str:
    return f"{int(a)}-{int(b)} ms"


def orphaned_corrections(
    corrections: pd.DataFrame,
    legacy: pd.DataFrame,
    pairs: pd.DataFrame,
    videos: set[str] | None = None,
) -> pd.DataFrame:
    """Corrections that no current pair takes, each with the reason (ORPHAN_COLUMNS).

    `corrections`: `latest_corrections`; `legacy`: `legacy_corrections` (rows without frame times, never
    applied); `pairs`: the current frame_pairs rows with video_id of every curated video. `videos` limits the
    report to those videos (an asset partition). They stay in the history; nothing here moves them.
    """
    keys = _pair_keys(pairs)
    current = {
        (str(v), int(a), int(b)) for v, a, b in zip(keys["video_id"], keys["prev_t_ms"], keys["next_t_ms"], strict=True)
    }
    by_id = {
        f"{v}/{int(i):03d}": (int(a), int(b))
        for v, i, a, b in zip(keys["video_id"], keys["pair_index"], keys["prev_t_ms"], keys["next_t_ms"], strict=True)
    }
    curated = set(keys["video_id"].astype(str))
    rows = []
    for rec in _keyed(corrections).to_dict("records"):
        video, a, b = str(rec["video_id"]), int(rec["prev_t_ms"]), int(rec["next_t_ms"])
        if (video, a, b) in current:
            continue
        pid = str(rec["pair_id"])
        if video not in curated:
            why = f"video {video} has no frame pairs now (not curated any more); curate it again to apply it"
        elif pid in by_id:
            why = (
                f"pair {pid} now covers frames {_span(*by_id[pid])}, not the {_span(a, b)} this correction was made "
                "for (the video was re-curated); label the new pair again (labels export)"
            )
        else:
            why = f"no pair of {video} covers frames {_span(a, b)} now (the video was re-curated); label it again"
        rows.append({**{c: rec[c] for c in CORRECTION_COLUMNS}, "reason": why})
    for rec in legacy.to_dict("records"):
        pid = str(rec["pair_id"])
        why = (
            "recorded before corrections were keyed by frame times, so it is not applied (its pair may hold other "
            f"frames now); if {pid} still shows what you labelled, export (labels export --csv) and import this "
            "label again"
        )
        rows.append({**{c: rec.get(c) for c in CORRECTION_COLUMNS}, "reason": why})
    out = pd.DataFrame(rows, columns=ORPHAN_COLUMNS)
    if videos is not None:
        out = out[out["video_id"].isin(set(videos))]
    return out.sort_values(["video_id", "pair_id"], kind="stable").reset_index(drop=True)


def correction_rate(labels: pd.DataFrame) -> float:
    """Share of pairs whose label is a correction (0 for no pairs)."""
    corrected = labels["source"].eq("correction").fillna(False).astype(bool)  # unlabelled (NA) count as not
    return float(corrected.mean()) if len(labels) else 0.0


def most_frequent(labels: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The `n` most frequent label texts with their counts (ties by text)."""
    counts = labels["text"].dropna().value_counts().rename_axis("text").reset_index(name="count")
    return counts.sort_values(["count", "text"], ascending=[False, True], kind="stable").head(n).reset_index(drop=True)


def unlabelled(labels: pd.DataFrame) -> list[str]:
    """Pair ids without a label (what the asset check reports)."""
    return labels.loc[labels["text"].isna(), "pair_id"].tolist()
