"""The autoregressive painting loop (Sec. 3.4, App. A.4) with the released code's extra stop and mask rules.

Per update, from a white canvas Î_0: text p̂_t = text_fn(Î_{t-1}, I_T); M̂_d = D(I_T, Î_{t-1}) > α;
mask M̂_t = g_mask(...) thresholded (0.5, lowered step by step to 0.1 until the mask covers more than 5 % of
the canvas and differs from the previous mask, IoU < 0.8), dilated; Î_t = renderer(Î_{t-1}, I_T, p̂_t, M̂_t,
Δt) with S Euler-ancestral steps. Stops when D̄(I_T, Î_{t-1}) < 0.1, when two consecutive updates each
change D̄ by less than 1e-3, or after ``max_steps`` updates. Everything runs at the renderer's resolution;
the target is resized to it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from training.data.difference import DistanceBackend, binarize, iou, mean_distance
from training.models.mask_generator import MaskGenerator
from training.models.renderer import CONDITIONS, Guidance, Renderer

TextFn = Callable[[np.ndarray, np.ndarray], str]
ABLATABLE = (*CONDITIONS, "reference")


@dataclass(frozen=True)
class PaintConfig:
    num_inference_steps: int = 25  # S
    guidance_text: float = 5.0
    guidance_mask: float = 5.0
    guidance_time: float = 5.0
    guidance_clip: float = 2.0
    dt_s: float = 20.0  # fixed Δ̂t
    max_steps: int = 50
    min_change: float = 1e-3  # two consecutive updates below this stop the loop
    stop_distance: float = 0.1  # D̄(target, canvas) below this stops the loop
    mask_thresholds: tuple[float, ...] = (0.5, 0.4, 0.3, 0.2, 0.1)
    min_mask_coverage: float = 0.05
    max_mask_iou: float = 0.8
    dilate_px: int = 3  # at the renderer's resolution
    seed: int = 0
    # ablations (evaluation.methods): "text" (no g_text, zero text condition), "mask" (no g_mask, zero mask
    # condition), "time" / "clip" (zero Δt / predicted-CLIP token), "reference" (no ReferenceNet attention)
    ablate: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = set(self.ablate) - set(ABLATABLE)
        if unknown:
            raise ValueError(f"unknown ablation(s) {sorted(unknown)}; choose from {list(ABLATABLE)}")

    @property
    def guidance(self) -> Guidance:
        return Guidance(
            self.guidance_text,
            self.guidance_mask,
            self.guidance_time,
            self.guidance_clip,
            removed=frozenset(a for a in self.ablate if a in CONDITIONS),
            reference="reference" not in self.ablate,
        )


@dataclass
class PaintStep:
    image: np.ndarray  # Î_t, uint8 (R, R, 3)
    text: str
    mask: np.ndarray  # M̂_t used, bool (R, R)
    change: float  # D̄(Î_t, Î_{t-1})
    distance_to_target: float  # D̄(I_T, Î_t)
    seconds: float


@dataclass
class PaintResult:
    steps: list[PaintStep] = field(default_factory=list)
    stop_reason: str = ""
    target: np.ndarray | None = None  # I_T at the working resolution


def choose_mask(probs: np.ndarray, previous: np.ndarray | None, config: PaintConfig) -> np.ndarray:
    """Threshold the mask probabilities, lowering the threshold until the mask is large and new enough."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * config.dilate_px + 1,) * 2) if config.dilate_px else None
    mask = None
    for thr in config.mask_thresholds:
        m = probs > thr
        if kernel is not None:
            m = cv2.dilate(m.astype(np.uint8), kernel) > 0
        mask = m
        new_enough = previous is None or iou(m, previous) < config.max_mask_iou
        if m.mean() > config.min_mask_coverage and new_enough:
            break
    assert mask is not None
    return mask


def _distance_map(distance: DistanceBackend, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return distance.maps(a[None], b[None])[0]


def paint(
    target_rgb: np.ndarray,
    renderer: Renderer,
    mask_generator: MaskGenerator,
    text_fn: TextFn,
    distance: DistanceBackend,
    config: PaintConfig = PaintConfig(),
    on_step: Callable[[int, PaintStep], None] | None = None,
) -> PaintResult:
    """Paint ``target_rgb`` (uint8 H×W×3) from a white canvas; returns the updates and why it stopped."""
    if target_rgb.dtype != np.uint8 or target_rgb.ndim != 3 or target_rgb.shape[2] != 3:
        raise ValueError(f"target must be a uint8 RGB image (H, W, 3), got {target_rgb.shape} {target_rgb.dtype}")
    r = renderer.resolution
    target = cv2.resize(target_rgb, (r, r), interpolation=cv2.INTER_AREA)
    canvas = np.full_like(target, 255)
    generator = torch.Generator().manual_seed(config.seed)
    guidance = config.guidance
    result = PaintResult(target=target)
    previous_mask: np.ndarray | None = None
    small_changes = 0
    for _ in range(config.max_steps):
        started = time.perf_counter()
        d_map = _distance_map(distance, target, canvas)
        if mean_distance(d_map) < config.stop_distance:
            result.stop_reason = "close to target"
            return result
        text = "" if "text" in config.ablate else text_fn(canvas, target)
        if "mask" in config.ablate:
            mask = np.ones(canvas.shape[:2], bool)  # no region chosen; the renderer gets its dropped mask
        else:
            md = binarize(d_map, distance.threshold)
            probs = mask_generator.predict(target, canvas, md, text, config.dt_s)
            mask = choose_mask(probs, previous_mask, config)
        image = renderer.generate(
            canvas, target, text, mask, config.dt_s, config.num_inference_steps, guidance, generator
        )
        change = mean_distance(_distance_map(distance, image, canvas))
        step = PaintStep(
            image,
            text,
            mask,
            change,
            mean_distance(_distance_map(distance, target, image)),
            time.perf_counter() - started,
        )
        result.steps.append(step)
        if on_step is not None:
            on_step(len(result.steps), step)
        small_changes = small_changes + 1 if change < config.min_change else 0
        canvas, previous_mask = image, mask
        if small_changes >= 2:
            result.stop_reason = "no change"
            return result
    result.stop_reason = "max steps"
    return result
