"""The autoregressive painting loop (Sec. 3.4, App. A.4) with the released code's extra stop and mask rules.

Per update, from a white canvas Î_0: text p̂_t = text_fn(Î_{t-1}, I_T); M̂_d = D(I_T, Î_{t-1}) > α;
mask M̂_t = g_mask(...) thresholded (0.5, lowered step by step to 0.1 until the mask covers more than 5 % of
the canvas and differs from the previous mask, IoU < 0.8), dilated; Î_t = renderer(Î_{t-1}, I_T, p̂_t, M̂_t,
Δt) with S Euler-ancestral steps. Stops when D̄(I_T, Î_{t-1}) < 0.1 (the released code), when two consecutive
updates each change the canvas by less than 1e-3 (App. A.4: D̄(Î_{t-2}, Î_{t-1}) and D̄(Î_{t-1}, Î_t)), when
two consecutive updates bring D̄(I_T, ·) no lower than 90 % of its best before them (ours: the tiny renderer
can repaint a region it cannot finish, changing the canvas every time without getting closer; chosen by DTS
on training paintings, 0.49 -> 0.30 min; the process then ends at its closest canvas), or after
``max_steps`` updates.

The canvas is kept at the target's size, its long side capped at ``long_side`` (the data pipeline's canvas
size), so every model sees what it saw in training: the text generator [Î_{t-1} | I_T] at the painting's
aspect, the mask generator and the renderer both images area-resized to their resolution, and M̂_d computed
at the canvas size and resized like the dataset's masks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from training.data.difference import DistanceBackend, binarize, iou, mean_distance
from training.data.images import fit_long_side
from training.models.mask_generator import MaskGenerator
from training.models.renderer import CONDITIONS, Guidance, RenderPipeline

TextFn = Callable[[np.ndarray, np.ndarray], str]
ABLATABLE = (*CONDITIONS, "reference")


@dataclass(frozen=True)
class PaintConfig:
    """Settings of the loop. Unset (None) sampler steps and guidance scales are the renderer's own
    (``RenderPipeline.default_steps`` / ``default_guidance``: App. A.4's 25 and 5 / 5 / 5 / 2 for the paper preset);
    an unset stop distance is the distance backend's (``stop_distance``: the released code's 0.1 for LPIPS)."""

    num_inference_steps: int | None = None  # S
    guidance_text: float | None = None
    guidance_mask: float | None = None
    guidance_time: float | None = None
    guidance_clip: float | None = None
    dt_s: float = 20.0  # fixed Δ̂t
    max_steps: int = 50
    min_change: float = 1e-3  # two consecutive updates below this stop the loop
    # `patience` updates in a row that do not bring D̄(I_T, canvas) `min_progress` (relative) below its best so
    # far stop the loop: the paper's rule stops a loop that no longer changes the canvas; this one also stops
    # a loop that keeps repainting a region it cannot finish (0 disables it)
    patience: int = 2
    min_progress: float = 0.1
    stop_distance: float | None = None  # D̄(target, canvas) below this stops the loop
    mask_thresholds: tuple[float, ...] = (0.5, 0.4, 0.3, 0.2, 0.1)
    min_mask_coverage: float = 0.05
    max_mask_iou: float = 0.8
    dilate_px: int = 3  # at the renderer's resolution (scaled to the canvas)
    long_side: int = 512  # the working canvas: the target's size with its long side capped at this
    seed: int = 0
    # ablations (evaluation.methods): "text" (no g_text, zero text condition), "mask" (no g_mask, zero mask
    # condition), "time" / "clip" (zero Δt / predicted-CLIP token), "reference" (no ReferenceNet attention)
    ablate: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = set(self.ablate) - set(ABLATABLE)
        if unknown:
            raise ValueError(f"unknown ablation(s) {sorted(unknown)}; choose from {list(ABLATABLE)}")
        # bad values would fail deep in the sampler (0 steps divide by zero) or paint nonsense (Δt <= 0, NaN)
        if self.num_inference_steps is not None and self.num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be at least 1 (or None), got {self.num_inference_steps}")
        if self.max_steps < 0:
            raise ValueError(f"max_steps must be at least 0, got {self.max_steps}")
        if not (math.isfinite(self.dt_s) and self.dt_s > 0):
            raise ValueError(f"dt_s must be a finite number of seconds above 0, got {self.dt_s}")

    def guidance_for(self, defaults: Guidance) -> Guidance:
        """The scales set here, else ``defaults`` (the renderer's), with this config's ablations."""

        def pick(value: float | None, default: float) -> float:
            return default if value is None else value

        return Guidance(
            pick(self.guidance_text, defaults.text),
            pick(self.guidance_mask, defaults.mask),
            pick(self.guidance_time, defaults.time),
            pick(self.guidance_clip, defaults.clip),
            removed=frozenset(a for a in self.ablate if a in CONDITIONS),
            reference="reference" not in self.ablate,
        )


@dataclass
class PaintStep:
    image: np.ndarray  # Î_t, uint8, the working canvas size
    text: str
    mask: np.ndarray  # M̂_t used, bool, the working canvas size
    change: float  # D̄(Î_t, Î_{t-1})
    distance_to_target: float  # D̄(I_T, Î_t)
    seconds: float


@dataclass
class PaintResult:
    steps: list[PaintStep] = field(default_factory=list)
    stop_reason: str = ""
    target: np.ndarray | None = None  # I_T at the working canvas size
    start_distance: float = float("nan")  # D̄(I_T, white canvas)
    distance_name: str = ""  # the backend of every D̄ here

    def distance_curve(self) -> list[float]:
        """D̄(I_T, canvas) before the first update and after each."""
        return [self.start_distance, *(s.distance_to_target for s in self.steps)]


def choose_mask(
    probs: np.ndarray, previous: np.ndarray | None, config: PaintConfig, dilate_px: int | None = None
) -> np.ndarray:
    """Threshold the mask probabilities, lowering the threshold until the mask is large and new enough."""
    px = config.dilate_px if dilate_px is None else dilate_px
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1,) * 2) if px else None
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


def _stalled(curve: list[float], patience: int, min_progress: float) -> bool:
    """True when none of the last ``patience`` distances is ``min_progress`` (relative) below the best before."""
    if patience < 1 or len(curve) <= patience:
        return False
    best_before = min(curve[:-patience])
    return min(curve[-patience:]) > best_before * (1.0 - min_progress)


def _distance_map(distance: DistanceBackend, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return distance.maps(a[None], b[None])[0]


def paint(
    target_rgb: np.ndarray,
    renderer: RenderPipeline,
    mask_generator: MaskGenerator,
    text_fn: TextFn,
    distance: DistanceBackend,
    config: PaintConfig = PaintConfig(),
    on_step: Callable[[int, PaintStep], None] | None = None,
) -> PaintResult:
    """Paint ``target_rgb`` (uint8 H×W×3) from a white canvas; returns the updates and why it stopped."""
    if target_rgb.dtype != np.uint8 or target_rgb.ndim != 3 or target_rgb.shape[2] != 3:
        raise ValueError(f"target must be a uint8 RGB image (H, W, 3), got {target_rgb.shape} {target_rgb.dtype}")
    size = fit_long_side((target_rgb.shape[1], target_rgb.shape[0]), config.long_side)
    target = (
        target_rgb if size == target_rgb.shape[1::-1] else cv2.resize(target_rgb, size, interpolation=cv2.INTER_AREA)
    )
    canvas = np.full_like(target, 255)
    # the dilation is set at the renderer's resolution; the canvas may be larger
    dilate = round(config.dilate_px * max(size) / renderer.resolution)
    generator = torch.Generator().manual_seed(config.seed)
    guidance = config.guidance_for(renderer.default_guidance)
    steps = config.num_inference_steps or renderer.default_steps
    stop_distance = distance.stop_distance if config.stop_distance is None else config.stop_distance
    result = PaintResult(target=target, distance_name=distance.name)
    previous_mask: np.ndarray | None = None
    small_changes = 0
    d_map = _distance_map(distance, target, canvas)
    result.start_distance = mean_distance(d_map)
    curve = [result.start_distance]
    for _ in range(config.max_steps):
        started = time.perf_counter()
        if mean_distance(d_map) < stop_distance:
            result.stop_reason = "close to target"
            return result
        text = "" if "text" in config.ablate else text_fn(canvas, target)
        if "mask" in config.ablate:
            mask = np.ones(canvas.shape[:2], bool)  # no region chosen; the renderer gets its dropped mask
        else:
            md = binarize(d_map, distance.threshold)
            probs = mask_generator.predict(target, canvas, md, text, config.dt_s, use_time="time" not in config.ablate)
            mask = choose_mask(probs, previous_mask, config, dilate)
        image = renderer.generate(canvas, target, text, mask, config.dt_s, steps, guidance, generator)
        change = mean_distance(_distance_map(distance, image, canvas))
        d_map = _distance_map(distance, target, image)
        step = PaintStep(image, text, mask, change, mean_distance(d_map), time.perf_counter() - started)
        result.steps.append(step)
        if on_step is not None:
            on_step(len(result.steps), step)
        small_changes = small_changes + 1 if change < config.min_change else 0
        canvas, previous_mask = image, mask
        curve.append(step.distance_to_target)
        if small_changes >= 2:
            result.stop_reason = "no change"
            return result
        if _stalled(curve, config.patience, config.min_progress):
            # the updates after the closest canvas only repainted it: the process ends at that canvas
            del result.steps[max(int(np.argmin(curve)), 1) :]
            result.stop_reason = "no progress"
            return result
    result.stop_reason = "max steps"
    return result
