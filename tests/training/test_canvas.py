"""Canvas geometry, the weight-free contour detector and tracking over time, on synthetic studio frames."""

from __future__ import annotations

import hashlib
import itertools
import math

import cv2
import numpy as np
import pytest

from training.data.canvas import CanvasDetection, CanvasDetector
from training.data.canvas.contour import ContourCanvasDetector
from training.data.canvas.geometry import (
    canvas_to_image,
    corner_error,
    order_corners,
    quad_aspect,
    rectified_size,
    rectify,
)
from training.data.canvas.tracking import CanvasObservation, canvas_found_fraction, track_canvas
from training.data.frames import SampledFrame
from training.data.studio import Studio, StudioConfig

QUAD = np.array([[84.8, 90.8], [471.2, 47.0], [484.9, 433.7], [73.7, 411.0]])  # TL, TR, BR, BL
DETECT_SEEDS = [100, 104, 117, 123, 142, 158]


@pytest.fixture(scope="module")
def studios() -> dict[int, Studio]:
    config = StudioConfig(duration_s=8.0, size=(640, 480), fps=10)
    return {seed: Studio(f"canvas-{seed}", seed, config) for seed in DETECT_SEEDS}


def compress(image: np.ndarray, quality: int = 85) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)


# ------------------------------------------------------------------------------------------ geometry


@pytest.mark.parametrize("roll_deg", [-30.0, -8.0, 0.0, 12.0, 30.0])
def test_order_corners_from_any_permutation(roll_deg: float):
    c, s = math.cos(math.radians(roll_deg)), math.sin(math.radians(roll_deg))
    centre = QUAD.mean(axis=0)
    quad = (QUAD - centre) @ np.array([[c, s], [-s, c]]) + centre  # rolled clockwise on screen by roll_deg
    for perm in itertools.permutations(range(4)):
        ordered = order_corners(quad[list(perm)])
        assert ordered.dtype == np.float32 and ordered.shape == (4, 2)
        np.testing.assert_allclose(ordered, quad, atol=1e-3)


def test_order_corners_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"shape \(4, 2\)"):
        order_corners(np.zeros((3, 2)))


def smooth_pattern(w: int, h: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (h // 12 + 2, w // 12 + 2, 3)).astype(np.float32)
    return np.clip(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)


def test_rectify_inverts_an_exact_placement():
    pattern = np.random.default_rng(1).integers(0, 256, (40, 60, 3), dtype=np.uint8)  # sharp: no slack
    frame = np.zeros((100, 120, 3), np.uint8)
    frame[30:70, 25:85] = pattern
    corners = np.array([[24.5, 29.5], [84.5, 29.5], [84.5, 69.5], [24.5, 69.5]])  # pixel edges
    assert np.array_equal(rectify(frame, corners, (60, 40)), pattern)


def test_rectify_recovers_a_pattern_seen_in_perspective():
    w, h = 300, 200
    pattern = smooth_pattern(w, h)
    quad = np.array([[60.0, 50.0], [390.0, 30.0], [370.0, 300.0], [80.0, 260.0]])
    to_image = canvas_to_image(quad, (w, h))
    frame = cv2.warpPerspective(pattern, to_image, (480, 360), flags=cv2.INTER_CUBIC)
    back = rectify(frame, quad, (w, h))
    diff = np.abs(back.astype(int) - pattern.astype(int))[4:-4, 4:-4]
    assert diff.mean() < 3.0
    # the homography is what makes this work: stretching the bounding box does not
    x0, y0 = quad.min(axis=0).astype(int)
    x1, y1 = quad.max(axis=0).astype(int)
    naive = cv2.resize(frame[y0:y1, x0:x1], (w, h))
    assert np.abs(naive.astype(int) - pattern.astype(int))[4:-4, 4:-4].mean() > 4 * diff.mean()


def test_rectified_size_matches_studio_canvas_aspect(studios: dict[int, Studio]):
    sides_errors, errors = [], []
    for studio in studios.values():
        tw, th = studio.canvas_size
        for frame_index in (0, studio.n_frames - 1):
            corners = studio.corners(frame_index)
            w, h = rectified_size(corners, 512)
            assert max(w, h) == 512 and w % 2 == 0 and h % 2 == 0
            assert (w >= h) == (tw >= th)
            errors.append(abs(quad_aspect(corners) / (tw / th) - 1))
            assert abs((w / h) / (tw / th) - 1) < 0.01
            q = corners
            side_ratio = (np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3])) / (
                np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])
            )
            sides_errors.append(abs(side_ratio / (tw / th) - 1))
    assert max(errors) < 0.002
    assert np.mean(sides_errors) > 5 * np.mean(errors)  # the perspective model beats averaging side lengths


def test_rectified_size_of_a_fronto_parallel_rectangle_and_bad_input():
    rect = np.array([[10, 20], [310, 20], [310, 220], [10, 220]], float)
    assert rectified_size(rect, 600) == (600, 400)
    assert rectified_size(rect[[1, 2, 3, 0]] @ np.array([[0, 1], [1, 0]]), 600) == (400, 600)
    with pytest.raises(ValueError, match="even"):
        rectified_size(rect, 511)
    with pytest.raises(ValueError, match="degenerate"):
        rectified_size(np.zeros((4, 2)), 512)


def test_corner_error_is_relative_to_the_diagonal():
    truth = np.array([[0, 0], [300, 0], [300, 400], [0, 400]], float)
    assert corner_error(truth, truth) == 0.0
    assert corner_error(truth + np.array([5.0, 0.0]), truth) == pytest.approx(0.01)
    moved = truth.copy()
    moved[2] += [0, 20]
    assert corner_error(moved, truth) == pytest.approx(20 / 4 / 500)


# ------------------------------------------------------------------------------------------ detector


def test_contour_detector_follows_the_protocol():
    detector = ContourCanvasDetector()
    assert isinstance(detector, CanvasDetector)
    assert detector.name == "contour"
    with pytest.raises(ValueError, match="RGB uint8"):
        detector.detect(np.zeros((100, 100), np.uint8))


def test_contour_detector_finds_the_canvas_with_and_without_a_hand(studios: dict[int, Studio]):
    detector = ContourCanvasDetector()
    errors, with_hand = [], 0
    for studio in studios.values():
        occluded = np.flatnonzero(studio.occluded)
        frames = [studio.n_frames - 1]  # finished painting: paint reaches the edges
        if len(occluded):
            frames.append(int(occluded[len(occluded) // 2]))
            with_hand += 1
        for i in frames:
            found = detector.detect(compress(studio.render(i)))
            assert found is not None
            assert 0.0 <= found.score <= 1.0 and found.corners.dtype == np.float32
            errors.append(corner_error(found.corners, studio.corners(i)))
    assert with_hand >= 4
    errors = np.array(errors)
    assert np.mean(errors < 0.015) >= 0.8
    assert np.median(errors) < 0.003


def test_contour_detector_scales_coordinates_back_to_large_frames(studios: dict[int, Studio]):
    studio = studios[DETECT_SEEDS[0]]
    frame = studio.render(0)
    big = cv2.resize(frame, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    found = ContourCanvasDetector().detect(big)
    assert found is not None
    assert corner_error(found.corners, (studio.corners(0) + 0.5) * 2 - 0.5) < 0.004


def test_contour_detector_finds_nothing_without_a_canvas(studios: dict[int, Studio]):
    detector = ContourCanvasDetector()
    for studio in list(studios.values())[:3]:
        empty = studio.render(0, canvas=False)
        table = cv2.resize(empty[300:], (640, 480), interpolation=cv2.INTER_LINEAR)  # table, palette, jars
        assert detector.detect(compress(table)) is None
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    assert detector.detect(noise) is None
    assert detector.detect(np.full((480, 640, 3), 200, np.uint8)) is None


# ------------------------------------------------------------------------------------------ tracking


def image_key(image: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()


class FakeDetector:
    """Answers from a table keyed by the image; counts calls, so tests see when the tracker asks."""

    name = "fake"

    def __init__(self, answers: dict[str, np.ndarray | None]) -> None:
        self.answers = answers
        self.calls = 0

    def detect(self, image: np.ndarray) -> CanvasDetection | None:
        self.calls += 1
        corners = self.answers[image_key(image)]
        return None if corners is None else CanvasDetection(np.asarray(corners, np.float32), 0.9)


@pytest.fixture(scope="module")
def tracking_studio() -> Studio:
    return Studio("track", 163, StudioConfig(duration_s=12.0, size=(480, 360), fps=10))


def shifted(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    return np.roll(image, (dy, dx), axis=(0, 1))


def run(frames: list[tuple[np.ndarray, np.ndarray | None]], **kwargs) -> tuple[list[CanvasObservation], FakeDetector]:
    detector = FakeDetector({image_key(img): corners for img, corners in frames})
    sampled = [SampledFrame(1000 * k, img) for k, (img, _) in enumerate(frames)]
    return list(track_canvas(sampled, detector, **kwargs)), detector


def test_detector_runs_once_per_segment_and_again_after_a_camera_jump(tracking_studio: Studio):
    studio = tracking_studio
    frames = [(studio.render(10 * k), studio.corners(10 * k)) for k in range(10)]
    dx, dy = 37, -22
    frames[5:] = [(shifted(img, dx, dy), c + np.array([dx, dy])) for img, c in frames[5:]]
    observations, detector = run(frames)
    assert detector.calls == 2
    assert [o.segment for o in observations] == [0] * 5 + [1] * 5
    assert [o.detected for o in observations] == [True] + [False] * 4 + [True] + [False] * 4
    assert [o.t_ms for o in observations] == [1000 * k for k in range(10)]
    for obs, (_, truth) in zip(observations, frames, strict=True):
        # the camera drifts by up to ~5 px and jumped by 43 px: the tracked quad follows to ~1 px
        assert corner_error(obs.corners, truth) < 0.004
        assert obs.score == pytest.approx(0.9)
    assert canvas_found_fraction(observations) == 1.0


def test_slow_drift_is_followed_without_new_detections(tracking_studio: Studio):
    studio = tracking_studio
    base = studio.render(30)
    frames = []
    for k in range(10):
        m = np.array([[1.0, 0.0, 1.5 * k], [0.0, 1.0, -1.0 * k]])
        image = cv2.warpAffine(base, m, (480, 360), borderMode=cv2.BORDER_REFLECT)
        frames.append((image, studio.corners(30) + np.array([1.5 * k, -1.0 * k])))
    observations, detector = run(frames)
    assert detector.calls == 1 and {o.segment for o in observations} == {0}
    final_error_px = np.abs(observations[-1].corners - frames[-1][1]).max()
    assert final_error_px < 0.5  # the quad moved by 13.5 px and 9 px with the camera
    assert np.abs(observations[-1].corners - frames[0][1]).max() > 8


def test_a_hand_bending_some_detections_does_not_move_the_corners(tracking_studio: Studio):
    studio = tracking_studio
    frames = []
    bent = {3, 4, 8}
    for k in range(12):
        truth = studio.corners(10 * k)
        answer = truth.copy()
        if k in bent:
            answer[2] += [0.0, 40.0]  # the hand drags the bottom-right corner 40 px down
        frames.append((studio.render(10 * k), answer, truth))
    detector = FakeDetector({image_key(img): answer for img, answer, _ in frames})
    sampled = [SampledFrame(1000 * k, img) for k, (img, _, _) in enumerate(frames)]
    observations = list(track_canvas(sampled, detector, redetect_every=1))
    assert detector.calls == 12 and all(o.detected for o in observations)
    for k, obs in enumerate(observations):
        assert corner_error(obs.corners, frames[k][2]) < 0.002, k
    assert corner_error(frames[3][1], frames[3][2]) > 0.01  # what the detector said on a bent frame


def test_a_canvas_that_is_really_moved_wins_the_vote_eventually(tracking_studio: Studio):
    studio = tracking_studio
    truths = [studio.corners(7 * k) for k in range(16)]
    answers = [t + ([0.0, 30.0] if k >= 6 else [0.0, 0.0]) for k, t in enumerate(truths)]  # moved at k = 6
    observations, _ = run([(studio.render(7 * k), answers[k]) for k in range(16)], redetect_every=1, memory=3.0)
    assert corner_error(observations[7].corners, truths[7]) < 0.002  # two votes do not outweigh six
    assert corner_error(observations[-1].corners, answers[-1]) < 0.002  # the persistent answer took over


def test_no_canvas_retries_with_growing_pauses(tracking_studio: Studio):
    studio = tracking_studio
    frames = [(studio.render(10 * k), None) for k in range(10)]
    observations, detector = run(frames)
    assert all(o.corners is None and o.score == 0.0 for o in observations)
    assert [k for k, o in enumerate(observations) if o.detected] == [0, 1, 2, 4, 8]
    assert detector.calls == 5
    assert canvas_found_fraction(observations) == 0.0
    assert canvas_found_fraction([]) == 0.0


def test_a_different_view_starts_a_new_segment(tracking_studio: Studio):
    other = Studio("other", 171, StudioConfig(duration_s=4.0, size=(480, 360), fps=10))
    studio = tracking_studio
    frames = [(studio.render(10 * k), studio.corners(10 * k)) for k in range(4)]
    frames += [(other.render(10 * k), other.corners(10 * k)) for k in range(3)]
    observations, detector = run(frames)
    assert [o.segment for o in observations] == [0] * 4 + [1] * 3
    assert detector.calls == 2
    assert corner_error(observations[-1].corners, frames[-1][1]) < 0.005  # a plain studio: few corners to follow


def test_track_canvas_rejects_bad_settings(tracking_studio: Studio):
    with pytest.raises(ValueError, match="redetect_every"):
        list(track_canvas([], FakeDetector({}), redetect_every=0))
