"""Weight-free baselines and the external-method adapter."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from evaluation.baselines import BASELINES, run_baseline
from evaluation.baselines.coarse_to_fine import coarse_to_fine
from evaluation.baselines.external import external_sequence
from evaluation.baselines.fade import fade
from evaluation.baselines.segment_reveal import depth_order, segment_reveal
from evaluation.baselines.strokes import painterly_strokes, scaled_radii, strokes
from evaluation.sequences import Sequence, white_canvas
from training.data.images import write_image


def landscape(w: int = 64, h: int = 48) -> np.ndarray:
    """Smooth blue sky on top, textured green ground at the bottom (a checker pattern for detail)."""
    rng = np.random.default_rng(3)
    image = np.zeros((h, w, 3), np.uint8)
    image[: h // 2] = (90, 150, 230)
    ground = np.full((h - h // 2, w, 3), (40, 130, 50), np.int16)
    ground += rng.integers(-40, 40, size=ground.shape, dtype=np.int16)
    image[h // 2 :] = np.clip(ground, 0, 255).astype(np.uint8)
    return image


def distance_to(target: np.ndarray, frame: np.ndarray) -> float:
    return float(np.abs(frame.astype(np.int32) - target).mean())


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_every_baseline_returns_k_frames_deterministically(name):
    target = landscape()
    frames = BASELINES[name](target, 5, 7)
    assert len(frames) == 5
    assert all(f.shape == target.shape and f.dtype == np.uint8 for f in frames)
    again = BASELINES[name](target, 5, 7)
    assert all(np.array_equal(a, b) for a, b in zip(frames, again, strict=True))
    one = BASELINES[name](target, 1, 7)
    assert len(one) == 1
    # every baseline gets closer to the target than the white canvas, and ends closer than it starts
    white = white_canvas((64, 48))
    assert distance_to(target, frames[-1]) < distance_to(target, frames[0]) < distance_to(target, white)


def test_fade_is_a_linear_blend_ending_at_the_target():
    target = landscape()
    frames = fade(target, 4)
    np.testing.assert_array_equal(frames[-1], target)
    expected = np.rint(0.5 * 255 + 0.5 * target.astype(np.float64)).astype(np.uint8)
    np.testing.assert_array_equal(frames[1], expected)


def test_coarse_to_fine_gains_detail_step_by_step():
    target = landscape()
    frames = coarse_to_fine(target, 6)
    np.testing.assert_array_equal(frames[-1], target)
    detail = [float(np.abs(cv2.Laplacian(f.astype(np.float32), cv2.CV_32F)).mean()) for f in frames]
    assert all(b > a for a, b in itertools.pairwise(detail)), detail
    assert detail[0] < 0.1 * detail[-1]  # the first step is a 2-px version of the painting


def test_segment_reveal_paints_far_before_near_and_only_target_pixels():
    target = landscape()
    frames = segment_reveal(target, 4)
    np.testing.assert_array_equal(frames[-1], target)
    revealed = [np.all(f == target, axis=2) & ~np.all(f == 255, axis=2) for f in frames]
    for prev, cur in itertools.pairwise(revealed):
        assert not (prev & ~cur).any()  # a revealed pixel stays
    for f, mask in zip(frames, revealed, strict=True):
        assert np.all(f[~mask] == 255)  # everything else is still white canvas
    halves = segment_reveal(target, 2)[0]
    first = np.all(halves == target, axis=2)
    # the first half of the canvas area to be painted is the smooth, high sky (the upper half)
    assert first[:24].mean() > 0.8 and first[24:].mean() < 0.2
    labels, order = depth_order(target)
    assert labels.shape == target.shape[:2] and sorted(order) == sorted(np.unique(labels))


def test_strokes_follow_hertzmann_layers_and_end_near_the_target():
    target = cv2.resize(landscape(), (128, 96), interpolation=cv2.INTER_NEAREST)
    assert scaled_radii((512, 400, 3)) == [8, 4, 2]
    assert scaled_radii(target.shape) == [2, 1]
    plan = painterly_strokes(target, seed=1)
    radii = [r for _, _, r in plan]
    assert radii == sorted(radii, reverse=True)  # large brushes first
    lengths = [len(line) for line, _, _ in plan]
    assert max(lengths) > 4 and max(lengths) <= 17  # curved strokes of several control points
    frames = strokes(target, 6, seed=1)
    white = [float(np.all(f == 255, axis=2).mean()) for f in frames]
    assert all(b <= a for a, b in itertools.pairwise(white)) and white[-1] < 0.01
    assert distance_to(target, frames[-1]) < 25
    assert not np.array_equal(frames[2], strokes(target, 6, seed=2)[2])  # the seed orders the strokes


def test_run_baseline_makes_the_given_steps_whatever_the_ground_truth_lasts():
    target = landscape()
    short = Sequence("gt", [white_canvas((64, 48)), target], [0.0, 61.0])
    long = Sequence("gt", [white_canvas((64, 48)), target], [0.0, 6100.0])
    seq = run_baseline("fade", short, dt=20.0, n_steps=3)
    assert seq.times_s == [0.0, 20.0, 40.0, 60.0] and seq.size == (64, 48) and seq.name == "fade"
    np.testing.assert_array_equal(seq.frames[0], white_canvas((64, 48)))
    assert run_baseline("fade", long, dt=20.0, n_steps=3).times_s == seq.times_s
    with pytest.raises(TypeError):
        run_baseline("fade", short, dt=20.0)  # no fallback to the ground truth's duration
    with pytest.raises(ValueError, match="unknown baseline"):
        run_baseline("nope", short, n_steps=3)
    with pytest.raises(ValueError, match="at least 1"):
        run_baseline("fade", short, n_steps=0)
    with pytest.raises(ValueError, match="positive"):
        run_baseline("fade", short, dt=0.0, n_steps=3)


def test_external_folder_is_read_in_natural_order_and_resized(tmp_path):
    for i in (1, 2, 10):
        write_image(tmp_path / f"frame_{i}.png", np.full((20, 30, 3), i * 20, np.uint8))
    (tmp_path / "notes.txt").write_text("ignored")
    seq = external_sequence(tmp_path, 2.8, size=(15, 10), name="paint-transformer")
    assert seq.name == "paint-transformer" and seq.size == (15, 10)
    assert [int(f[0, 0, 0]) for f in seq.frames] == [255, 20, 40, 200]
    assert seq.times_s == pytest.approx([0.0, 2.8, 5.6, 8.4])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no frames found"):
        external_sequence(empty, 1.0, size=(15, 10))
