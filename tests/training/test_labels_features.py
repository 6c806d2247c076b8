"""The nearest labeller's features (time line, robust position, progress, specks) and its learned metric."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.data.images import write_image
from training.labels.auto import table_features
from training.labels.features import FEATURE_NAMES, LAB_SCALE, region_features, timeline_position
from training.labels.nearest import NearestLabeller

IDX = {name: i for i, name in enumerate(FEATURE_NAMES)}
H, W = 48, 64
BLANK = np.full((H, W, 3), 245, np.uint8)


def _features(prev, nxt, mask, target=None, blank=BLANK, timeline=(0.2, 0.4)) -> np.ndarray:
    return region_features(prev, nxt, mask, nxt if target is None else target, blank, timeline)


def _band(rows: slice, colour=(40, 150, 40), base: np.ndarray = BLANK) -> tuple[np.ndarray, np.ndarray]:
    nxt = base.copy()
    nxt[rows] = colour
    mask = np.zeros((H, W), np.uint8)
    mask[rows] = 255
    return nxt, mask


def test_timeline_position_is_in_unit_range_and_orders_pairs():
    keyframes = [3000, 9000, 14000, 30000, 41000]
    spans = [timeline_position(a, b, keyframes[0], keyframes[-1]) for a, b in itertools.pairwise(keyframes)]
    flat = [t for span in spans for t in span]
    assert flat == sorted(flat) and flat[0] == 0.0 and flat[-1] == 1.0
    assert all(0.0 <= t <= 1.0 for t in flat)
    assert timeline_position(0, 50000, 3000, 41000) == (0.0, 1.0)  # clipped outside the keyframes
    assert timeline_position(5, 5, 5, 5) == (0.0, 0.0)  # a single instant does not divide by zero
    nxt, mask = _band(slice(30, 48))
    late = _features(BLANK, nxt, mask, timeline=timeline_position(30000, 41000, 3000, 41000))
    assert late[IDX["t_prev"]] == pytest.approx(27 / 38) and late[IDX["t_next"]] == 1.0


def test_position_ignores_stray_specks():
    nxt, mask = _band(slice(32, 48))
    clean = _features(BLANK, nxt, mask)
    mask[0, 5] = mask[1, 40] = 255  # a speck of noise at the top (hand, compression)
    noisy = _features(BLANK, nxt, mask)
    for name in ("y05", "y50", "core_y02"):
        assert noisy[IDX[name]] == pytest.approx(clean[IDX[name]], abs=0.02)
        assert noisy[IDX[name]] > 0.6
    assert noisy[IDX["fragments"]] > clean[IDX["fragments"]] and noisy[IDX["solid"]] < 1.0


def test_progress_tells_painting_on_blank_canvas_from_painting_over_paint():
    sky, _ = _band(slice(0, 24), (90, 140, 230))
    first, first_mask = _band(slice(0, 24), (90, 140, 230))
    over, over_mask = _band(slice(8, 16), (240, 240, 200), base=sky)  # clouds on the finished sky
    base_coat = _features(BLANK, first, first_mask)
    detail = _features(sky, over, over_mask)
    assert base_coat[IDX["on_blank"]] == 1.0 and detail[IDX["on_blank"]] == 0.0
    assert base_coat[IDX["painted_before"]] == 0.0 and detail[IDX["painted_before"]] == pytest.approx(0.5, abs=0.03)
    assert detail[IDX["painted_after"]] == pytest.approx(0.5, abs=0.03)
    assert all(0.0 <= v[IDX[n]] <= 1.0 for v in (base_coat, detail) for n in ("painted_before", "painted_after"))


def test_specks_see_flowers_in_the_finished_painting():
    grass, mask = _band(slice(24, 48), (60, 140, 50))
    flowers = grass.copy()
    rng = np.random.default_rng(0)
    for y, x in zip(rng.integers(26, 46, 30), rng.integers(2, 62, 30), strict=True):
        flowers[y, x] = (230, 40, 50)
    plain = _features(BLANK, grass, mask, target=grass)
    flowery = _features(BLANK, grass, mask, target=flowers)
    assert plain[IDX["specks"]] == 0.0 and flowery[IDX["specks"]] > 0.01
    assert flowery[IDX["colour_specks"]] > 0.01 and flowery[IDX["detail"]] > plain[IDX["detail"]]


def test_the_learned_metric_ignores_features_that_vary_within_a_label():
    rng = np.random.default_rng(0)

    def sample(n):
        labels = rng.integers(0, 2, n)
        x = rng.normal(0, 1, (n, 30))  # 29 features of noise ...
        x[:, 0] = labels * 2.0 - 1.0 + rng.normal(0, 0.3, n)  # ... and one that tells the labels apart
        return x, [("sky", "lake")[t] for t in labels]

    x_train, y_train = sample(80)
    x_test, y_test = sample(200)
    euclid = np.array([y_train[i] for i in np.argmin(((x_test[:, None] - x_train[None]) ** 2).sum(-1), 1)])
    assert np.mean(euclid == y_test) < 0.8  # a plain nearest neighbour drowns in the noise
    for model, wanted in (
        (NearestLabeller(), 0.93),
        (NearestLabeller(k=5), 0.9),
        (NearestLabeller(shrinkage=0.5), 0.9),
    ):
        predicted = model.fit(x_train, y_train).predict(x_test)
        assert np.mean(np.array(predicted) == y_test) > wanted, model.describe
    assert NearestLabeller().describe == "centroid" and NearestLabeller(k=5).describe == "k=5"
    with pytest.raises(ValueError, match="k must be None"):
        NearestLabeller(k=0)
    with pytest.raises(ValueError, match="NaN"):
        NearestLabeller().fit(np.full((2, 3), np.nan), ["sky", "lake"])


def test_the_nearest_label_mean_is_shrinkage_lda_with_ledoit_wolf_as_scikit_learn_computes_it():
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    rng = np.random.default_rng(3)
    labels = rng.choice(["sky", "hills", "lake", "trees"], 60, p=[0.4, 0.3, 0.2, 0.1])
    centres = {"sky": 0.0, "hills": 1.0, "lake": 2.0, "trees": 3.0}
    x = rng.normal(0, 1, (60, 12)) * rng.uniform(0.2, 3.0, 12)  # features on different scales
    x[:, :3] += np.array([centres[t] for t in labels])[:, None] * [1.0, 0.5, -0.8]
    query = rng.normal(0, 1, (200, 12)) * 2 + 1
    reference = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(x, labels).predict(query)
    assert NearestLabeller().fit(x, list(labels)).predict(query) == list(reference)
    with pytest.raises(ValueError, match="shrinkage must be 'auto'"):
        NearestLabeller(shrinkage=1.5)


def test_one_example_per_label_is_its_own_nearest():
    x = np.random.default_rng(1).normal(size=(3, len(FEATURE_NAMES)))
    labels = ["sky", "hills", "lake"]
    for model in (NearestLabeller(), NearestLabeller(k=1)):
        assert model.fit(x, labels).predict(x) == labels
    assert NearestLabeller().fit(x[:1], ["sky"]).predict(x) == ["sky"] * 3


def test_table_features_take_time_line_and_blank_canvas_from_the_whole_video(tmp_path: Path):
    bands = [slice(0, 16), slice(16, 32), slice(32, 48)]
    frames = [BLANK]
    for rows in bands:
        frames.append(_band(rows, (60, 120, 200), base=frames[-1])[0])
    paths = []
    for i, frame in enumerate(frames):
        paths.append(tmp_path / f"k{i}.png")
        write_image(paths[-1], frame)
    masks = []
    for i, rows in enumerate(bands):
        masks.append(tmp_path / f"m{i}.png")
        write_image(masks[-1], _band(rows)[1])
    times = [0, 10000, 25000, 40000]
    pairs = pd.DataFrame(
        {
            "pair_index": [0, 1, 2],
            "prev_t_ms": times[:-1],
            "next_t_ms": times[1:],
            "prev_path": [str(p) for p in paths[:-1]],
            "next_path": [str(p) for p in paths[1:]],
            "target_path": str(paths[-1]),
        }
    )
    table = pd.DataFrame({"pair_index": [0, 1, 2], "mt_mask_path": [str(p) for p in masks]})
    whole = np.stack(list(table_features(pairs, table)))
    assert whole[:, IDX["t_prev"]].tolist() == [0.0, 0.25, 0.625] and whole[:, IDX["t_next"]].tolist()[-1] == 1.0
    assert whole[:, IDX["painted_before"]] == pytest.approx([0.0, 1 / 3, 2 / 3], abs=0.03)
    chosen = pairs.iloc[[2]]
    np.testing.assert_allclose(next(table_features(chosen, table, pairs)), whole[2])
    alone = next(table_features(chosen, table))  # without the video: its own span and its own first frame
    assert alone[IDX["t_prev"]] == 0.0 and alone[IDX["painted_before"]] == 0.0
    with pytest.raises(ValueError, match="no M_t mask"):
        list(table_features(pairs, table.iloc[:2]))


def test_haze_and_depth_describe_the_region_against_the_sky_above_it():
    sky = BLANK.copy()
    sky[:] = (150, 180, 230)  # a light blue sky over the whole canvas
    hazy, mask = _band(slice(16, 24), (160, 185, 225), sky)  # a range barely darker than the sky behind it
    dark, _ = _band(slice(16, 24), (60, 50, 70), sky)
    near, far = _features(sky, dark, mask), _features(sky, hazy, mask)
    assert far[IDX["sky_dist"]] < 0.2 < near[IDX["sky_dist"]]
    assert far[IDX["comp_sky_dist"]] == pytest.approx(far[IDX["sky_dist"]])
    shallow, shallow_mask = _band(slice(24, 30), (40, 90, 160), sky)
    deep, deep_mask = _band(slice(24, 44), (40, 90, 160), sky)
    assert _features(sky, shallow, shallow_mask)[IDX["depth"]] == pytest.approx(6 / H, abs=0.02)
    assert _features(sky, deep, deep_mask)[IDX["depth"]] == pytest.approx(20 / H, abs=0.02)
    ridge = mask.copy()
    ridge[10:16, ::8] = 255  # peaks: a ragged top edge
    assert _features(sky, dark, ridge)[IDX["edge_rough"]] > _features(sky, dark, mask)[IDX["edge_rough"]] == 0.0


def test_component_features_follow_the_largest_piece_of_the_change():
    nxt, mask = _band(slice(32, 48), (40, 150, 40))  # a large green band ...
    nxt[2:8, 2:10], mask[2:8, 2:10] = (230, 60, 60), 255  # ... and a small red piece far above it
    f = _features(BLANK, nxt, mask)
    assert f[IDX["comp_share"]] == pytest.approx(16 * W / (16 * W + 48), abs=0.01)
    assert f[IDX["comp_top_edge"]] == pytest.approx(32 / H, abs=0.03)
    assert f[IDX["comp_edge_range"]] == 0.0 < f[IDX["edge_range"]]  # only the whole mask's top edge jumps
    assert f[IDX["comp_a"]] * LAB_SCALE < f[IDX["a"]] - 5  # the red piece raises the whole mask's a*, not the band's
    assert f[IDX["comp_width"]] == 1.0 and f[IDX["comp_area"]] == pytest.approx(16 / H, abs=0.02)


def test_part_features_describe_the_larger_colour_part_of_a_change_straddling_two_layers():
    # one connected change: hills (dark green, rows 10-18) right above a deeper water band (blue, rows 18-40)
    nxt = BLANK.copy()
    nxt[10:18], nxt[18:40] = (40, 90, 50), (60, 120, 210)
    mask = np.zeros((H, W), np.uint8)
    mask[10:40] = 255
    f = _features(BLANK, nxt, mask)
    assert f[IDX["comp_share"]] == 1.0  # a single connected piece: the component features see both layers
    assert f[IDX["part_share"]] == pytest.approx(22 / 30, abs=0.05)
    assert f[IDX["part_top_edge"]] == pytest.approx(18 / H, abs=0.03) and f[IDX["top_edge"]] < 11 / H
    assert f[IDX["part_run"]] == pytest.approx(22 / H, abs=0.03) and f[IDX["depth"]] == pytest.approx(30 / H, abs=0.03)
    assert f[IDX["part_b"]] * LAB_SCALE < f[IDX["b"]] - 5  # the blue part alone, not the mix with the green
    # swapping which layer is larger swaps the part
    nxt[10:32], nxt[32:40] = (40, 90, 50), (60, 120, 210)
    g = _features(BLANK, nxt, mask)
    assert g[IDX["part_top_edge"]] == pytest.approx(10 / H, abs=0.03)
    assert g[IDX["part_run"]] == pytest.approx(22 / H, abs=0.03)
    assert np.isfinite(f).all() and np.isfinite(g).all()


def test_part_features_of_a_tiny_change_are_the_region_and_of_an_empty_one_finite():
    nxt, mask = BLANK.copy(), np.zeros((H, W), np.uint8)
    nxt[20, 30], mask[20, 30] = (200, 30, 30), 255  # 4 pixels at the working size: too few to split
    f = _features(BLANK, nxt, mask)
    assert f[IDX["part_share"]] == 1.0 and f[IDX["part_run"]] == pytest.approx(f[IDX["depth"]])
    empty = _features(BLANK, BLANK, np.zeros((H, W), np.uint8))
    assert np.isfinite(empty).all() and 0.0 < empty[IDX["part_share"]] <= 1.0  # the whole image stands in
