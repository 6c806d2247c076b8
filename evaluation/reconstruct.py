"""One method's reconstruction of one painting: the generated sequence at the ground truth's size.

Ours runs the painting loop (:func:`training.inference.paint.paint`) with the method's Δt and ablations on
the ground truth's target; baselines and external sequences come from ``evaluation.baselines``. The
trained models are loaded once (:func:`load_models` from folders, :func:`load_registered_models` from the
MLflow registry names ``renderer``, ``mask-generator``, ``text-generator``) and shared by every method.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from evaluation.baselines import run_baseline
from evaluation.budget import RELEASED_MAX_UPDATES, UPDATE_FACTOR, StepBudget
from evaluation.methods import Method
from evaluation.sequences import Sequence, load_generated, sequence_from_frames, white_canvas
from training.data.difference import DistanceBackend
from training.experiment_tracking import REGISTERED_MODELS
from training.inference.paint import PaintConfig, paint


@dataclass
class Models:
    """The trained pipeline, loaded once. ``text_generator`` may be any object with ``generate(current, target)``."""

    renderer: Any
    mask_generator: Any
    text_generator: Any | None = None
    versions: dict[str, str] = field(default_factory=dict)  # what was loaded (folder or registry version)


def load_models(
    renderer: str | Path,
    mask_generator: str | Path,
    text_generator: str | Path | None = None,
    device: str = "auto",
    dtype: str = "auto",
) -> Models:
    """The three models from ``save_pretrained`` folders (a text generator's ``final/`` or full model folder), on
    ``device`` in ``dtype`` (:mod:`training.device`: auto = CUDA in bf16 when present, else the CPU in fp32)."""
    from training.device import resolve
    from training.models.mask_generator import load_mask_generator
    from training.models.renderer import load_renderer

    dev, dt = resolve(device, dtype)
    text = None
    if text_generator is not None:
        from training.text_generator import TextGenerator

        text = TextGenerator.load(text_generator, device=str(dev), dtype=str(dt).removeprefix("torch."))
    versions = {"renderer": str(renderer), "mask_generator": str(mask_generator), "text_generator": str(text_generator)}
    return Models(load_renderer(renderer).to(dev, dt), load_mask_generator(mask_generator).to(dev, dt), text, versions)


def registered_model_dirs(
    tracking_uri: str, versions: dict[str, str | None] | None = None
) -> tuple[dict[str, Path], dict[str, str]]:
    """Local folders of the registered models (newest unless ``versions`` names one) and their versions.

    Returns ({"renderer": folder, ...}, {"renderer_version": "3", ...}); raises LookupError naming the model
    that was never registered.
    """
    from mlflow import MlflowClient

    from training.experiment_tracking import registered_model_path

    versions = versions or {}
    client = MlflowClient(tracking_uri=tracking_uri)
    dirs, chosen = {}, {}
    for key, name in REGISTERED_MODELS.items():
        dirs[key] = registered_model_path(tracking_uri, name, versions.get(key))
        version = versions.get(key)
        if version is None:
            found = client.search_model_versions(f"name = '{name}'", order_by=["version_number DESC"], max_results=1)
            version = found[0].version
        chosen[f"{key}_version"] = str(version)
    return dirs, chosen


def load_registered_models(
    tracking_uri: str, versions: dict[str, str | None] | None = None, device: str = "auto", dtype: str = "auto"
) -> Models:
    """The models registered in MLflow as ``renderer``, ``mask-generator``, ``text-generator``."""
    dirs, chosen = registered_model_dirs(tracking_uri, versions)
    models = load_models(dirs["renderer"], dirs["mask_generator"], dirs["text_generator"], device, dtype)
    models.versions = {**chosen, **{f"{k}_path": str(v) for k, v in dirs.items()}}
    return models


@dataclass(frozen=True)
class ReconstructConfig:
    """Settings of the benchmark's methods.

    ``budget`` (from the training split, :class:`evaluation.budget.StepBudget`) sets every step count: a
    baseline makes ``budget.baseline_steps(Δt)`` keyframes (baselines need one); our loop makes at most
    ``budget.max_updates(Δt, update_factor, max_steps)`` updates (without a budget: ``max_steps``, the
    released code's 50) and stops earlier by its own rules. Neither reads the painting being scored.
    ``paint`` holds the loop's other settings (guidance scales, stop rules, mask rules); Δt, ablations and
    seed come from the method and the call.
    """

    num_inference_steps: int | None = None  # None: the renderer's own (25 for the paper preset, 1 for the tiny)
    max_steps: int = RELEASED_MAX_UPDATES
    budget: StepBudget | None = None
    update_factor: float = UPDATE_FACTOR
    paint: PaintConfig = field(default_factory=PaintConfig)
    # where the models ran (resolved: "cpu" / "cuda", "fp32" / "bf16" / "fp16"), recorded for the params only:
    # the models are placed when loaded (load_models); None when the caller did not say
    device: str | None = None
    dtype: str | None = None

    def __post_init__(self) -> None:
        if (self.num_inference_steps is not None and self.num_inference_steps < 1) or self.max_steps < 1:
            raise ValueError(
                f"num_inference_steps ({self.num_inference_steps}) and max_steps ({self.max_steps}) must be >= 1"
            )
        if not self.update_factor > 0:
            raise ValueError(f"update_factor must be positive, got {self.update_factor}")

    def steps_cap(self, dt_s: float) -> int:
        """Most updates our loop may make at Δt."""
        if self.budget is None:
            return self.max_steps
        return self.budget.max_updates(dt_s, self.update_factor, self.max_steps)

    def baseline_steps(self, dt_s: float) -> int:
        """Keyframes of a baseline at Δt."""
        if self.budget is None:
            raise ValueError(
                "a baseline needs a step budget from the training data: ReconstructConfig(budget="
                "StepBudget.from_manifest(manifest)); the painting it is scored on must not set its step count"
            )
        return self.budget.baseline_steps(dt_s)

    def step_params(self, method: Method) -> dict[str, int]:
        """The method's step count (baselines) or cap (ours), for MLflow params and the reconstruction index."""
        if method.kind == "baseline":
            return {"baseline_steps": self.baseline_steps(method.dt_s)}
        if method.kind == "ours":
            return {"max_updates": self.steps_cap(method.dt_s)}
        return {}

    def params(self) -> dict[str, str | float | int]:
        """MLflow params of the settings and of the budget."""
        out: dict[str, str | float | int] = {
            "num_inference_steps": self.num_inference_steps or "renderer default",
            "max_steps": self.max_steps,
            "update_factor": self.update_factor,
            **{k: v for k, v in (("device", self.device), ("dtype", self.dtype)) if v is not None},
        }
        return {**out, **(self.budget.params() if self.budget is not None else {"budget_source": "none"})}

    def paint_config(self, method: Method, seed: int) -> PaintConfig:
        return replace(
            self.paint,
            num_inference_steps=self.num_inference_steps,
            max_steps=self.steps_cap(method.dt_s),
            dt_s=method.dt_s,
            ablate=frozenset(method.ablate),
            seed=seed,
        )


@dataclass
class Reconstruction:
    """The generated sequence (white Î_0 first, frame k at k·Δt, at the ground truth's size) and, for ours,
    the instruction text and region mask of every update and why the loop stopped."""

    sequence: Sequence
    texts: list[str] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)  # bool, ground-truth size
    stop_reason: str = ""
    seconds: float = 0.0


def _resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0


def reconstruct_ours(
    method: Method,
    gt: Sequence,
    models: Models,
    distance: DistanceBackend,
    seed: int = 0,
    config: ReconstructConfig = ReconstructConfig(),
) -> Reconstruction:
    if models.renderer is None:
        raise ValueError(f"method {method.name}: no renderer loaded; pass Models with a trained renderer")
    if "mask" not in method.ablate and models.mask_generator is None:
        raise ValueError(f"method {method.name}: no mask generator loaded (only {method.name}-MG runs without one)")
    if "text" not in method.ablate and models.text_generator is None:
        raise ValueError(
            f"method {method.name}: no text generator loaded; load one (load_models(..., text_generator=folder)) "
            "or run the -TG ablation"
        )
    text_fn = (lambda current, target: "") if models.text_generator is None else models.text_generator.generate
    started = time.perf_counter()
    result = paint(
        gt.target, models.renderer, models.mask_generator, text_fn, distance, config.paint_config(method, seed)
    )
    frames = [s.image for s in result.steps]
    if not frames:  # already close to the target before any update: the white canvas is kept once
        frames = [white_canvas((models.renderer.resolution,) * 2)]
    sequence = sequence_from_frames(method.name, frames, method.dt_s, gt.size)
    return Reconstruction(
        sequence,
        [s.text for s in result.steps],
        [_resize_mask(s.mask, gt.size) for s in result.steps],
        result.stop_reason,
        time.perf_counter() - started,
    )


def reconstruct(
    method: Method,
    gt: Sequence,
    models: Models | None,
    distance: DistanceBackend,
    seed: int = 0,
    config: ReconstructConfig = ReconstructConfig(),
) -> Reconstruction:
    """``method``'s sequence for the painting ``gt`` (its target is the input), at ``gt``'s size."""
    started = time.perf_counter()
    if method.kind == "ours":
        if models is None:
            raise ValueError(f"method {method.name} needs the trained models; pass load_models(...) as models")
        return reconstruct_ours(method, gt, models, distance, seed, config)
    if method.kind == "baseline":
        steps = config.baseline_steps(method.dt_s)
        seq = replace(run_baseline(method.baseline, gt, dt=method.dt_s, seed=seed, n_steps=steps), name=method.name)
    else:
        seq = load_generated(Path(method.frames_root) / gt.name, method.dt_s, size=gt.size, name=method.name)
    return Reconstruction(seq, seconds=time.perf_counter() - started)
