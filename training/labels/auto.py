"""`auto_labels` of one video: a backend answers p' for every pair; each row records who answered and when."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from training.data.images import read_gray, read_rgb
from training.data_root import DataRoot
from training.labels.features import region_features, timeline_position
from training.labels.llava import DEFAULT_LLAVA, LlavaLabeller, llava_weights_available
from training.labels.nearest import NearestLabeller
from training.labels.prompts import P_LABEL, prompt_hash
from training.labels.store import now_utc, pair_id
from training.labels.synthetic import find_truth, load_layer_masks, load_truth, synthetic_label

AUTO_COLUMNS = ["pair_id", "video_id", "pair_index", "text", "backend", "model_id", "prompt_hash", "labelled_at"]
BACKENDS = ("auto", "llava", "synthetic", "nearest", "none")
NO_LABELLER_FIX = (
    "label the pairs by hand (`inverse-painting labels export --csv`, fill the `correction` column, "
    "`inverse-painting labels import` it), or make LLaVA weights local (models resource / auto_labels llava_model), "
    "or, once some pairs are corrected, re-materialize auto_labels with the `nearest` backend"
)


class PairLabeller(Protocol):
    backend: str
    model_id: str
    prompt_hash: str

    def label_table(self, pairs: pd.DataFrame, masks: pd.DataFrame | None) -> list[str | None]: ...


class SyntheticLabeller:
    """Ground-truth layer labels of a studio video (its truth file): see `synthetic_label` for the rule.

    With `layer_masks` (the studio's per-layer change masks) and the video's difference_masks table, each pair
    gets the layer that changed most of its M_t region (model id `...:visible`); otherwise the layer painted
    longest between the keyframes.
    """

    backend = "synthetic"
    prompt_hash = prompt_hash(P_LABEL)  # the truth answers the same question p'

    def __init__(self, truth: dict, layer_masks: list[np.ndarray] | None = None) -> None:
        self.truth = truth
        self.layer_masks = layer_masks
        self._base_id = f"studio-truth:{truth.get('generator', 'unknown')}"
        self.model_id = self._base_id + (":visible" if layer_masks is not None else "")

    def label_table(self, pairs: pd.DataFrame, masks: pd.DataFrame | None = None) -> list[str | None]:
        visible = self.layer_masks is not None and masks is not None
        # the id names the rule these rows were labelled by (auto_labels reads it after labelling)
        self.model_id = self._base_id + (":visible" if visible else "")
        mask_of = masks.set_index("pair_index")["mt_mask_path"] if visible else None
        out: list[str | None] = []
        for index, a, b in zip(pairs["pair_index"], pairs["prev_t_ms"], pairs["next_t_ms"], strict=True):
            changed = None
            if mask_of is not None:
                if index not in mask_of.index:
                    raise ValueError(
                        f"pair {index} has no M_t mask in difference_masks; re-materialize difference_masks"
                    )
                changed = read_gray(mask_of[index])
            out.append(synthetic_label(self.truth, int(a), int(b), changed, self.layer_masks if visible else None))
        return out


class LlavaPairs:
    """`LlavaLabeller` over a frame_pairs table, reading one batch of images at a time."""

    backend = "llava"

    def __init__(self, labeller: LlavaLabeller) -> None:
        self.labeller = labeller
        self.model_id = labeller.model_id
        self.prompt_hash = labeller.prompt_hash

    def label_table(self, pairs: pd.DataFrame, masks: pd.DataFrame | None = None) -> list[str | None]:
        out: list[str | None] = []
        paths = list(zip(pairs["prev_path"], pairs["next_path"], strict=True))
        step = self.labeller.batch_size
        for start in range(0, len(paths), step):
            images = [(read_rgb(a), read_rgb(b)) for a, b in paths[start : start + step]]
            out += [t or None for t in self.labeller.label(images)]
        return out


class PendingPairs:
    """No labeller: every pair stays pending (text None) until a person corrects it; nothing is invented."""

    backend = "none"
    model_id = "none"
    prompt_hash = prompt_hash(P_LABEL)

    def label_table(self, pairs: pd.DataFrame, masks: pd.DataFrame | None = None) -> list[str | None]:
        return [None] * len(pairs)


class NearestPairs:
    """A fitted `NearestLabeller` over a pairs table; needs the video's difference_masks table (M_t masks)."""

    backend = "nearest"
    prompt_hash = prompt_hash(P_LABEL)

    def __init__(self, labeller: NearestLabeller, n_examples: int) -> None:
        self.labeller = labeller
        self.model_id = f"{labeller.model_id}:{labeller.describe}:n={n_examples}"

    def label_table(self, pairs: pd.DataFrame, masks: pd.DataFrame | None) -> list[str | None]:
        if masks is None:
            raise ValueError("the nearest backend needs the video's difference_masks table (M_t masks)")
        features = np.stack(list(table_features(pairs, masks))) if len(pairs) else np.zeros((0, 0))
        return list(self.labeller.predict(features)) if len(pairs) else []


def table_features(
    pairs: pd.DataFrame, masks: pd.DataFrame, video_pairs: pd.DataFrame | None = None
) -> Iterator[np.ndarray]:
    """Feature vectors of the pairs, in the order of `pairs` (joined to `masks` on pair_index).

    `video_pairs` is the video's whole frame_pairs table (default: `pairs`): the time line and the blank canvas
    (the first keyframe) come from it, so a few chosen pairs get the features they have in the full table.
    """
    mask_of = masks.set_index("pair_index")["mt_mask_path"]
    whole = pairs if video_pairs is None else video_pairs
    if len(pairs) == 0:
        return
    first_ms, last_ms = float(whole["prev_t_ms"].min()), float(whole["next_t_ms"].max())
    blank = read_rgb(whole.sort_values("prev_t_ms")["prev_path"].iloc[0])
    targets: dict[str, np.ndarray] = {}  # I_T is the same file for every pair of a video
    for rec in pairs[["pair_index", "prev_t_ms", "next_t_ms", "prev_path", "next_path", "target_path"]].itertuples():
        if rec.pair_index not in mask_of.index:
            raise ValueError(
                f"pair {rec.pair_index} has no M_t mask in difference_masks; re-materialize difference_masks"
            )
        if str(rec.target_path) not in targets:
            targets[str(rec.target_path)] = read_rgb(rec.target_path)
        yield region_features(
            read_rgb(rec.prev_path),
            read_rgb(rec.next_path),
            read_gray(mask_of[rec.pair_index]),
            targets[str(rec.target_path)],
            blank,
            timeline_position(rec.prev_t_ms, rec.next_t_ms, first_ms, last_ms),
        )


def read_pair_tables(data_root: Path, video_id: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The frame_pairs table of a video and its difference_masks table (None when not materialized)."""
    layout = DataRoot(data_root)
    pairs_path = layout.table_path("frame_pairs", video_id)
    if not pairs_path.is_file():
        raise FileNotFoundError(f"{pairs_path}: no frame_pairs table for {video_id!r}; materialize frame_pairs first")
    masks_path = layout.table_path("difference_masks", video_id)
    return pd.read_parquet(pairs_path), (pd.read_parquet(masks_path) if masks_path.is_file() else None)


def fit_nearest(data_root: Path, corrections: pd.DataFrame, k: int | None = None) -> NearestPairs:
    """A `nearest` labeller fitted on every corrected pair whose tables exist under `data_root`."""
    feats, labels = [], []
    by_video: dict[str, dict[tuple[int, int], str]] = {}  # corrections belong to frame times, not pair indices
    columns = ("video_id", "prev_t_ms", "next_t_ms", "text")
    for video, prev_ms, next_ms, text in zip(*(corrections[c] for c in columns), strict=True):
        by_video.setdefault(str(video), {})[(int(prev_ms), int(next_ms))] = text
    for video, wanted in sorted(by_video.items()):
        try:
            pairs, masks = read_pair_tables(data_root, video)
        except FileNotFoundError:
            continue  # a correction of a video no longer curated teaches nothing here
        if masks is None:
            continue
        times = list(zip(pairs["prev_t_ms"].astype(int), pairs["next_t_ms"].astype(int), strict=True))
        chosen = pairs.loc[np.array([t in wanted for t in times], dtype=bool)]
        chosen_times = zip(chosen["prev_t_ms"], chosen["next_t_ms"], strict=True)
        for (a, b), vec in zip(chosen_times, table_features(chosen, masks, pairs), strict=True):
            feats.append(vec)
            labels.append(wanted[(int(a), int(b))])
    if not feats:
        raise ValueError(
            "the nearest backend has no corrected pair to learn from; correct some pairs first "
            "(inverse-painting labels export --csv, edit, labels import)"
        )
    return NearestPairs(NearestLabeller(k=k).fit(np.stack(feats), labels), len(labels))


def choose_backend(
    requested: str, video_path: Path | None, llava_model: str | Path = DEFAULT_LLAVA, has_corrections: bool = False
) -> str:
    """Resolve `auto`: llava when its weights are local, else synthetic for studio videos, else nearest when
    corrections exist, else none (every pair pending for a person to label)."""
    if requested not in BACKENDS:
        raise ValueError(f"unknown label backend {requested!r}; choose one of {', '.join(BACKENDS)}")
    if requested != "auto":
        return requested
    if llava_weights_available(llava_model):
        return "llava"
    if video_path is not None and find_truth(video_path) is not None:
        return "synthetic"
    if has_corrections:
        return "nearest"
    return "none"


def synthetic_labeller(video_path: Path) -> SyntheticLabeller:
    truth = find_truth(video_path)
    if truth is None:
        raise ValueError(
            f"{video_path}: the synthetic backend needs the studio's truth file "
            f"{Path(video_path).resolve().with_suffix('').name}.truth.json beside the video; use llava or nearest"
        )
    loaded = load_truth(truth)
    return SyntheticLabeller(loaded, load_layer_masks(loaded, truth))


def auto_labels(video_id: str, pairs: pd.DataFrame, masks: pd.DataFrame | None, labeller: PairLabeller) -> pd.DataFrame:
    """The `auto_labels` table of one video (AUTO_COLUMNS); text None where the backend has no answer."""
    texts = labeller.label_table(pairs, masks)
    if len(texts) != len(pairs):
        raise RuntimeError(f"{labeller.backend} returned {len(texts)} labels for {len(pairs)} pairs")
    stamp = now_utc()
    frame = pd.DataFrame(
        {
            "pair_id": [pair_id(video_id, int(i)) for i in pairs["pair_index"]],
            "video_id": video_id,
            "pair_index": pairs["pair_index"].astype("int64").to_numpy(),
            "text": pd.Series(texts, dtype="string"),
            "backend": labeller.backend,
            "model_id": labeller.model_id,
            "prompt_hash": labeller.prompt_hash,
            "labelled_at": stamp,
        },
        columns=AUTO_COLUMNS,
    )
    return frame


def make_pair_labeller(
    backend: str,
    video_path: Path | None,
    data_root: Path,
    llava_model: str | Path = DEFAULT_LLAVA,
    device: str = "auto",
    batch_size: int = 8,
    k: int | None = None,
) -> PairLabeller:
    """The labeller for one video: `backend` in BACKENDS (`auto` resolved by `choose_backend`).

    `nearest` learns from the correction store `<data_root>/label_corrections/` at call time.
    """
    from training.labels.store import latest_corrections

    corrections = latest_corrections(DataRoot(data_root).corrections_dir)
    chosen = choose_backend(backend, video_path, llava_model, has_corrections=not corrections.empty)
    if chosen == "llava":
        return LlavaPairs(LlavaLabeller(llava_model, device=device, batch_size=batch_size))
    if chosen == "none":
        return PendingPairs()
    if chosen == "synthetic":
        if video_path is None:
            raise ValueError("the synthetic backend needs the video's path to find its truth file")
        return synthetic_labeller(video_path)
    return fit_nearest(data_root, corrections, k=k)
