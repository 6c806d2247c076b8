"""Benchmark metrics on hand-built sequences whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evaluation.metrics import ddc as ddc_module
from evaluation.metrics.ddc import ddc_metric, distance_curve, dtw_distance
from evaluation.metrics.distance import distance_metric, matching_step
from evaluation.metrics.dts import dts_metric
from evaluation.metrics.fid import (
    FidInception,
    fid_from_features,
    frechet_distance,
    load_fid_inception,
    load_fid_or_reason,
)
from evaluation.metrics.iou import best_match_iou, iou_metric
from evaluation.metrics.score import FEATURES_KEY, aggregate, json_ready, score_sequence
from evaluation.metrics.value import MetricValue
from evaluation.sequences import Sequence, sequence_from_frames, white_canvas
from training.data.difference import ColourStructureDistance

SIZE = (64, 48)  # w, h


class GreyDistance:
    """D(a, b) = |a − b| / 255 per pixel (channel mean): answers computable by hand."""

    name = "grey-test"
    threshold = 0.1

    def maps(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (np.abs(a.astype(np.float32) - b.astype(np.float32)).mean(axis=3) / 255.0).astype(np.float32)


def grey(value: int) -> np.ndarray:
    return np.full((SIZE[1], SIZE[0], 3), value, np.uint8)


def painted(*blocks: tuple[int, int, int, int, tuple[int, int, int]]) -> np.ndarray:
    """White canvas with rectangles (x0, y0, x1, y1, colour) painted on it, in order."""
    image = white_canvas(SIZE).copy()
    for x0, y0, x1, y1, colour in blocks:
        image[y0:y1, x0:x1] = colour
    return image


SKY = (0, 0, 64, 16, (60, 120, 220))
HILL = (0, 16, 64, 32, (40, 140, 60))
WATER = (0, 32, 64, 48, (20, 60, 120))


def real_sequence() -> Sequence:
    f1, f2, f3 = painted(SKY), painted(SKY, HILL), painted(SKY, HILL, WATER)
    return Sequence("gt", [white_canvas(SIZE), f1, f2, f3], [0.0, 20.0, 40.0, 60.0])


def test_identical_sequences_score_perfectly():
    gt = real_sequence()
    gen = sequence_from_frames("same", gt.frames[1:], 20.0, SIZE)
    backend = ColourStructureDistance()
    scores = score_sequence(gt, gen, backend, 20.0)
    assert scores["distance"] == 0.0
    assert scores["iou"] == 1.0
    assert scores["ddc"] == 0.0
    assert scores["dts"] == 0.0
    assert scores["distance_backend"] == "colour-structure-v1"
    assert scores["fid"] is None and "disabled" in scores["fid_reason"]


def test_distance_matches_each_real_frame_to_the_nearest_generated_step():
    assert matching_step(77, 20, 10) == 4  # the paper's example: 1:17 -> the frame at 1:20
    assert matching_step(30, 20, 10) == 2  # halves round up
    assert matching_step(500, 20, 3) == 3  # clipped to K
    gt = Sequence("gt", [grey(255), grey(155), grey(55)], [0.0, 20.0, 40.0])
    gen = sequence_from_frames("one-step", [grey(55)], 40.0, SIZE)
    # τ=20 -> k=round(0.5)=1: D(155, 55) = 100/255; τ=40 -> k=1: 0. The implied white start is not a real frame.
    assert distance_metric(gt, gen, GreyDistance(), 40.0) == pytest.approx(50 / 255, abs=1e-6)


def test_shifted_timing_gives_dts_of_the_shift_in_minutes():
    gt = real_sequence()
    slow = sequence_from_frames("slow", gt.frames[1:], 30.0, SIZE)  # 90 s instead of 60 s
    assert dts_metric(gt, slow) == pytest.approx(0.5)
    scores = score_sequence(gt, slow, ColourStructureDistance(), 30.0)
    assert scores["dts"] == pytest.approx(0.5)
    assert scores["iou"] == 1.0  # the same updates, only later
    assert scores["duration_generated_min"] == pytest.approx(1.5)


def test_stalled_generator_iou_takes_the_best_real_step_and_empty_masks():
    gt = real_sequence()
    stalled = sequence_from_frames("stalled", [painted(SKY)] * 3, 20.0, SIZE)
    backend = ColourStructureDistance()
    # step 1 equals the real first update (IoU 1); steps 2, 3 change nothing: empty masks against real
    # masks that are all non-empty -> 0
    assert iou_metric(gt, stalled, backend) == pytest.approx(1 / 3)
    # a real sequence with a pause (an unchanged step) has an empty mask: empty vs empty counts as IoU 1
    paused = Sequence("paused", [*gt.frames[:2], gt.frames[1], *gt.frames[2:]], [0.0, 20.0, 30.0, 40.0, 60.0])
    assert iou_metric(paused, stalled, backend) == pytest.approx(1.0)


def test_best_match_iou_rules():
    empty = np.zeros((4, 4), bool)
    full = np.ones((4, 4), bool)
    half = np.zeros((4, 4), bool)
    half[:2] = True
    assert best_match_iou([empty], [empty]) == 1.0
    assert best_match_iou([empty], [full]) == 0.0
    assert best_match_iou([half, full], [full]) == pytest.approx((0.5 + 1.0) / 2)
    assert best_match_iou([half], [full, half]) == 1.0
    with pytest.raises(ValueError, match="at least one"):
        best_match_iou([], [full])


def test_different_lengths_are_scored():
    gt = real_sequence()
    long = sequence_from_frames("long", [painted(SKY), painted(SKY, HILL)] + [gt.target] * 4, 20.0, SIZE)
    scores = score_sequence(gt, long, ColourStructureDistance(), 20.0)
    assert scores["n_real"] == 3 and scores["n_generated"] == 6
    assert scores["dts"] == pytest.approx(1.0)  # 120 s vs 60 s
    assert scores["distance"] == 0.0  # the first 3 steps equal the real frames at the same times
    # steps 4..6 change nothing (empty masks) while every real step changes something
    assert scores["iou"] == pytest.approx(3 / 6)
    assert scores["ddc"] == 0.0  # same curve, then a flat tail at 0 that DTW warps onto the real end
    short = sequence_from_frames("short", [gt.target], 20.0, SIZE)
    assert score_sequence(gt, short, ColourStructureDistance(), 20.0)["dts"] == pytest.approx(40 / 60)


def test_distance_curve_and_dtw():
    minutes, values = distance_curve([0.0, 2.0], np.array([1.0, 0.0]), grid_s=1.0)
    np.testing.assert_allclose(minutes, [0, 1 / 60, 2 / 60])
    np.testing.assert_allclose(values, [1.0, 0.5, 0.0])
    _, values = distance_curve([0.0, 2.5], np.array([1.0, 0.0]), grid_s=1.0)
    assert len(values) == 4 and values[-1] == 0.0  # the end of the painting is always a sample
    assert dtw_distance(np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0])) == 0.0  # time warping is free
    assert dtw_distance(np.array([0.0, 1.0]), np.array([0.0, 2.0])) == pytest.approx(1.0)


def test_ddc_is_zero_for_a_retimed_copy_of_a_linear_fade_and_positive_for_a_jump():
    target = grey(0)
    frames = [grey(v) for v in (255, 170, 85, 0)]
    gt = Sequence("gt", frames, [0.0, 10.0, 20.0, 30.0])
    same = sequence_from_frames("same", frames[1:], 10.0, SIZE)
    assert ddc_metric(gt, same, GreyDistance()) == 0.0
    fast = sequence_from_frames("fast", [target] * 3, 10.0, SIZE)
    # real curve: 1 − t/30 on 31 one-second samples; fast curve: 1 − t/10 for 10 s, then 0. DTW warps time
    # for free, so each real sample meets the nearest fast value (a multiple of 0.1): 20 of the 31 samples
    # are 1/30 off -> sqrt(20 / 900)
    assert ddc_metric(gt, fast, GreyDistance()) == pytest.approx(np.sqrt(20 / 900))
    back = sequence_from_frames("back", [target, grey(255), target], 10.0, SIZE)
    # reaches the target, wipes it, paints it again: the dip (0 at 10 s) and the peak (1 at 20 s) meet real
    # samples r_a >= r_b (the real curve only falls), so the cost is at least r_a² + (1 − r_b)² >= 0.5
    assert ddc_metric(gt, back, GreyDistance()) > np.sqrt(0.5)


def test_dtw_refuses_the_python_fallback(monkeypatch):
    monkeypatch.setattr(ddc_module.dtw, "try_import_c", lambda verbose=False: False)
    with pytest.raises(RuntimeError, match="C library"):
        dtw_distance(np.zeros(3), np.zeros(3))


def test_sequences_of_different_sizes_are_refused():
    gt = real_sequence()
    other = sequence_from_frames("other", [np.zeros((32, 32, 3), np.uint8)], 20.0)
    with pytest.raises(ValueError, match=r"size=gt\.size"):
        distance_metric(gt, other, GreyDistance(), 20.0)


def test_sequence_validation():
    with pytest.raises(ValueError, match="increase"):
        Sequence("bad", [grey(255), grey(0), grey(1)], [0.0, 20.0, 20.0])
    with pytest.raises(ValueError, match="t = 0"):
        Sequence("bad", [grey(255), grey(0)], [1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        sequence_from_frames("bad", [grey(0)], 0.0)
    with pytest.raises(ValueError, match="multiples"):
        score_sequence(real_sequence(), sequence_from_frames("g", [grey(0)], 20.0), GreyDistance(), 10.0)


# ---------------------------------------------------------------------------------------------- FID


def test_frechet_distance_of_known_gaussians():
    assert frechet_distance(np.zeros(2), np.eye(2), np.array([1.0, 2.0]), 4 * np.eye(2)) == pytest.approx(7.0)
    # diagonal covariances: (Σ1 Σ2)^½ = diag(2, 3); 0 + (1 + 9) + (4 + 1) − 2·5 = 5
    assert frechet_distance(np.zeros(2), np.diag([1.0, 9.0]), np.zeros(2), np.diag([4.0, 1.0])) == pytest.approx(5.0)
    assert frechet_distance(np.ones(3), np.eye(3), np.ones(3), np.eye(3)) == pytest.approx(0.0, abs=1e-9)


def test_fid_from_samples_approaches_the_analytic_value():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, size=(20000, 3))
    b = rng.normal([1.0, 0.0, 0.0], [2.0, 1.0, 1.0], size=(20000, 3))
    # ‖μ‖² = 1; Tr: (1+1+1) + (4+1+1) − 2·(2+1+1) = 1 -> 2
    assert fid_from_features(a, b).value == pytest.approx(2.0, abs=0.1)
    # few samples in many dimensions (the per-painting case): the sample formula equals the covariance one
    x, y = rng.normal(size=(5, 40)), rng.normal(size=(7, 40)) * 2
    full = frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    assert fid_from_features(x, y).value == pytest.approx(full, rel=1e-6)
    missing = fid_from_features(a[:1], b)
    assert missing.value is None and "at least 2" in missing.reason


def test_metric_value_never_hides_a_missing_number():
    with pytest.raises(ValueError, match="reason"):
        MetricValue(None)
    with pytest.raises(ValueError, match="finite"):
        MetricValue(float("nan"))


@pytest.fixture(scope="module")
def fid_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = FidInception().eval()
    path = tmp_path_factory.mktemp("fid") / "tiny-fid.pth"
    torch.save(model.state_for_checkpoint(), path)
    return model, path


def test_fid_network_loads_from_a_local_checkpoint(fid_checkpoint):
    original, path = fid_checkpoint
    loaded = load_fid_inception(path)
    assert loaded.name == "pytorch-fid-inception-v3:tiny-fid.pth"
    images = [painted(SKY), painted(SKY, HILL, WATER)]
    feats = loaded.features(images)
    assert feats.shape == (2, 2048) and feats.dtype == np.float64
    np.testing.assert_allclose(feats, original.features(images), rtol=1e-5, atol=1e-6)
    assert not np.allclose(feats[0], feats[1])
    # the pytorch-fid checkpoint layout: torchvision names, 1008 classes, no auxiliary head
    state = torch.load(path, weights_only=True)
    assert state["fc.weight"].shape == (1008, 2048) and not any(k.startswith("AuxLogits") for k in state)


def test_fid_is_missing_with_a_reason_when_weights_are_absent(tmp_path, monkeypatch, fid_checkpoint):
    model, reason = load_fid_or_reason(tmp_path / "nope.pth")
    assert model is None and "nope.pth" in reason
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    url = "https://example.invalid/weights/tiny-fid.pth"
    model, reason = load_fid_or_reason(url)  # never downloads
    assert model is None and str(tmp_path / "hub" / "checkpoints" / "tiny-fid.pth") in reason
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / "tiny-fid.pth").write_bytes(fid_checkpoint[1].read_bytes())
    model, reason = load_fid_or_reason(url)
    assert model is not None and reason is None
    torch.save({"fc.weight": torch.zeros(3)}, tmp_path / "wrong.pth")
    model, reason = load_fid_or_reason(tmp_path / "wrong.pth")
    assert model is None and "not a pytorch-fid" in reason
    assert load_fid_or_reason(None)[0] is None


def _fake_scores(name: str, distance: float, real: np.ndarray | None, gen: np.ndarray | None) -> dict:
    s = {
        "painting": name,
        "distance": distance,
        "iou": 0.5,
        "ddc": 1.0,
        "dts": 0.1,
        "distance_backend": "grey-test",
        "n_real": 3,
        "n_generated": 4,
        "fid_reason": None if real is not None else "no weights",
        "fid_backend": "net" if real is not None else None,
    }
    if real is not None:
        s[FEATURES_KEY] = (real, gen)
    return s


def test_aggregate_means_metrics_and_pools_fid_features():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 2))
    b = rng.normal(size=(3, 2)) + 1
    out = aggregate([_fake_scores("p1", 0.2, a[:2], b[:2]), _fake_scores("p2", 0.4, a[2:], b[2:])])
    assert out["distance"] == pytest.approx(0.3) and out["paintings"] == 2 and out["n_real"] == 6
    # p2 alone has one frame per side (no FID); pooled, both sides have 3
    assert out["fid"] == pytest.approx(fid_from_features(a, b).value)
    missing = aggregate([_fake_scores("p1", 0.2, a, b), _fake_scores("p2", 0.4, None, None)])
    assert missing["fid"] is None and missing["fid_reason"] == "no weights"
    other = _fake_scores("p3", 0.1, None, None) | {"distance_backend": "lpips-alex-v0.1"}
    with pytest.raises(ValueError, match="different distance backends"):
        aggregate([_fake_scores("p1", 0.2, None, None), other])
    assert FEATURES_KEY not in json_ready(_fake_scores("p1", 0.2, a, b))


def test_score_sequence_with_a_fid_network(fid_checkpoint):
    gt = real_sequence()
    gen = sequence_from_frames("same", gt.frames[1:], 20.0, SIZE)
    scores = score_sequence(gt, gen, GreyDistance(), 20.0, fid=load_fid_inception(fid_checkpoint[1]))
    assert scores[FEATURES_KEY][0].shape == (3, 2048)  # the implied white canvas is not a frame
    assert scores["fid"] == pytest.approx(0.0, abs=1e-3) and scores["fid_backend"].endswith("tiny-fid.pth")
