"""Synthetic manifest, dataset, training with checkpoints: resume continues exactly; loss goes down."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from training.models.presets import tiny_preset
from training.train.checkpoints import latest_checkpoint
from training.train.mask_generator import train_mask_generator
from training.train.pair_dataset import MANIFEST_COLUMNS, PairDataset
from training.train.renderer import train_renderer
from training.train.synthetic_manifest import build_synthetic_manifest


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    manifest = build_synthetic_manifest(root / "data", paintings=2, seed=1, duration_s=20.0, val_paintings=1)
    return manifest, tiny_preset(root / "base")


def test_synthetic_manifest_and_dataset(setup):
    manifest, _ = setup
    assert set(MANIFEST_COLUMNS) <= set(manifest.columns)
    assert set(manifest["split"]) == {"train", "val"}
    assert manifest.groupby("painting")["split"].nunique().max() == 1  # split by painting
    assert (manifest["dt_s"] > 0).all() and manifest["text"].str.len().min() > 0
    data = PairDataset(manifest, 64, split="train")
    item = data[0]
    assert item["prev"].shape == (3, 64, 64) and item["mt"].shape == (1, 64, 64)
    assert float(item["prev"].min()) >= -1 and float(item["prev"].max()) <= 1
    b = data.batch([0, 1])
    assert b["next"].shape == (2, 3, 64, 64) and len(b["text"]) == 2
    with pytest.raises(ValueError, match="lacks columns"):
        PairDataset(manifest.drop(columns=["md_mask_path"]), 64)
    with pytest.raises(ValueError, match="no rows"):
        PairDataset(manifest, 64, split="test")


class _Stop(Exception):
    pass


def _weights(model_dir: Path, module: str) -> dict:
    """One module's weights in a saved model's core (one diffusers model: ``<module>.<name>`` keys)."""
    core = load_file(model_dir / "core" / "diffusion_pytorch_model.safetensors")
    return {k.removeprefix(f"{module}."): v for k, v in core.items() if k.startswith(f"{module}.")}


def test_killed_run_resumes_from_its_checkpoint_and_matches(setup, tmp_path: Path):
    manifest, preset = setup
    # with the optimizer state in the checkpoints: an exact resume
    kw = dict(steps=4, lr=1e-3, batch_size=2, seed=5, checkpoint_every=2, log_every=1, save_optimizer_state=True)
    full = train_mask_generator(manifest, preset, tmp_path / "full", **kw)

    def die(step, metrics):
        if step == 2:
            raise _Stop

    with pytest.raises(_Stop):
        train_mask_generator(manifest, preset, tmp_path / "cut", log=die, **kw)
    assert latest_checkpoint(tmp_path / "cut" / "checkpoints").name == "step-2"
    assert not (tmp_path / "cut" / "model").exists()
    resumed = train_mask_generator(manifest, preset, tmp_path / "cut", log=lambda s, m: None, **kw)
    assert resumed.resumed_from == 2 and resumed.steps == 4 and resumed.resumed_optimizer_state
    assert np.allclose(resumed.losses, full.losses)
    a, b = _weights(full.model_dir, "unet"), _weights(resumed.model_dir, "unet")
    assert a and a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # a finished run restarted does no more steps
    again = train_mask_generator(manifest, preset, tmp_path / "cut", **kw)
    assert again.resumed_from == 4


def test_mask_generator_loss_decreases(setup, tmp_path: Path):
    manifest, preset = setup
    res = train_mask_generator(manifest, preset, tmp_path / "m", steps=30, lr=2e-3, batch_size=4, seed=0)
    assert np.mean(res.losses[-5:]) < 0.7 * np.mean(res.losses[:3])


def test_renderer_trains_and_saves_a_loadable_model(setup, tmp_path: Path):
    manifest, preset = setup
    logged = []
    res = train_renderer(
        manifest, preset, tmp_path / "r", steps=3, lr=1e-3, batch_size=2, seed=0, log=lambda s, m: logged.append(s)
    )
    assert res.steps == 3 and len(res.losses) == 3 and all(np.isfinite(res.losses))
    assert logged == [3]  # every 10 steps and at the end
    for sub in ("core", "vae", "tokenizer", "text_encoder", "image_encoder", "scheduler"):
        assert (res.model_dir / sub).is_dir(), sub
    trained = _weights(res.model_dir, "reference_net")
    assert trained and _weights(res.model_dir, "clip_generator")
    initial = load_file(Path(preset.base) / "unet" / "diffusion_pytorch_model.safetensors")
    # g_r is trained jointly (gradients reach it through reference attention)
    assert any(not torch.equal(trained[k], initial[k]) for k in trained if k in initial and "attn1" in k)


def test_training_rejects_a_manifest_without_train_rows(setup, tmp_path: Path):
    manifest, preset = setup
    with pytest.raises(ValueError, match="no rows"):
        train_renderer(
            pd.DataFrame(manifest[manifest.split == "val"]), preset, tmp_path / "x", steps=1, lr=1e-3, batch_size=1
        )
