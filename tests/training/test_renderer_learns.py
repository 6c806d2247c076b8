"""Issue 16's diagnoses of the renderer, kept as tests: the target reaches its output, and training and sampling
feed g_u the same inputs. That it overfits one pair (450 steps) is benchmarks/renderer_overfit.py.

The renderer before issue 16 failed both the overfit and the two-targets diagnoses: it reached I_T only through
ReferenceNet tokens that carried no place on the canvas, so the same canvas, text and mask gave the same frame
whatever the target, and its gated colour head settled on half-open opacity times out-of-range colours (see
``training.models.presets``).
"""

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from training.data.difference import make_backend, mean_distance
from training.data.images import read_gray, read_rgb
from training.models.codec import decode_latents
from training.models.frozen_encoders import images_to_tensor, tensor_to_images
from training.models.presets import tiny_preset
from training.models.renderer import Guidance, load_renderer
from training.models.renderer_model import RendererCore
from training.train.renderer import train_renderer
from training.train.synthetic_manifest import build_synthetic_manifest

UNGUIDED = Guidance(1.0, 1.0, 1.0, 1.0)


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """Two synthetic paintings' pairs and the tiny preset."""
    root = tmp_path_factory.mktemp("learns")
    manifest = build_synthetic_manifest(
        root / "data", paintings=2, seed=11, duration_s=30.0, dt_range_s=(6.0, 9.0), val_paintings=0
    )
    return root, manifest, tiny_preset(root / "base")


def _train(studio, rows: pd.DataFrame, name: str, steps: int, lr: float):
    root, _, preset = studio
    result = train_renderer(rows, preset, root / name, steps=steps, lr=lr, batch_size=len(rows), seed=0)
    return load_renderer(result.model_dir)


def _render(renderer, current, target, row, mask) -> np.ndarray:
    g = torch.Generator().manual_seed(0)
    return renderer.generate(current, target, row.text, mask, row.dt_s, num_steps=1, guidance=UNGUIDED, generator=g)


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return mean_distance(make_backend("colour-structure").maps(a[None], b[None])[0])


def _pair(row, size: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """I_{t-1}, I_t, I_T and M_t of a manifest row, at their size or area-resized to ``size`` × ``size``."""
    images = [read_rgb(Path(p)) for p in (row.prev_path, row.next_path, row.target_path)]
    mask = read_gray(Path(row.mt_mask_path)) > 127
    if size is not None:
        images = [cv2.resize(x, (size, size), interpolation=cv2.INTER_AREA) for x in images]
        mask = cv2.resize(mask.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST) > 0
    return (*images, mask)


def test_the_same_canvas_with_two_targets_paints_towards_each(studio):
    _, manifest, _ = studio
    rows = manifest.groupby("painting").head(1)  # each painting's first pair, from the blank canvas
    # 100 steps at lr 4e-3: each output 0.61-0.68 from its own target vs 0.78-0.85 from the other
    renderer = _train(studio, rows, "two-targets", steps=100, lr=4e-3)
    a, b = rows.iloc[0], rows.iloc[1]
    current, _, target_a, mask = _pair(a)
    target_b = read_rgb(Path(b.target_path))
    if target_b.shape != target_a.shape:  # paintings of different aspect: compare at one size
        target_b = cv2.resize(target_b, target_a.shape[1::-1], interpolation=cv2.INTER_AREA)
    out_a, out_b = _render(renderer, current, target_a, a, mask), _render(renderer, current, target_b, a, mask)
    assert _distance(out_a, target_a) < _distance(out_a, target_b)
    assert _distance(out_b, target_b) < _distance(out_b, target_a)


def test_training_and_sampling_feed_the_unet_the_same_inputs(tmp_path: Path):
    """One manifest row through the training step and through ``generate``: same g_u inputs, same frame."""
    manifest = build_synthetic_manifest(tmp_path / "data", paintings=1, seed=4, duration_s=12.0, val_paintings=0)
    row = manifest.iloc[[1]]
    seen: dict[str, list] = {"train": [], "sample": []}
    original = RendererCore.denoise

    def spy(phase):
        def record(self, noisy, timesteps, prev_images, masks, tokens):
            out = original(self, noisy, timesteps, prev_images, masks, tokens)
            seen[phase].append([t.detach().clone() for t in (noisy, timesteps, prev_images, masks, tokens, out)])
            return out

        return record

    preset = tiny_preset(tmp_path / "base")
    RendererCore.denoise = spy("train")
    try:  # lr 0: the weights stay those that sample below; no condition dropped
        result = train_renderer(row, preset, tmp_path / "r", steps=1, lr=0.0, batch_size=1, drop_p=0.0)
    finally:
        RendererCore.denoise = original
    renderer = load_renderer(result.model_dir)
    current, _, target, mask = _pair(row.iloc[0])
    RendererCore.denoise = spy("sample")
    try:
        frame = renderer.generate(current, target, row.text.iloc[0], mask, row.dt_s.iloc[0], 1, UNGUIDED)
    finally:
        RendererCore.denoise = original
    (trained,), (sampled,) = seen["train"], seen["sample"]
    names = ("noisy latent", "timestep", "I_{t-1}", "M_t", "tokens", "g_u output")
    for name, a, b in zip(names, trained, sampled, strict=True):
        assert a.shape == b.shape and torch.allclose(a.float(), b.float(), atol=1e-5), name
    # the frame is the training prediction, composed at the canvas size
    assert frame.shape == current.shape
    r = renderer.resolution
    small = renderer.generate(
        *(cv2.resize(x, (r, r), interpolation=cv2.INTER_AREA) for x in (current, target)),
        row.text.iloc[0],
        cv2.resize(mask.astype(np.uint8), (r, r)) > 0,
        row.dt_s.iloc[0],
        1,
        UNGUIDED,
    )
    base = renderer.encode(images_to_tensor(cv2.resize(current, (r, r), interpolation=cv2.INTER_AREA), r))
    goal = renderer.encode(images_to_tensor(cv2.resize(target, (r, r), interpolation=cv2.INTER_AREA), r))
    predicted = tensor_to_images(decode_latents(renderer.codec, base + renderer.change(trained[-1], base, goal)))[0]
    assert np.abs(predicted.astype(int) - small.astype(int)).max() <= 1
