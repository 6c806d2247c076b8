"""`instruction_labels`: the correction when a pair has one, else its auto label."""

from __future__ import annotations

import pandas as pd

LABEL_COLUMNS = ["pair_id", "video_id", "pair_index", "text", "source", "auto_text", "backend", "corrected_at"]


def instruction_labels(auto: pd.DataFrame, corrections: pd.DataFrame) -> pd.DataFrame:
    """One row per auto-labelled pair: `text` = correction if any, else the auto label; `source` says which.

    Pairs with neither keep text NaN and source NaN (the asset check fails on them). Corrections of
    pairs not in `auto` are ignored here (they belong to other videos or to pairs no longer present).
    """
    missing = {"pair_id", "video_id", "pair_index", "text", "backend"} - set(auto.columns)
    if missing:
        raise ValueError(f"auto labels lack columns {sorted(missing)}; re-materialize auto_labels")
    fixes = corrections.drop_duplicates("pair_id", keep="last").set_index("pair_id")
    out = auto[["pair_id", "video_id", "pair_index", "text", "backend"]].rename(columns={"text": "auto_text"})
    corrected = out["pair_id"].map(fixes["text"]) if len(fixes) else pd.Series(pd.NA, index=out.index)
    has_auto = out["auto_text"].notna() & out["auto_text"].astype("string").str.strip().ne("")
    out["text"] = corrected.where(corrected.notna(), out["auto_text"].where(has_auto)).astype("string")
    out["source"] = pd.Series(pd.NA, index=out.index, dtype="string")
    out.loc[has_auto, "source"] = "auto"
    out.loc[corrected.notna(), "source"] = "correction"
    when = out["pair_id"].map(fixes["corrected_at"]) if len(fixes) else pd.Series(pd.NaT, index=out.index)
    out["corrected_at"] = pd.to_datetime(when, utc=True)
    return out[LABEL_COLUMNS].reset_index(drop=True)


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
