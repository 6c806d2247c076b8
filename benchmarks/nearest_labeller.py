"""The `nearest` labeller against studio truth: fit on the corrected labels of half the videos, test on the rest.

    .venv/bin/python -m benchmarks.nearest_labeller [--count 24] [--seed 3000] [--data DIR] [--k K] [--cv]

Held-out studio seeds (SeedSequence(3000), 60 s videos; the tests use seeds 100-199) run through the real
per-video chain, `pipelines.curate.curate` with `chain_config(1.0, 10)` (1 s sampling, ~10 keyframes), so
frames, masks and pairs are what the pipeline makes, camera, hands and compression included. Every pair
is labelled with `synthetic_label` (the layer that changed most of the pair's M_t region, from the studio's
layer masks; `--rule painting-time`: the layer painted longest between the keyframes, the earlier rule) standing
in for a person's corrections; `nearest` is fitted on the pairs of the first half of the videos (sorted ids) and
scored on the second half, by exact label and by layer kind (the studio names some kinds two ways, e.g.
"lake"/"water", by what is drawn: see training.data.studio.landscape). Also swaps the halves, and
splits the score by pair purity (share of the interval's painting time spent on one layer: a pair spanning
several layers shows all of them in its mask). Nothing is tuned on the test half: the labeller's one setting
(shrinkage) and its feature set were chosen by leave-one-video-out cross-validation on the training halves
(`--cv` prints it for the Ledoit-Wolf estimate and a range of fixed shrinkages). nearest-v5 (each label's
covariance shrunk by Ledoit-Wolf; leave-one-video-out on the four training halves 82.5 / 75.5 / 85.6 / 81.4 %):
exact 80.6 % / 84.5 % at --count 24, 80.3 % / 83.6 % at --count 48 (nearest-v4, a pooled covariance shrunk by
0.5: 79.6 / 80.4, 77.6 / 83.1; leave-one-video-out 83.5 / 73.5 / 83.1 / 79.2 %).
Videos and tables are cached under --data; a cached truth file whose layer names predate the studio's current
naming rules is relabelled (names never change pixels).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from training.data.images import read_gray
from training.data.storage import atomic_path
from training.data_root import DataRoot
from training.labels.auto import table_features
from training.labels.nearest import NearestLabeller
from training.labels.synthetic import load_layer_masks, synthetic_label

PURE = 0.75


def refresh_labels(truth_path: Path, video_id: str, seed: int) -> None:
    """Rewrite the layer labels of a cached truth file when the studio's naming rules changed since.

    Names never change pixels (the studio keeps every random draw), so the cached video stays valid.
    """
    from training.data.studio import Studio

    truth = json.loads(truth_path.read_text())
    labels = [layer.label for layer in Studio(video_id, seed).layers]
    if [layer["label"] for layer in truth["layers"]] != labels:
        for layer, label in zip(truth["layers"], labels, strict=True):
            layer["label"] = label
        with atomic_path(truth_path) as tmp:
            Path(tmp).write_text(json.dumps(truth, indent=1))


def prepare(root: Path, count: int, seed: int) -> Path:
    """Studio videos + the per-video chain; returns the data root (skips work already done)."""
    from pipelines.curate import curate
    from pipelines.demo import chain_config
    from training.data.studio.video import generate_video, studio_video_ids

    studio = root / "studio"
    videos = []
    # the seeds generate_studio(count, seed) uses; a video already generated is kept
    children = np.random.SeedSequence(seed).spawn(count)
    for video_id, child in zip(studio_video_ids(count, seed), children, strict=True):
        seed_i = int(child.generate_state(1)[0])
        if not (studio / f"{video_id}.truth.json").is_file():
            generate_video(studio, video_id, seed_i)
        else:
            refresh_labels(studio / f"{video_id}.truth.json", video_id, seed_i)
        videos.append(studio / f"{video_id}.mp4")
    data = root / "data"
    done = {p.stem for p in DataRoot(data).asset_dir("difference_masks").glob("*.parquet")}
    todo = [v for v in videos if v.stem not in done]
    if todo:
        report = curate(todo, data, root / "dagster", run_config=chain_config(1.0, 10))
        for key, why in report.failures.items():
            print(f"FAILED {key}: {why}")
    return data


def truth_labeller(data: Path, studio: Path, video: str, rule: str):
    """`label(rec)` of a frame_pairs record of `video`: its truth label by `rule` (visible or painting-time)."""
    truth_path = studio / f"{video}.truth.json"
    truth = json.loads(truth_path.read_text())
    if rule == "painting-time":
        return truth, lambda rec: synthetic_label(truth, int(rec["prev_t_ms"]), int(rec["next_t_ms"]))
    layer_masks = load_layer_masks(truth, truth_path)
    if layer_masks is None:
        raise ValueError(f"{truth_path}: no layer masks for the visible rule; delete it to regenerate the video")
    masks = pd.read_parquet(DataRoot(data).table_path("difference_masks", video))
    mask_of = masks.set_index("pair_index")["mt_mask_path"]

    def label(rec: dict) -> str | None:
        changed = read_gray(mask_of[rec["pair_index"]])
        return synthetic_label(truth, int(rec["prev_t_ms"]), int(rec["next_t_ms"]), changed, layer_masks)

    return truth, label


def labelled_pairs(data: Path, studio: Path, wanted: set[str], rule: str = "visible") -> pd.DataFrame:
    """Every pair of the `wanted` curated videos: features (from the chain's files) and its truth label."""
    rows = []
    for table in sorted(DataRoot(data).asset_dir("difference_masks").glob("*.parquet")):
        video = table.stem
        if video not in wanted:
            continue
        truth, truth_label = truth_labeller(data, studio, video, rule)
        kind_of = {layer["label"]: layer["kind"] for layer in truth["layers"]}
        pairs = pd.read_parquet(DataRoot(data).table_path("frame_pairs", video))
        masks = pd.read_parquet(table)
        feats = list(table_features(pairs, masks))  # the whole video: its time line and blank canvas
        for rec, vec in zip(pairs.to_dict("records"), feats, strict=True):
            label = truth_label(rec)
            if label is None:
                continue  # nothing painted in the interval: no truth to learn or score
            spans = [
                max(0, min(layer["end_ms"], rec["next_t_ms"]) - max(layer["start_ms"], rec["prev_t_ms"]))
                for layer in truth["layers"]
            ]
            purity = max(spans) / sum(spans) if sum(spans) else 1.0  # share of the interval's painting time
            rows.append({"video": video, "label": label, "kind": kind_of[label], "purity": purity, "features": vec})
    return pd.DataFrame(rows)


def visible_agreement(
    studio: Path, count: int, seed: int, table: pd.DataFrame, data: Path, rule: str
) -> tuple[float, float]:
    """Shares of pairs whose truth label (by `rule`) is the layer that visibly changed most, two ways.

    The studio is re-rendered stroke by stroke. First: the layer whose own strokes in the interval changed most
    canvas pixels. Second: the same with later strokes hiding earlier ones (each changed pixel goes to the last
    layer that changed it in the interval), counted inside the pair's M_t mask: what the pair image shows.
    What a labeller naming the most visible change, with a perfect per-layer segmentation, would score.
    """
    import cv2

    from training.data.studio import Studio
    from training.data.studio.studio import change_mask
    from training.data.studio.video import studio_video_ids

    own_hits, shown_hits = [], []
    children = np.random.SeedSequence(seed).spawn(count)
    for video_id, child in zip(studio_video_ids(count, seed), children, strict=True):
        if video_id not in set(table["video"]):
            continue
        st = Studio(video_id, int(child.generate_state(1)[0]))
        _, truth_label = truth_labeller(data, studio, video_id, rule)
        mask_of = pd.read_parquet(DataRoot(data).table_path("difference_masks", video_id)).set_index("pair_index")
        for rec in pd.read_parquet(DataRoot(data).table_path("frame_pairs", video_id)).to_dict("records"):
            label = truth_label(rec)
            if label is None:
                continue
            region = read_gray(mask_of.loc[rec["pair_index"], "mt_mask_path"]) > 0
            first, last = np.searchsorted(st.stroke_times, [rec["prev_t_ms"], rec["next_t_ms"]], side="right")
            changed = {}
            for layer in st.layers:
                a, b = max(layer.first, first), min(layer.last, last)
                if b > a:
                    mask = change_mask(st.paint.at(a).copy(), st.paint.at(b))
                    changed[layer.label] = cv2.resize(mask, region.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
            own = {name: int(m.sum()) for name, m in changed.items()}
            shown, hidden = {}, np.zeros_like(region)
            for name in list(changed)[::-1]:  # layers in painting order: later ones lie on top
                shown[name] = int((changed[name] & region & ~hidden).sum())
                hidden |= changed[name]
            own_hits.append(bool(own) and max(own, key=own.__getitem__) == label)
            shown_hits.append(bool(shown) and max(shown, key=shown.__getitem__) == label)
    return float(np.mean(own_hits)), float(np.mean(shown_hits))


def score(train: pd.DataFrame, test: pd.DataFrame, k: int | None) -> tuple[float, float, list[str]]:
    model = NearestLabeller(k=k).fit(np.stack(train["features"]), train["label"].tolist())
    predicted = model.predict(np.stack(test["features"]))
    exact = float(np.mean([p == t for p, t in zip(predicted, test["label"], strict=True)]))
    kind_of = dict(zip(pd.concat([train, test])["label"], pd.concat([train, test])["kind"], strict=True))
    kind = float(np.mean([kind_of[p] == t for p, t in zip(predicted, test["kind"], strict=True)]))
    return exact, kind, predicted


def video_cv(train: pd.DataFrame, shrinkage: float | str, k: int | None) -> tuple[float, float]:
    """Leave-one-video-out accuracy (exact label, kind) on `train` alone: how settings are chosen."""
    hits, kinds = [], []
    kind_of = dict(zip(train["label"], train["kind"], strict=True))
    for video in sorted(train["video"].unique()):
        fit, held = train[train["video"] != video], train[train["video"] == video]
        model = NearestLabeller(k=k, shrinkage=shrinkage).fit(np.stack(fit["features"]), fit["label"].tolist())
        predicted = model.predict(np.stack(held["features"]))
        hits += [p == t for p, t in zip(predicted, held["label"], strict=True)]
        kinds += [kind_of[p] == t for p, t in zip(predicted, held["kind"], strict=True)]
    return float(np.mean(hits)), float(np.mean(kinds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=24)
    parser.add_argument("--seed", type=int, default=3000)
    parser.add_argument("--k", type=int, default=None, help="k nearest pairs instead of the nearest label mean")
    parser.add_argument("--data", type=Path, default=Path("data/benchmarks/nearest_labeller"))
    parser.add_argument(
        "--rule",
        choices=("visible", "painting-time"),
        default="visible",
        help="truth label of a pair: the layer changing most of its M_t region, or the one painted longest",
    )
    parser.add_argument(
        "--visible-ceiling",
        action="store_true",
        help="also re-render the studio strokes to report how often the truth is the most visibly changed layer",
    )
    parser.add_argument(
        "--cv",
        action="store_true",
        help="also print leave-one-video-out accuracy on the first half for Ledoit-Wolf and a range of shrinkages",
    )
    args = parser.parse_args()
    start = time.time()
    data = prepare(args.data, args.count, args.seed)
    from training.data.studio.video import studio_video_ids

    table = labelled_pairs(data, args.data / "studio", set(studio_video_ids(args.count, args.seed)), args.rule)
    videos = sorted(table["video"].unique())
    half = len(videos) // 2
    print(f"{len(table)} labelled pairs from {len(videos)} videos ({time.time() - start:.0f} s incl. data)")
    print(f"truth rule: {args.rule}")
    print(f"labeller: {NearestLabeller(k=args.k).model_id}:{NearestLabeller(k=args.k).describe}")
    for name, (a, b) in {
        "first->second": (videos[:half], videos[half:]),
        "second->first": (videos[half:], videos[:half]),
    }.items():
        train, test = table[table["video"].isin(a)], table[table["video"].isin(b)]
        exact, kind, predicted = score(train, test, args.k)
        print(f"{name}: train {len(train)} pairs, test {len(test)}: exact-label accuracy {exact:.1%}, kind {kind:.1%}")
        pure = (test["purity"] >= PURE).to_numpy()
        hits = np.array(predicted) == test["label"].to_numpy()
        print(
            f"  pairs where one layer has >= {PURE:.0%} of the painting time ({pure.mean():.0%} of test pairs): "
            f"{hits[pure].mean():.1%}; mixed pairs: {hits[~pure].mean():.1%}"
        )
        # what a perfect kind classifier would score on exact labels: each kind's majority name in training
        majority = train.groupby("kind")["label"].agg(lambda s: s.value_counts().index[0]).to_dict()
        ceiling = float(np.mean([majority.get(k) == t for k, t in zip(test["kind"], test["label"], strict=True)]))
        print(f"  exact-label ceiling of a perfect kind classifier (majority name per kind): {ceiling:.1%}")
        wrong = Counter((t, p) for t, p in zip(test["label"], predicted, strict=True) if t != p)
        print("  most frequent errors (truth -> predicted):", wrong.most_common(6))
    if args.cv:
        first = table[table["video"].isin(videos[:half])]
        for shrinkage in ("auto", 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
            exact, kind = video_cv(first, shrinkage, args.k)
            print(f"leave-one-video-out on the first half, shrinkage {shrinkage}: exact {exact:.1%}, kind {kind:.1%}")
    if args.visible_ceiling:
        own, shown = visible_agreement(args.data / "studio", args.count, args.seed, table, data, args.rule)
        print(f"truth label == the layer whose strokes in the interval changed most pixels: {own:.1%}")
        print(f"truth label == the layer changing most pixels the pair shows (later on top, in M_t): {shown:.1%}")


if __name__ == "__main__":
    main()
