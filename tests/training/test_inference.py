"""The painting loop: stop rules, mask threshold lowering, and a run with tiny random models."""

from dataclasses import dataclass, field

import numpy as np
import pytest

from training.data.difference import make_backend
from training.inference.paint import PaintConfig, choose_mask, paint
from training.models.mask_generator import load_mask_generator
from training.models.presets import tiny_preset
from training.models.renderer import Guidance, load_renderer


def test_choose_mask_lowers_the_threshold_until_large_and_new_enough():
    cfg = PaintConfig(dilate_px=0)
    probs = np.zeros((20, 20), np.float32)
    probs[:2, :] = 0.9  # 10 % above 0.5
    probs[2:6, :] = 0.35  # another 20 % above 0.3
    assert choose_mask(probs, None, cfg).mean() == pytest.approx(0.1)
    previous = probs > 0.5
    # the 0.5 mask equals the previous one (IoU 1 >= 0.8): go down to 0.3
    assert choose_mask(probs, previous, cfg).mean() == pytest.approx(0.3)
    tiny = np.zeros((20, 20), np.float32)
    tiny[0, 0] = 0.9
    assert choose_mask(tiny, None, cfg).sum() == 1  # nothing better at 0.1: the last candidate
    assert choose_mask(tiny, None, PaintConfig(dilate_px=1)).sum() > 1  # dilated


@dataclass
class _Copying:
    """A renderer that returns a fixed image: drives the loop's stop rules."""

    resolution: int
    output: np.ndarray | None = None
    default_guidance: Guidance = field(default_factory=Guidance)
    default_steps: int = 25

    def generate(self, current, target, text, mask, dt_s, num_steps, guidance, generator):
        return current.copy() if self.output is None else self.output


class _AnyMask:
    def predict(self, target, current, md, text, dt_s, use_time=True):
        return np.full(current.shape[:2], 0.7, np.float32)


def _target() -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.zeros((64, 64, 3), np.uint8)
    t[:32] = (40, 90, 200)
    t[32:] = rng.integers(0, 255, (32, 64, 3))
    return t


def test_paint_stops_after_two_updates_without_change():
    texts = []
    res = paint(
        _target(),
        _Copying(64),
        _AnyMask(),
        lambda c, t: texts.append(c.copy()) or "sky",
        make_backend("colour-structure"),
        PaintConfig(max_steps=10),
    )
    assert res.stop_reason == "no change" and len(res.steps) == 2
    assert (texts[0] == 255).all()  # the first update starts from a white canvas


@dataclass
class _Alternating:
    """A renderer that cycles through ``images``: changes the canvas every update."""

    resolution: int
    images: list[np.ndarray]
    default_guidance: Guidance = field(default_factory=Guidance)
    default_steps: int = 1
    calls: int = 0

    def generate(self, current, target, text, mask, dt_s, num_steps, guidance, generator):
        self.calls += 1
        return self.images[(self.calls - 1) % len(self.images)]


def test_paint_stops_after_two_updates_without_progress_towards_the_target():
    target = _target()
    halfway = target.copy()
    halfway[32:] = 255  # the bottom half still white
    worse = halfway.copy()
    worse[:16] = (200, 40, 40)  # repaints part of the finished top in a wrong colour
    config = PaintConfig(max_steps=10, stop_distance=0.0)
    distance = make_backend("colour-structure")
    renderer = _Alternating(64, [halfway, worse])
    res = paint(target, renderer, _AnyMask(), lambda c, t: "sky", distance, config)
    # halfway (best so far), then worse and halfway again: two updates that change the canvas, neither closer;
    # the process ends at its closest canvas
    assert res.stop_reason == "no progress" and renderer.calls == 3
    assert len(res.steps) == 1 and (res.steps[0].image == halfway).all()
    res = paint(
        target,
        _Alternating(64, [halfway, worse]),
        _AnyMask(),
        lambda c, t: "sky",
        distance,
        PaintConfig(max_steps=10, stop_distance=0.0, patience=0),
    )
    assert res.stop_reason == "max steps"


def test_paint_stops_when_the_canvas_reaches_the_target():
    target = _target()
    res = paint(
        target,
        _Copying(64, target),
        _AnyMask(),
        lambda c, t: "sky",
        make_backend("colour-structure"),
        PaintConfig(max_steps=10),
    )
    assert res.stop_reason == "close to target" and len(res.steps) == 1
    assert res.steps[0].distance_to_target < 0.1 and res.steps[0].change > 0.1


def test_paint_with_tiny_models_respects_max_steps(tmp_path):
    preset = tiny_preset(tmp_path / "base")
    rend, masks = load_renderer(preset), load_mask_generator(preset)
    big = np.repeat(np.repeat(_target(), 4, 0), 5, 1)  # a 320x256 painting; the models see it at 64x64
    seen, shown = [], []
    res = paint(
        big,
        rend,
        masks,
        lambda c, t: shown.append((c.shape, t.shape)) or "sky",
        make_backend("colour-structure"),
        PaintConfig(max_steps=2, num_inference_steps=2, patience=0),
        on_step=lambda i, s: seen.append(i),
    )
    assert res.stop_reason == "max steps" and seen == [1, 2]
    step = res.steps[0]
    # the canvas keeps the painting's size and aspect, as the keyframes the models were trained on
    assert step.image.shape == big.shape and step.image.dtype == np.uint8
    assert step.mask.shape == big.shape[:2] and step.mask.dtype == bool and step.text == "sky"
    assert res.target.shape == big.shape and shown == [(big.shape, big.shape)] * 2
    wide = np.repeat(big, 3, 1)  # 960x256: the long side is capped at PaintConfig.long_side (512)
    res = paint(wide, rend, masks, lambda c, t: "sky", make_backend("colour-structure"), PaintConfig(max_steps=1))
    assert res.steps[0].image.shape == (137, 512, 3)
    with pytest.raises(ValueError, match="uint8 RGB"):
        paint(big.astype(np.float32), rend, masks, lambda c, t: "", make_backend("colour-structure"))
