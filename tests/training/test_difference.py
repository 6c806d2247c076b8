"""Difference maps D: hand-checkable cases, batching, the LPIPS loading path (random trunk), helpers."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from training.data import difference
from training.data.difference import (
    ColourStructureDistance,
    DistanceBackend,
    LpipsDistance,
    RecentImages,
    binarize,
    distance_maps,
    image_key,
    iou,
    lpips_checkpoint_path,
    lpips_weights_available,
    make_backend,
    mean_distance,
    sequence_pairs,
    to_soft_png,
)


def canvas(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """An off-white primed canvas with a little weave texture and sensor noise."""
    rng = np.random.default_rng(seed)
    base = np.array([236, 233, 226], np.float32) + rng.normal(0, 3, (h, w, 1))
    return np.clip(base, 0, 255).astype(np.uint8)


def with_square(image: np.ndarray, box: tuple[int, int, int, int], colour=(200, 40, 30)) -> np.ndarray:
    x0, y0, x1, y1 = box
    out = image.copy()
    out[y0:y1, x0:x1] = colour
    return out


def box_mask(shape: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


@pytest.fixture(scope="module")
def random_lpips() -> LpipsDistance:
    torch.manual_seed(0)
    return LpipsDistance(pretrained_backbone=False, device="cpu")


# --------------------------------------------------------------------------- weight-free backend


def test_identical_images_give_a_zero_map_and_an_empty_mask() -> None:
    d = ColourStructureDistance()
    a = np.stack([canvas(seed=1), with_square(canvas(seed=2), (10, 10, 50, 40))])
    maps = d.maps(a, a.copy())
    assert maps.shape == (2, 96, 128) and maps.dtype == np.float32
    assert np.abs(maps).max() < 1e-5
    assert not binarize(maps, d.threshold).any()


def test_a_coloured_square_is_masked_and_little_else() -> None:
    d = ColourStructureDistance()
    box = (40, 30, 88, 70)
    before = canvas(seed=3)
    after = with_square(canvas(seed=4), box)  # a different noise draw: a new video frame
    (m,) = d.maps(before[None], after[None])
    mask = binarize(m, d.threshold)
    truth = box_mask(m.shape, box)
    assert mask[truth].mean() > 0.95  # the square is covered
    assert not mask[~box_mask(m.shape, (36, 26, 92, 74))].any()  # nothing more than 4 px away from it
    assert iou(mask, truth) > 0.7  # a halo of at most ~3 px from the blurs
    assert m[truth].min() > 2 * m[~truth].mean()


def test_maps_are_symmetric_and_grow_with_the_colour_change() -> None:
    d = ColourStructureDistance()
    box = (40, 30, 88, 70)
    before = canvas(seed=3)
    small = with_square(before, box, (226, 222, 210))
    large = with_square(before, box, (60, 120, 200))
    maps = d.maps(np.stack([before, small, before]), np.stack([small, before, large]))
    np.testing.assert_allclose(maps[0], maps[1], atol=1e-5)
    inside = box_mask(maps.shape[1:], (48, 38, 80, 62))
    assert maps[2][inside].mean() > maps[0][inside].mean() + 0.3
    assert maps.min() >= 0 and maps.max() < 1


def test_new_texture_of_the_same_mean_colour_is_seen_by_the_structure_term() -> None:
    d = ColourStructureDistance()
    flat = np.full((96, 128, 3), 128, np.uint8)
    stripes = flat.copy()
    stripes[30:70, 40:90:4] = 60
    stripes[30:70, 42:90:4] = 196
    (m,) = d.maps(flat[None], stripes[None])
    assert binarize(m, d.threshold)[40:60, 50:80].mean() > 0.9


def test_a_one_pixel_misregistration_is_forgiven_but_new_paint_is_not() -> None:
    rng = np.random.default_rng(0)
    blocks = cv2.resize(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), (128, 96), interpolation=cv2.INTER_NEAREST)
    shifted = np.roll(blocks, 1, axis=1)  # the canvas registered one pixel off
    box = (40, 30, 80, 60)
    painted = with_square(shifted, box, (20, 200, 40))
    square = box_mask((96, 128), box)
    tolerant, strict = ColourStructureDistance(), ColourStructureDistance(shift_px=0)
    (m,) = tolerant.maps(blocks[None], painted[None])
    mask = binarize(m, tolerant.threshold)
    assert mask[square].mean() > 0.98
    assert mask[~square].mean() < 0.05
    (m_strict,) = strict.maps(blocks[None], painted[None])
    assert binarize(m_strict, tolerant.threshold)[~square].mean() > 0.3  # every block edge without tolerance


def test_studio_change_is_found_in_rendered_frames() -> None:
    """A real painting step of the studio (seed 100), rendered by its camera and rectified back."""
    from training.data.studio import Studio, StudioConfig

    studio = Studio("test-100", 100, StudioConfig(duration_s=8, fps=5, size=(320, 240), canvas_long_side=192))
    w, h = studio.canvas_size
    dst = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]], np.float32)

    def rectified(i: int) -> np.ndarray:
        m = cv2.getPerspectiveTransform(studio.corners(i).astype(np.float32), dst)
        return cv2.warpPerspective(studio.render(i, occluders=False), m, (w, h), flags=cv2.INTER_LINEAR)

    first, second = 12, 22  # mountains and hills get painted in between
    truth = cv2.absdiff(studio.canvas_at(first), studio.canvas_at(second)).max(axis=2) > 8
    assert 0.05 < truth.mean() < 0.6
    d = ColourStructureDistance()
    (m,) = d.maps(rectified(second)[None], rectified(first)[None])
    assert iou(binarize(m, d.threshold), truth) > 0.5


# ------------------------------------------------------------------------------------------ LPIPS


def test_random_trunk_lpips_is_named_as_not_lpips_and_has_the_right_shapes(random_lpips: LpipsDistance) -> None:
    assert random_lpips.name == "lpips-alex-v0.1-random-backbone"
    assert random_lpips.threshold == 0.2
    assert isinstance(random_lpips, DistanceBackend)
    a = np.stack([canvas(64, 80, seed=1), canvas(64, 80, seed=2)])
    b = np.stack([with_square(a[0], (20, 20, 50, 45)), a[1]])
    maps = random_lpips.maps(a, b)
    assert maps.shape == (2, 64, 80) and maps.dtype == np.float32
    assert np.all(maps[1] == 0)  # identical images
    inside = box_mask((64, 80), (24, 24, 46, 41))
    assert maps[0][inside].mean() > 1.5 * maps[0][~box_mask((64, 80), (12, 12, 58, 53))].mean()


def test_shared_trunk_forward_equals_the_lpips_package(random_lpips: LpipsDistance) -> None:
    rng = np.random.default_rng(5)
    a = rng.integers(0, 256, (3, 48, 64, 3), np.uint8)
    b = rng.integers(0, 256, (3, 48, 64, 3), np.uint8)
    b[2] = a[0]  # a shared image goes through the trunk once
    ours = random_lpips.maps(a, b)
    to_tensor = lambda x: torch.from_numpy(x).permute(0, 3, 1, 2).float() / 127.5 - 1  # noqa: E731
    with torch.inference_mode():
        reference = random_lpips._model(to_tensor(a), to_tensor(b))[:, 0].numpy()
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-6)


def test_pretrained_trunk_is_read_from_the_torch_hub_cache(tmp_path: Path, monkeypatch) -> None:
    """Save a random AlexNet where torchvision keeps its ImageNet weights and load it through lpips."""
    import torchvision

    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    assert not lpips_weights_available()
    assert make_backend("auto").name == "colour-structure-v1"
    torch.manual_seed(1)
    alexnet = torchvision.models.alexnet(weights=None)
    # the classifier is unused by LPIPS: store it as zero-stride views so the file stays ~10 MB
    state = {
        k: v if k.startswith("features") else torch.zeros(1).expand(v.shape) for k, v in alexnet.state_dict().items()
    }
    path = lpips_checkpoint_path("alex")
    assert path == tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    assert lpips_weights_available()
    backend = make_backend("auto", device="cpu")
    assert isinstance(backend, LpipsDistance)
    assert backend.name == "lpips-alex-v0.1"
    assert torch.equal(backend._model.net.slice1[0].weight, alexnet.features[0].weight)
    assert backend.maps(canvas(32, 32)[None], canvas(32, 32, seed=9)[None]).shape == (1, 32, 32)


# ------------------------------------------------------------------------------------- batching


@pytest.mark.parametrize("backend_kind", ["colour-structure", "random-lpips"])
def test_batched_maps_equal_one_by_one(backend_kind: str, random_lpips: LpipsDistance) -> None:
    backend = ColourStructureDistance() if backend_kind == "colour-structure" else random_lpips
    rng = np.random.default_rng(7)
    sizes = [(48, 64)] * 3 + [(40, 56)] * 2 + [(48, 64)] * 2  # a size change in the middle
    pairs = [
        (
            canvas(*s, seed=k),
            with_square(canvas(*s, seed=k), (5 + k, 5, 25 + k, 30), tuple(int(c) for c in rng.integers(0, 256, 3))),
        )
        for k, s in enumerate(sizes)
    ]
    pairs[1] = (pairs[0][1], pairs[0][0])  # shared images inside a batch
    one = list(distance_maps(backend, pairs, batch_size=1))
    many = list(distance_maps(backend, iter(pairs), batch_size=4))
    assert [m.shape for m in many] == [s for s in sizes]
    for x, y in zip(one, many, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)


class RecordingBackend:
    name = "recording"
    threshold = 0.5

    def __init__(self) -> None:
        self.calls: list[tuple[int, ...]] = []

    def maps(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.calls.append(a.shape)
        return (a[..., 0].astype(np.float32) - b[..., 0]) / 255


def test_distance_maps_groups_consecutive_same_size_pairs_in_order() -> None:
    backend = RecordingBackend()
    shapes = [(8, 8)] * 5 + [(4, 6)] + [(8, 8)] * 2
    pairs = [(np.full((*s, 3), k, np.uint8), np.zeros((*s, 3), np.uint8)) for k, s in enumerate(shapes)]
    maps = list(distance_maps(backend, pairs, batch_size=3))
    assert [c[0] for c in backend.calls] == [3, 2, 1, 2]
    assert [round(float(m[0, 0]) * 255) for m in maps] == list(range(8))
    with pytest.raises(ValueError, match="same size"):
        list(distance_maps(backend, [(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))]))
    with pytest.raises(ValueError, match="batch_size"):
        list(distance_maps(backend, pairs, batch_size=0))


def test_sequence_pairs_interleave_m_t_and_m_d() -> None:
    frames = [np.full((2, 2, 3), k, np.uint8) for k in range(3)]
    target = np.full((2, 2, 3), 9, np.uint8)
    out = sequence_pairs(frames, target)
    assert [(kind, t, int(a[0, 0, 0]), int(b[0, 0, 0])) for kind, t, (a, b) in out] == [
        ("m_t", 1, 1, 0),
        ("m_d", 1, 9, 0),
        ("m_t", 2, 2, 1),
        ("m_d", 2, 9, 1),
    ]


def test_bad_batches_are_rejected_with_the_fix() -> None:
    d = ColourStructureDistance()
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\) uint8"):
        d.maps(np.zeros((1, 8, 8, 3), np.float32), np.zeros((1, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"np\.stack"):
        d.maps(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="differ in shape"):
        d.maps(np.zeros((1, 8, 8, 3), np.uint8), np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="unknown distance backend"):
        make_backend("ssim")


# -------------------------------------------------------------------------------------- helpers


def test_iou_edge_cases() -> None:
    empty = np.zeros((4, 4), bool)
    a = empty.copy()
    a[:2] = True
    b = empty.copy()
    b[1:3] = True
    assert iou(empty, empty) == 1.0
    assert iou(a, empty) == 0.0
    assert iou(a, a) == 1.0
    assert iou(a, b) == pytest.approx(4 / 12)
    assert iou(a.astype(np.uint8) * 255, b) == pytest.approx(4 / 12)
    with pytest.raises(ValueError, match="shape"):
        iou(a, np.zeros((4, 5), bool))


def test_soft_png_binarize_and_mean() -> None:
    m = np.array([[-0.1, 0.0, 0.2, 0.2001], [0.5, 0.999, 1.0, 3.0]], np.float32)
    assert to_soft_png(m).tolist() == [[0, 0, 51, 51], [128, 255, 255, 255]]
    assert to_soft_png(m).dtype == np.uint8
    assert binarize(m, 0.2).tolist() == [[False, False, False, True], [True, True, True, True]]
    assert mean_distance(m) == pytest.approx(float(m.astype(np.float64).mean()))
    with pytest.raises(ValueError):
        mean_distance(np.zeros((0, 3)))


def test_calibrated_threshold_is_the_default() -> None:
    assert ColourStructureDistance().threshold == difference.CALIBRATION["threshold"]
    assert 0 < ColourStructureDistance().threshold < 1
    assert ColourStructureDistance(threshold=0.3).threshold == 0.3
    assert ColourStructureDistance(threshold=0.3).name == "colour-structure-v1"  # same maps, other mask
    assert ColourStructureDistance(pool_sigma=3.0).name == "colour-structure-v1-custom"  # other maps


def test_recent_images_reuses_results_of_the_last_distinct_images_only() -> None:
    recent = RecentImages(size=2)
    computed: list[int] = []

    def compute(images: list[np.ndarray]) -> list[int]:
        computed.extend(int(x[0, 0, 0]) for x in images)
        return [int(x[0, 0, 0]) * 10 for x in images]

    images = {v: np.full((4, 4, 3), v, np.uint8) for v in (1, 2, 3)}

    def resolve(*values: int) -> list[int]:
        return recent.resolve([image_key(images[v]) for v in values], [images[v] for v in values], compute)

    assert resolve(1, 2) == [10, 20]
    assert resolve(2, 3) == [20, 30]  # 2 reused, 3 computed; 1 is evicted (size 2)
    assert resolve(1) == [10]
    assert computed == [1, 2, 3, 1]
    # same pixels in another shape are another image
    assert image_key(np.zeros((2, 8, 3), np.uint8)) != image_key(np.zeros((4, 4, 3), np.uint8))


def test_a_painting_streamed_pair_by_pair_runs_the_trunk_once_per_keyframe(random_lpips: LpipsDistance) -> None:
    frames = [canvas(32, 48, seed=k) for k in range(5)]
    target = canvas(32, 48, seed=99)
    pairs = [p for _, _, p in sequence_pairs(frames, target)]
    random_lpips._recent.clear()
    seen: list[int] = []
    original = random_lpips._features

    def counting(images: np.ndarray):
        seen.append(len(images))
        return original(images)

    random_lpips._features = counting
    try:
        streamed = list(distance_maps(random_lpips, pairs, batch_size=1))
    finally:
        del random_lpips._features
    assert sum(seen) == len(frames) + 1  # every keyframe and the target once, not 2 images per pair
    random_lpips._recent.clear()
    for x, y in zip(streamed, distance_maps(random_lpips, pairs, batch_size=8), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)
