"""Prompts and normalisation, composition, synthetic truth labels, region features and the nearest labeller."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.labels.compose import pad_to_square, side_by_side
from training.labels.features import FEATURE_NAMES, region_features
from training.labels.nearest import NearestLabeller
from training.labels.prompts import P_INSTRUCT, P_LABEL, normalise, prompt_hash
from training.labels.synthetic import find_truth, load_truth, synthetic_label


def test_prompts_are_the_papers_verbatim():
    assert P_INSTRUCT.startswith("There are two images side by side. The left image is an intermediate stage")
    assert "what content should be painted next?" in P_INSTRUCT
    assert "Please tell me what is added to right image? The answer should be less than 2 words." in P_LABEL
    # the release's training JSON asks exactly p
    release = "/work/shared/realdata/official_sample/sample_data_processed/train/llava_json.json"
    try:
        records = json.loads(Path(release).read_text(encoding="utf-8"))
    except FileNotFoundError:
        pytest.skip("official sample not present")
    assert records[0]["conversations"][0]["value"] == "<image>\n" + P_INSTRUCT
    assert prompt_hash(P_LABEL) != prompt_hash(P_INSTRUCT) and len(prompt_hash(P_LABEL)) == 12


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Mountain, sky", "mountain, sky"),
        ("  The trees.", "trees"),
        ("The answer is: Distant Mountains!", "distant mountains"),
        ("a big red barn in the field", "big red"),
        ("Sky\nBecause the right image...", "sky"),
        ("clouds , , sun.", "clouds, sun"),
        ("", ""),
        ("?!", ""),
    ],
)
def test_normalise(raw, expected):
    assert normalise(raw) == expected


def test_side_by_side_resizes_right_to_left_height():
    left = np.zeros((10, 7, 3), np.uint8)
    right = np.full((20, 30, 3), 9, np.uint8)
    out = side_by_side(left, right)
    assert out.shape == (10, 7 + 15, 3)
    assert (out[:, :7] == 0).all() and (out[:, 7:] == 9).all()
    assert pad_to_square(out, (1, 2, 3)).shape == (22, 22, 3)
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        side_by_side(left.astype(np.float32), right)


TRUTH = {
    "layers": [
        {"index": 0, "label": "sky", "start_ms": 1000, "end_ms": 5000},
        {"index": 1, "label": "mountains", "start_ms": 5000, "end_ms": 8000},
        {"index": 2, "label": "birds", "start_ms": 9000, "end_ms": 9000},
        {"index": 3, "label": "rocks", "start_ms": 9500, "end_ms": 10500},
    ]
}


@pytest.mark.parametrize(
    ("prev", "nxt", "label"),
    [
        (0, 4000, "sky"),
        (4000, 7000, "mountains"),  # 1 s of sky, 2 s of mountains
        (3000, 7000, "mountains"),  # 2 s each: tie -> the later layer
        (8000, 9200, "birds"),  # painted in an instant, inside the interval
        (8500, 9000, "birds"),  # (prev, next] includes next
        (9000, 9400, None),  # birds are at 9000, not in (9000, 9400]
        (8000, 12000, "rocks"),
        (20000, 30000, None),
    ],
)
def test_synthetic_label_most_painted_layer(prev, nxt, label):
    """Without masks (or when no mask tells the layers apart) the layer painted longest wins."""
    assert synthetic_label(TRUTH, prev, nxt) == label
    if label is not None:  # an empty changed region falls back to painting time
        blank = [np.zeros((4, 6), bool)] * len(TRUTH["layers"])
        assert synthetic_label(TRUTH, prev, nxt, np.zeros((4, 6), np.uint8), blank) == label


def _masks(shape, boxes):
    out = []
    for rows, cols in boxes:
        mask = np.zeros(shape, bool)
        mask[rows, cols] = True
        out.append(mask)
    return out


# 10 x 10 canvas: grass is painted for 1 s over the lower half, birds for 8 s as a 2 x 2 patch of sky
VISIBLE = {
    "layers": [
        {"index": 0, "label": "grass", "start_ms": 0, "end_ms": 1000},
        {"index": 1, "label": "birds", "start_ms": 1000, "end_ms": 9000},
    ]
}
VISIBLE_MASKS = _masks((10, 10), [(slice(5, 10), slice(0, 10)), (slice(0, 2), slice(0, 2))])


def test_synthetic_label_names_the_visibly_larger_change():
    changed = (VISIBLE_MASKS[0] | VISIBLE_MASKS[1]).astype(np.uint8) * 255
    assert synthetic_label(VISIBLE, 0, 9000) == "birds"  # painting time alone
    assert synthetic_label(VISIBLE, 0, 9000, changed, VISIBLE_MASKS) == "grass"  # 50 pixels against 4
    # only the pair's changed region counts: grass that did not change here is not seen to change
    sky_only = VISIBLE_MASKS[1].astype(np.uint8) * 255
    assert synthetic_label(VISIBLE, 0, 9000, sky_only, VISIBLE_MASKS) == "birds"
    # only layers painted in the interval are candidates, however large their mask
    assert synthetic_label(VISIBLE, 2000, 9000, changed, VISIBLE_MASKS) == "birds"
    # masks on another grid (the canvas frames may differ from the canvas by a pixel) are resized to M_t's
    big = [np.kron(m, np.ones((3, 3), bool)) for m in VISIBLE_MASKS]
    assert synthetic_label(VISIBLE, 0, 9000, changed, big) == "grass"
    # an equal visible change falls back to painting time
    tie = _masks((10, 10), [(slice(0, 2), slice(5, 7)), (slice(0, 2), slice(0, 2))])
    assert synthetic_label(VISIBLE, 0, 1500, (tie[0] | tie[1]).astype(np.uint8), tie) == "grass"  # 1 s vs 0.5 s
    with pytest.raises(ValueError, match="1 layer masks for 2 truth layers"):
        synthetic_label(VISIBLE, 0, 9000, changed, VISIBLE_MASKS[:1])


def test_synthetic_label_later_layer_hides_the_earlier_one():
    """Trees painted over grass show as trees: the later layer claims the pixels both masks cover."""
    truth = {
        "layers": [
            {"index": 0, "label": "grass", "start_ms": 0, "end_ms": 5000},
            {"index": 1, "label": "trees", "start_ms": 5000, "end_ms": 6000},
        ]
    }
    grass, trees = _masks((10, 10), [(slice(4, 10), slice(0, 10)), (slice(4, 10), slice(0, 6))])
    changed = grass.astype(np.uint8)
    # grass's own mask (60 px) is larger, but 36 of its pixels end up under trees, leaving 24 visible
    assert synthetic_label(truth, 0, 6000, changed, [grass, trees]) == "trees"
    assert synthetic_label(truth, 0, 4000, changed, [grass, trees]) == "grass"  # trees not painted yet


def test_synthetic_labeller_reads_the_studio_masks(tmp_path):
    from training.data.images import write_image
    from training.labels.auto import synthetic_labeller

    truth = json.loads(json.dumps(VISIBLE))
    (tmp_path / "clip.masks").mkdir()
    for layer, mask in zip(truth["layers"], VISIBLE_MASKS, strict=True):
        layer["mask"] = f"clip.masks/{layer['index']:02d}_{layer['label']}.png"
        write_image(tmp_path / layer["mask"], mask.astype(np.uint8) * 255)
    (tmp_path / "clip.truth.json").write_text(json.dumps(truth))
    (tmp_path / "clip.mp4").write_bytes(b"x")
    mt = tmp_path / "mt.png"
    write_image(mt, (VISIBLE_MASKS[0] | VISIBLE_MASKS[1]).astype(np.uint8) * 255)
    pairs = pd.DataFrame({"pair_index": [0, 1], "prev_t_ms": [0, 2000], "next_t_ms": [9000, 9000]})
    masks = pd.DataFrame({"pair_index": [0, 1], "mt_mask_path": [str(mt), str(mt)]})

    labeller = synthetic_labeller(tmp_path / "clip.mp4")
    assert labeller.label_table(pairs, masks) == ["grass", "birds"]
    assert labeller.model_id == "studio-truth:unknown:visible"
    assert labeller.label_table(pairs, None) == ["birds", "birds"]  # no M_t masks: painting time
    assert labeller.model_id == "studio-truth:unknown"
    with pytest.raises(ValueError, match="pair 1 has no M_t mask"):
        labeller.label_table(pairs, masks.iloc[:1])
    (tmp_path / truth["layers"][1]["mask"]).unlink()
    with pytest.raises(ValueError, match=r"01_birds\.png is missing"):
        synthetic_labeller(tmp_path / "clip.mp4")


def test_find_truth_follows_symlinks(tmp_path):
    studio, videos = tmp_path / "studio", tmp_path / "videos"
    studio.mkdir()
    videos.mkdir()
    (studio / "clip.mp4").write_bytes(b"x")
    (studio / "clip.truth.json").write_text(json.dumps(TRUTH))
    (videos / "clip.mp4").symlink_to(studio / "clip.mp4")
    (videos / "other.mp4").write_bytes(b"x")
    assert find_truth(videos / "clip.mp4") == (studio / "clip.truth.json").resolve()
    assert find_truth(videos / "other.mp4") is None
    assert load_truth(find_truth(videos / "clip.mp4"))["layers"][0]["label"] == "sky"
    (studio / "bad.truth.json").write_text("{")
    with pytest.raises(ValueError, match=r"bad\.truth\.json"):
        load_truth(studio / "bad.truth.json")
    # a user's own <stem>.truth.json in another format: the video is treated as real footage, with a warning
    for name, foreign in (("notes", {"notes": "sky first"}), ("mine", {"layers": [{"name": "sky", "t": 3}]})):
        (videos / f"{name}.mp4").write_bytes(b"x")
        (videos / f"{name}.truth.json").write_text(json.dumps(foreign))
        with pytest.warns(UserWarning, match=rf"ignoring .*{name}\.truth\.json: not a studio truth file"):
            assert find_truth(videos / f"{name}.mp4") is None


def _scene(colour, rows, rng, texture=0.0, timeline=(0.5, 0.6)):
    """region_features arguments: a white canvas and the same canvas with a coloured band painted over `rows`."""
    prev = np.full((48, 64, 3), 255, np.uint8)
    nxt = prev.copy()
    noise = rng.normal(0, texture, (rows.stop - rows.start, 64, 3))
    nxt[rows] = np.clip(np.asarray(colour) + noise, 0, 255).astype(np.uint8)
    mask = np.zeros((48, 64), np.uint8)
    mask[rows] = 255
    return prev, nxt, mask, nxt, prev, timeline  # the band is the finished painting; the canvas was blank


def test_region_features_see_colour_position_size_texture():
    rng = np.random.default_rng(0)
    names = {n: i for i, n in enumerate(FEATURE_NAMES)}
    top_blue = region_features(*_scene((60, 90, 220), slice(0, 12), rng, timeline=(0.0, 0.2)))
    low_green = region_features(*_scene((40, 160, 40), slice(30, 48), rng, texture=40))
    assert top_blue.shape == (len(FEATURE_NAMES),)
    assert top_blue[names["y50"]] < 0.2 < 0.7 < low_green[names["y50"]]
    assert top_blue[names["b"]] < 0 and low_green[names["a"]] < 0  # Lab: blue has b < 0, green a < 0
    assert top_blue[names["area"]] == pytest.approx(12 / 48, abs=0.03)
    assert low_green[names["grad"]] > top_blue[names["grad"]]
    assert top_blue[names["columns"]] == pytest.approx(1.0) and top_blue[names["rows"]] == pytest.approx(0.25)
    assert top_blue[names["on_blank"]] == 1.0 and top_blue[names["painted_after"]] == pytest.approx(0.25, abs=0.03)
    assert (top_blue[names["t_prev"]], top_blue[names["t_next"]]) == (0.0, 0.2)
    empty = region_features(*_scene((0, 0, 0), slice(0, 0), rng))
    assert empty[names["area"]] == 0 and np.isfinite(empty).all()
    prev, nxt, mask, target, blank, timeline = _scene((0, 0, 0), slice(0, 4), rng)
    with pytest.raises(ValueError, match="share height and width"):
        region_features(prev, nxt, mask, target[:20], blank, timeline)


def test_nearest_labeller_learns_constructed_regions():
    rng = np.random.default_rng(1)
    kinds = {
        "sky": ((90, 140, 230), slice(0, 14), 3),
        "grass": ((60, 150, 50), slice(34, 48), 30),
        "mountains": ((110, 100, 120), slice(14, 28), 8),
        "lake": ((50, 90, 170), slice(30, 48), 4),  # colour near sky, position near grass
    }

    def sample(n):
        feats, labels = [], []
        for label, (colour, rows, tex) in kinds.items():
            for _ in range(n):
                jitter = rng.integers(-20, 21, 3)
                shift = int(rng.integers(-3, 4))
                band = slice(max(0, rows.start + shift), min(48, rows.stop + shift))
                timeline = tuple(np.sort(rng.uniform(0, 1, 2)))  # the time line says nothing here
                paint = np.clip(np.add(colour, jitter), 0, 255)
                feats.append(region_features(*_scene(paint, band, rng, tex, timeline)))
                labels.append(label)
        return np.stack(feats), labels

    x_train, y_train = sample(6)
    x_test, y_test = sample(5)
    for model in (NearestLabeller(), NearestLabeller(k=3)):
        model.fit(x_train, y_train)
        accuracy = np.mean([p == t for p, t in zip(model.predict(x_test), y_test, strict=True)])
        assert accuracy >= 0.9, model.describe
    assert NearestLabeller(k=3).fit(x_train, y_train).predict(x_train) == y_train  # each is its own neighbour
    with pytest.raises(ValueError, match="Correct at least one pair"):
        NearestLabeller().fit(np.zeros((0, len(FEATURE_NAMES))), [])
    with pytest.raises(RuntimeError, match="before fit"):
        NearestLabeller().predict(x_test)
