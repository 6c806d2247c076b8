"""Grounding DINO + SAM backend: loaders, batched detection, quad fitting, canvas and occluder detectors.

Models are tiny random-weight builds (tests/tiny_models.py) loaded through the real loaders, so
assertions are about structure, thresholds, scaling and wiring, never about accuracy.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import cv2
import huggingface_hub.constants
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.tiny_models import TINY_SAM_MODEL_TYPE, build_tiny
from training.data.canvas import CanvasDetection, CanvasDetector
from training.data.canvas.geometry import order_corners
from training.data.canvas.paper_detector import GroundingCanvasDetector, box_quad, quad_from_mask
from training.data.grounding_dino import (
    GroundingDino,
    SamRefiner,
    WeightsUnavailableError,
    load_sam,
    normalize_prompt,
    sam_weights_available,
    weights_available,
)
from training.data.hand_detector import GroundingOccluderDetector, overlap_fraction

NUM_QUERIES = 20  # of the tiny Grounding DINO


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test may reach the hub: a miss must fail fast, not retry for half a minute."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The tiny models are too small to gain from threads; on a shared 2-core box threads only contend."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tiny_models")


@pytest.fixture(scope="module")
def tiny_dino_dir(tiny_root) -> Path:
    return build_tiny("grounding_dino", tiny_root)


@pytest.fixture(scope="module")
def tiny_sam_path(tiny_root) -> Path:
    return build_tiny("sam", tiny_root)


@pytest.fixture(scope="module")
def dino(tiny_dino_dir) -> GroundingDino:
    return GroundingDino(tiny_dino_dir, device="cpu", batch_size=2)


@pytest.fixture(scope="module")
def sam(tiny_sam_path) -> SamRefiner:
    return SamRefiner(tiny_sam_path, model_type=TINY_SAM_MODEL_TYPE, device="cpu")


def random_images(n: int, size=(160, 120), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    width, height = size
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(n)]


def exact_mask(quad, size=(640, 480)) -> np.ndarray:
    """Pixels whose centre lies inside the convex quad (the exact rasterisation)."""
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    quad = np.asarray(quad, dtype=np.float64)
    signed = sum(quad[i, 0] * quad[i - 3, 1] - quad[i - 3, 0] * quad[i, 1] for i in range(4))
    inside = np.ones((height, width), dtype=bool)
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        inside &= np.sign(signed) * ((b[0] - a[0]) * (ys - a[1]) - (b[1] - a[1]) * (xs - a[0])) >= 0
    return inside


def corner_error(found: np.ndarray, truth) -> float:
    """Largest corner distance as a fraction of the true quad's bounding-box diagonal."""
    truth = order_corners(np.asarray(truth, dtype=np.float64))
    diagonal = float(np.hypot(*(truth.max(axis=0) - truth.min(axis=0))))
    return float(np.hypot(*(np.asarray(found) - truth).T).max()) / diagonal


def cut_hand(mask: np.ndarray, at: tuple[float, float], reach=(70, 45), angle=30.0) -> np.ndarray:
    """Remove a hand (ellipse) and its forearm (band to the bottom of the frame) from the mask."""
    cut = mask.astype(np.uint8).copy()
    x, y = int(at[0]), int(at[1])
    cv2.ellipse(cut, (x, y), reach, angle, 0, 360, 0, -1)
    cv2.rectangle(cut, (x - 30, y), (x + 30, cut.shape[0]), 0, -1)
    return cut.astype(bool)


QUADS = {
    "axis_aligned": [[100.3, 80.6], [540.2, 80.6], [540.2, 400.4], [100.3, 400.4]],
    "perspective": [[150, 60], [520, 100], [560, 420], [90, 380]],
    "keystone": [[200, 100], [440, 100], [600, 450], [40, 450]],
    "rolled": [[180, 60], [560, 140], [500, 440], [110, 350]],
    "corner_off_frame": [[-30, -20], [500, 30], [560, 420], [60, 400]],
}


# ---------------------------------------------------------------- quad_from_mask


@pytest.mark.parametrize("name", sorted(QUADS))
def test_quad_from_exact_mask(name):
    truth = QUADS[name]
    found = quad_from_mask(exact_mask(truth))
    assert found is not None and found.shape == (4, 2) and found.dtype == np.float32
    assert corner_error(found, truth) < 0.005  # under 0.5 % of the diagonal: sub-pixel to ~2 px


@pytest.mark.parametrize("name", ["axis_aligned", "perspective", "keystone", "rolled"])
@pytest.mark.parametrize("where", ["corner", "edge"])
def test_quad_survives_a_hand_notch(name, where):
    truth = np.asarray(QUADS[name], dtype=np.float64)
    bottom_right, bottom_left = truth[2], truth[3]
    at = bottom_right - (25, 15) if where == "corner" else (bottom_right + bottom_left) / 2
    mask = cut_hand(exact_mask(truth), at)
    assert mask.sum() < exact_mask(truth).sum() * 0.97  # the hand really removes part of the canvas
    found = quad_from_mask(mask)
    assert found is not None
    assert corner_error(found, truth) < 0.015


@pytest.mark.parametrize("name", ["perspective", "keystone", "rolled"])
def test_quad_survives_an_arm_splitting_the_canvas(name):
    """Painting the sky: the hand at the top edge, the forearm hanging across the whole canvas."""
    truth = np.asarray(QUADS[name], dtype=np.float64)
    top_middle = truth[0] * 0.55 + truth[1] * 0.45 + (0, 25)
    mask = cut_hand(exact_mask(truth), top_middle, reach=(45, 30))
    assert cv2.connectedComponents(mask.astype(np.uint8))[0] - 1 == 2  # the canvas is cut in two
    found = quad_from_mask(mask)
    assert found is not None
    assert corner_error(found, truth) < 0.015


def test_quad_ignores_smaller_components_and_returns_tl_tr_br_bl():
    truth = QUADS["perspective"]
    mask = exact_mask(truth)
    mask[5:40, 590:630] = True  # a bright box elsewhere in the scene
    found = quad_from_mask(mask)
    assert corner_error(found, truth) < 0.005
    tl, tr, br, bl = found
    assert tl[0] < tr[0] and bl[0] < br[0] and tl[1] < bl[1] and tr[1] < br[1]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cx=st.floats(220, 420),
    cy=st.floats(170, 310),
    half_w=st.floats(90, 200),
    half_h=st.floats(70, 150),
    roll=st.floats(-0.35, 0.35),
    jitter=st.lists(st.floats(-0.12, 0.12), min_size=8, max_size=8),
)
def test_quad_from_random_perspective_quads(cx, cy, half_w, half_h, roll, jitter):
    base = np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h], [-half_w, half_h]])
    base = base * (1 + np.array(jitter).reshape(4, 2))  # perspective-like: each corner moves independently
    rotation = np.array([[math.cos(roll), -math.sin(roll)], [math.sin(roll), math.cos(roll)]])
    truth = base @ rotation.T + (cx, cy)
    found = quad_from_mask(exact_mask(truth))
    assert found is not None
    assert corner_error(found, truth) < 0.015


@pytest.mark.parametrize(
    "shape",
    ["empty", "disc", "triangle", "speck"],
)
def test_quad_from_mask_rejects_non_quads(shape):
    mask = np.zeros((480, 640), dtype=np.uint8)
    if shape == "disc":
        cv2.circle(mask, (320, 240), 150, 1, -1)
    elif shape == "triangle":
        cv2.fillPoly(mask, [np.array([[100, 420], [320, 40], [560, 420]], dtype=np.int32)], 1)
    elif shape == "speck":
        mask[100:110, 100:110] = 1  # 0.03 % of the frame
    assert quad_from_mask(mask) is None


def test_quad_from_mask_names_bad_input():
    with pytest.raises(ValueError, match=r"2-D array"):
        quad_from_mask(np.zeros((4, 4, 3)))


# ---------------------------------------------------------------- Grounding DINO


def test_detect_batched_structure_and_thresholds(dino):
    images = random_images(3, size=(160, 120)) + random_images(1, size=(90, 200), seed=1)
    everything = dino.detect(images, "canvas. painting.", box_threshold=0.0)
    assert len(everything) == 4
    for image, found in zip(images, everything, strict=True):
        height, width = image.shape[:2]
        assert len(found) == NUM_QUERIES  # every query scores above 0
        scores = [d.score for d in found]
        assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
        for d in found:
            x1, y1, x2, y2 = d.box_xyxy
            assert d.box_xyxy.shape == (4,) and isinstance(d.label, str)
            assert 0 <= x1 <= x2 <= width and 0 <= y1 <= y2 <= height
    assert dino.detect(images, "canvas. painting.", box_threshold=1.01) == [[], [], [], []]
    middle = np.median([d.score for found in everything for d in found])
    kept = dino.detect(images, "canvas. painting.", box_threshold=middle)
    for found, full in zip(kept, everything, strict=True):
        assert [d.score for d in found] == pytest.approx([d.score for d in full if d.score > middle], abs=1e-5)


def test_batched_detection_matches_single_images(dino):
    images = random_images(3, seed=2)
    batched = dino.detect(images, "hand. paintbrush.", box_threshold=0.0)  # batch_size 2: chunks of 2 + 1
    for image, found in zip(images, batched, strict=True):
        alone = dino.detect([image], "hand. paintbrush.", box_threshold=0.0)[0]
        np.testing.assert_allclose([d.box_xyxy for d in found], [d.box_xyxy for d in alone], atol=1e-3)
    assert dino.detect([], "canvas.") == []


def test_boxes_are_scaled_to_source_pixels(dino):
    image = random_images(1, size=(300, 120), seed=3)[0]  # wide: swapping width and height shows
    inputs = dino.processor(images=[image], text=["canvas."], return_tensors="pt", input_data_format="channels_last")
    with torch.no_grad():
        outputs = dino.network(**inputs)
    scores = outputs.logits.sigmoid().max(dim=-1).values[0]
    cx, cy, w, h = outputs.pred_boxes[0, int(scores.argmax())].tolist()
    expected = np.clip([(cx - w / 2) * 300, (cy - h / 2) * 120, (cx + w / 2) * 300, (cy + h / 2) * 120], 0, None)
    expected = np.minimum(expected, [300, 120, 300, 120])
    best = dino.detect([image], "Canvas", box_threshold=0.0)[0][0]
    np.testing.assert_allclose(best.box_xyxy, expected, atol=1e-2)
    assert best.score == pytest.approx(float(scores.max()), abs=1e-5)


def test_prompt_and_image_validation(dino):
    assert normalize_prompt("  Canvas.   Oil   Painting ") == "canvas. oil painting."
    with pytest.raises(ValueError, match="Empty detection prompt"):
        normalize_prompt(" . ")
    with pytest.raises(ValueError, match=r"image 1 must be an RGB uint8 array.*\(10, 10\)"):
        dino.detect([random_images(1)[0], np.zeros((10, 10), np.uint8)], "canvas.")


# ---------------------------------------------------------------- availability and errors


def test_weights_available_offline(tiny_dino_dir, tmp_path):
    assert weights_available(tiny_dino_dir)
    assert weights_available(str(tiny_dino_dir))
    assert not weights_available("nobody-here/grounding-dino-none")
    assert not weights_available(tmp_path / "missing")
    partial = tmp_path / "partial"
    shutil.copytree(tiny_dino_dir, partial)
    (partial / "model.safetensors").unlink()
    assert not weights_available(partial)


def test_hub_id_resolves_from_local_cache(tiny_dino_dir, tmp_path):
    """A hub id already in the Hugging Face cache loads offline, through the same loader."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--tiny-org--grounding-dino-tiny"
    shutil.copytree(tiny_dino_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    assert weights_available("tiny-org/grounding-dino-tiny", cache_dir=tmp_path / "hub")
    assert not weights_available("tiny-org/grounding-dino-tiny")  # not in the default cache
    loaded = GroundingDino("tiny-org/grounding-dino-tiny", device="cpu", cache_dir=tmp_path / "hub")
    assert len(loaded.detect(random_images(1), "canvas.", box_threshold=0.0)[0]) == NUM_QUERIES


def test_missing_grounding_weights_name_model_and_fix(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="nobody-here/grounding-dino-none") as error:
        GroundingDino("nobody-here/grounding-dino-none", device="cpu")
    message = str(error.value)
    assert "HF_HUB_OFFLINE" in message and "hf download nobody-here/grounding-dino-none" in message
    assert "local directory" in message
    with pytest.raises(WeightsUnavailableError, match="not a model directory") as error:
        GroundingDino(tmp_path / "nowhere", device="cpu")
    assert str(tmp_path / "nowhere") in str(error.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsUnavailableError, match=r"lacks config\.json"):
        GroundingDino(tmp_path / "empty", device="cpu")


def test_sam_checkpoint_errors(tiny_sam_path, tmp_path):
    assert sam_weights_available(tiny_sam_path)
    assert not sam_weights_available(tmp_path / "sam_vit_b_01ec64.pth")
    assert not sam_weights_available(None)
    with pytest.raises(WeightsUnavailableError, match=r"sam_vit_b_01ec64\.pth.*not found.*Download https://"):
        load_sam(tmp_path / "sam_vit_b_01ec64.pth", "vit_b")
    with pytest.raises(ValueError, match="Unknown SAM model_type 'vit_x'"):
        load_sam(tiny_sam_path, "vit_x")
    state = torch.load(tiny_sam_path, weights_only=True)
    state.pop(next(iter(state)))
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(ValueError, match="does not match model_type 'tiny'"):
        load_sam(tmp_path / "broken.pth", TINY_SAM_MODEL_TYPE)


# ---------------------------------------------------------------- SAM


def test_sam_box_prompt_gives_image_sized_masks(sam):
    image = random_images(1, size=(200, 150), seed=4)[0]
    mask = sam.mask(image, np.array([20, 30, 150, 120]))
    assert mask.shape == (150, 200) and mask.dtype == bool
    masks = sam.masks(image, [np.array([20, 30, 150, 120]), np.array([0, 0, 50, 50])])
    assert len(masks) == 2 and all(m.shape == (150, 200) for m in masks)
    np.testing.assert_array_equal(masks[0], mask)  # same image, same box: same mask
    assert sam.masks(image, []) == []


# ---------------------------------------------------------------- canvas detector


class QuadInBox:
    """Stands in for SAM: the mask of a perspective quad inscribed in the prompted box."""

    def __init__(self, empty: bool = False) -> None:
        self.empty = empty
        self.truths: list[np.ndarray] = []

    def masks(self, image, boxes):
        height, width = image.shape[:2]
        masks = []
        for box in boxes:
            x1, y1, x2, y2 = box
            w, h = x2 - x1, y2 - y1
            quad = np.array(
                [[x1 + 0.1 * w, y1 + 0.05 * h], [x2 - 0.05 * w, y1], [x2, y2], [x1, y2 - 0.1 * h]], dtype=np.float64
            )
            self.truths.append(quad)
            masks.append(np.zeros((height, width), bool) if self.empty else exact_mask(quad, (width, height)))
        return masks


def test_canvas_detector_without_sam_returns_the_best_box(dino):
    detector = GroundingCanvasDetector(dino, box_threshold=0.0, min_box_fraction=0.0)
    assert isinstance(detector, CanvasDetector) and detector.name == "grounding_dino"
    assert detector.refinement == "box"
    image = random_images(1, seed=5)[0]
    found = detector.detect(image)
    best = dino.detect([image], detector.prompt, box_threshold=0.0)[0][0]
    assert isinstance(found, CanvasDetection)
    np.testing.assert_allclose(found.corners, box_quad(best.box_xyxy))
    assert found.score == pytest.approx(best.score)
    assert GroundingCanvasDetector(dino, box_threshold=1.01).detect(image) is None


def test_canvas_detector_skips_boxes_too_small_for_a_canvas(dino):
    image = random_images(1, seed=5)[0]
    everything = dino.detect([image], "canvas. painting.", box_threshold=0.0)[0]
    areas = [(d.box_xyxy[2] - d.box_xyxy[0]) * (d.box_xyxy[3] - d.box_xyxy[1]) / (160 * 120) for d in everything]
    threshold = float(np.median(areas))
    detector = GroundingCanvasDetector(dino, box_threshold=0.0, min_box_fraction=threshold)
    expected = next(d for d, a in zip(everything, areas, strict=True) if a >= threshold)
    np.testing.assert_allclose(detector.detect(image).corners, box_quad(expected.box_xyxy))
    assert GroundingCanvasDetector(dino, box_threshold=0.0, min_box_fraction=1.01).detect(image) is None


def test_canvas_detector_fits_the_quad_of_the_refined_mask(dino):
    refiner = QuadInBox()
    detector = GroundingCanvasDetector(dino, box_threshold=0.0, min_box_fraction=0.03, sam=refiner)
    images = [np.full((240, 320, 3), 128, np.uint8), *random_images(2, size=(320, 240), seed=6)]
    found = detector.detect_batch(images)
    assert len(found) == 3
    for detection in found:
        assert isinstance(detection, CanvasDetection)
    first_truth = refiner.truths[0]  # the mask of the first candidate of the first image
    assert corner_error(found[0].corners, first_truth) < 0.015
    assert GroundingCanvasDetector(dino, box_threshold=0.0, sam=QuadInBox(empty=True)).detect(images[0]) is None


def test_canvas_detector_with_tiny_sam_end_to_end(dino, sam):
    detector = GroundingCanvasDetector(dino, box_threshold=0.0, sam=sam)
    assert detector.refinement == "sam"
    image = random_images(1, size=(200, 150), seed=7)[0]
    first, second = detector.detect(image), detector.detect(image)
    assert (first is None) == (second is None)
    if first is not None:
        assert first.corners.shape == (4, 2) and first.corners.dtype == np.float32
        np.testing.assert_allclose(first.corners, second.corners)
        assert 0 < first.score <= 1


def test_canvas_detector_loads_sam_from_a_checkpoint(tiny_dino_dir, tiny_sam_path):
    detector = GroundingCanvasDetector(
        tiny_dino_dir, sam_checkpoint=tiny_sam_path, sam_model_type=TINY_SAM_MODEL_TYPE, device="cpu"
    )
    assert detector.refinement == "sam" and detector.sam.model_type == TINY_SAM_MODEL_TYPE


# ---------------------------------------------------------------- occluders


def test_overlap_fraction_of_box_over_quad():
    square = np.array([[0, 0], [100, 0], [100, 100], [0, 100]], dtype=np.float32)
    assert overlap_fraction(np.array([50, -10, 200, 200]), square) == pytest.approx(0.5, abs=1e-3)
    assert overlap_fraction(np.array([50, -10, 200, 200]), square[::-1]) == pytest.approx(0.5, abs=1e-3)
    assert overlap_fraction(np.array([200, 200, 300, 300]), square) == 0.0
    diamond = np.array([[50, 0], [100, 50], [50, 100], [0, 50]], dtype=np.float32)
    assert overlap_fraction(np.array([0, 0, 50, 50]), diamond) == pytest.approx(0.25, abs=1e-3)


def test_occluder_detector_one_bool_per_image(dino):
    images = random_images(3, seed=8)
    whole = np.array([[0, 0], [160, 0], [160, 120], [0, 120]], dtype=np.float32)
    elsewhere = np.array([[-90, -90], [-50, -90], [-50, -50], [-90, -50]], dtype=np.float32)
    detector = GroundingOccluderDetector(dino, box_threshold=0.0)
    assert detector.occluded(images, [whole] * 3) == [True, True, True]
    assert detector.occluded(images, [whole, elsewhere, whole]) == [True, False, True]
    coverage = detector.coverage(images, [whole] * 3)
    boxes = detector.boxes(images)
    for fraction, found in zip(coverage, boxes, strict=True):
        largest = max((d.box_xyxy[2] - d.box_xyxy[0]) * (d.box_xyxy[3] - d.box_xyxy[1]) for d in found)
        assert fraction == pytest.approx(largest / (160 * 120), abs=1e-3)
    strict = GroundingOccluderDetector(dino, box_threshold=0.0, min_overlap=max(coverage))
    assert strict.occluded(images, [whole] * 3) == [c > max(coverage) for c in coverage]
    assert GroundingOccluderDetector(dino, box_threshold=1.01).occluded(images, [whole] * 3) == [False] * 3
    with pytest.raises(ValueError, match="3 images but 2 canvas quads"):
        detector.occluded(images, [whole] * 2)
    with pytest.raises(ValueError, match=r"\(4, 2\) array"):
        detector.occluded(images[:1], [np.zeros((3, 2))])
