"""Checkpoints of the diffusers training loop: weights only by default, optimizer state on request, retention."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from training.train.checkpoints import OPTIMIZER_FILE, latest_checkpoint
from training.train.loop import run_training

DATA = torch.linspace(-1, 1, 16)[:, None]


class _Stop(Exception):
    pass


def _loss(model: nn.Module, idx: np.ndarray, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    x = DATA[torch.as_tensor(idx)].to(device)
    return ((model(x) - 3 * x) ** 2).mean()


def _save(core: nn.Module, folder: Path) -> None:
    torch.save(core.state_dict(), folder / "core.pt")


def _train(out: Path, log=None, lr_scale: float = 1.0, **kw):
    torch.manual_seed(0)
    core = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))
    kw = {"steps": 6, "checkpoint_every": 2, "log_every": 1, "device": "cpu", **kw}
    lr = 1e-2 * lr_scale
    return run_training(core, _loss, len(DATA), out, lr=lr, batch_size=4, seed=3, save_model=_save, log=log, **kw)


def _die_at(step: int):
    def log(done: int, metrics: dict) -> None:
        if done == step:
            raise _Stop

    return log


def test_a_checkpoint_holds_the_weights_only_by_default_and_the_newest_are_kept(tmp_path: Path):
    result = _train(tmp_path / "run", keep_checkpoints=1)
    folders = sorted(p.name for p in result.checkpoint_dir.iterdir())
    assert folders == ["step-6"]  # keep_checkpoints=1: older ones deleted
    last = result.checkpoint_dir / "step-6"
    assert sorted(p.name for p in last.iterdir()) == ["model.safetensors", "state.json"]
    assert not (last / OPTIMIZER_FILE).exists()
    weights = load_file(last / "model.safetensors")
    assert set(weights) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    state = json.loads((last / "state.json").read_text())
    assert state["step"] == 6 and state["optimizer_state"] is False and len(state["losses"]) == 6


def test_save_optimizer_state_writes_it_and_keeps_two_by_default(tmp_path: Path):
    result = _train(tmp_path / "run", save_optimizer_state=True)
    assert sorted(p.name for p in result.checkpoint_dir.iterdir()) == ["step-4", "step-6"]
    last = result.checkpoint_dir / "step-6"
    assert (last / OPTIMIZER_FILE).is_file()
    assert set(torch.load(last / OPTIMIZER_FILE)["state"]) == {0, 1, 2, 3}  # AdamW moments of each tensor
    assert json.loads((last / "state.json").read_text())["optimizer_state"] is True


def test_resume_from_weights_only_continues_from_the_step_with_a_fresh_optimizer(tmp_path: Path):
    full = _train(tmp_path / "full")
    with pytest.raises(_Stop):
        _train(tmp_path / "cut", log=_die_at(4))
    assert latest_checkpoint(tmp_path / "cut" / "checkpoints").name == "step-4"
    # the weights come back: a run that ends at the checkpoint's step saves exactly them, not a fresh init
    stopped = _train(tmp_path / "cut", steps=4)
    saved = load_file(tmp_path / "cut" / "checkpoints" / "step-4" / "model.safetensors")
    model = torch.load(stopped.model_dir / "core.pt")
    init = torch.load(_train(tmp_path / "init", steps=1, lr_scale=0.0).model_dir / "core.pt")
    assert all(torch.equal(model[k], saved[k]) for k in saved)
    assert not torch.equal(model["0.weight"], init["0.weight"])
    resumed = _train(tmp_path / "cut")
    assert resumed.resumed_from == 4 and resumed.steps == 6
    assert resumed.resumed_optimizer_state is False
    assert np.allclose(resumed.losses[:4], full.losses[:4])  # the checkpoint's
    # a fresh AdamW's first step differs from the uninterrupted run's: close to it, not exact
    assert not np.allclose(resumed.losses[5], full.losses[5])


def test_resume_with_the_optimizer_state_is_exact(tmp_path: Path):
    full = _train(tmp_path / "full", save_optimizer_state=True)
    with pytest.raises(_Stop):
        _train(tmp_path / "cut", log=_die_at(4), save_optimizer_state=True)
    resumed = _train(tmp_path / "cut", save_optimizer_state=True)
    assert resumed.resumed_from == 4 and resumed.resumed_optimizer_state is True
    assert resumed.losses == full.losses
    a = torch.load(full.model_dir / "core.pt")
    b = torch.load(resumed.model_dir / "core.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_keep_checkpoints_must_be_positive(tmp_path: Path):
    with pytest.raises(ValueError, match="keep_checkpoints"):
        _train(tmp_path / "run", keep_checkpoints=0)


def test_text_generator_checkpoints_hold_weights_only_by_default_and_resume_from_them(tmp_path: Path):
    from tests.training.test_text_generator import TEST_TINY, _dataset
    from training.text_generator import train_text_generator

    data = _dataset(tmp_path / "data", ["sky", "grass", "sky", "grass"])
    kwargs: dict = {"epochs": 2, "lr": 1e-3, "batch_size": 2, "save_every": 1, "keep_checkpoints": 1}

    def crash_at_3(step: int, metrics: dict) -> None:
        if step == 3:
            raise _Stop

    with pytest.raises(_Stop):
        train_text_generator(data, TEST_TINY, tmp_path / "run", log=crash_at_3, **kwargs)
    checkpoints = sorted((tmp_path / "run" / "checkpoints").iterdir())
    assert [p.name for p in checkpoints] == ["step-2"]  # keep_checkpoints=1
    assert not (checkpoints[0] / "optimizer.pt").exists() and (checkpoints[0] / "weights").is_dir()
    resumed = train_text_generator(data, TEST_TINY, tmp_path / "run", **kwargs)
    assert resumed.resumed_from == 2 and resumed.steps == 4 and not resumed.resumed_optimizer_state
    # the shared checkpoint state: the losses of the steps before the resume are kept, one per step
    assert len(resumed.losses) == 4 and resumed.summary()["resumed_optimizer_state"] is False
