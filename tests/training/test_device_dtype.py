"""--device / --dtype: resolution rules, bf16 inference of the tiny models on the CPU, and where they are recorded."""

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from training.device import mixed_precision, resolve, resolve_device, resolve_dtype, runtime_params
from training.models.mask_generator import MaskGenerator
from training.models.presets import tiny_preset
from training.models.renderer import RenderPipeline

NO_CUDA = not torch.cuda.is_available()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("device")
    preset = tiny_preset(root / "base")
    torch.manual_seed(0)
    renderer = RenderPipeline.from_preset(preset).save_pretrained(root / "renderer")
    masks = MaskGenerator.from_preset(preset).save_pretrained(root / "masks")
    return renderer, masks


def _inputs(size=(40, 56)):
    rng = np.random.default_rng(0)
    current = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    target = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    region = np.zeros(size, bool)
    region[5:25, 10:40] = True
    return current, target, region


@pytest.mark.skipif(not NO_CUDA, reason="the auto rules without CUDA")
def test_auto_is_the_cpu_in_fp32_without_cuda_and_cuda_is_refused():
    assert resolve() == (torch.device("cpu"), torch.float32)
    assert resolve("cpu", "bf16") == (torch.device("cpu"), torch.bfloat16)
    assert resolve_dtype("fp16", torch.device("cpu")) == torch.float16
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")


def test_auto_dtype_on_cuda_is_bf16_where_supported(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_dtype(None, torch.device("cuda")) == torch.float16


def test_names_params_and_mixed_precision():
    assert runtime_params(torch.device("cpu"), torch.bfloat16) == {"device": "cpu", "dtype": "bf16"}
    assert [mixed_precision(d) for d in (torch.float32, torch.bfloat16, torch.float16)] == ["no", "bf16", "fp16"]
    with pytest.raises(ValueError, match="dtype 'int8'"):
        resolve_dtype("int8", torch.device("cpu"))


def test_tiny_models_run_in_bf16_on_the_cpu(tiny):
    renderer = RenderPipeline.from_pretrained(tiny[0]).to("cpu", torch.bfloat16)
    masks = MaskGenerator.from_pretrained(tiny[1]).to("cpu", torch.bfloat16)
    assert renderer.dtype == torch.bfloat16 and masks.dtype == torch.bfloat16
    assert renderer.text_encoder.dtype == torch.bfloat16 and renderer.image_encoder.dtype == torch.bfloat16
    current, target, region = _inputs()
    frame = renderer.generate(current, target, "sky", region, 10.0, num_steps=1)
    assert frame.shape == current.shape and frame.dtype == np.uint8
    reference = RenderPipeline.from_pretrained(tiny[0]).generate(current, target, "sky", region, 10.0, num_steps=1)
    # the same model in bf16: close to its fp32 frame (8 bits of mantissa), not another picture
    assert np.abs(frame.astype(int) - reference.astype(int)).mean() < 8
    probs = masks.predict(target, current, region.astype(np.float32), "sky", 10.0)
    assert probs.shape == region.shape and np.isfinite(probs).all()


def test_load_models_places_them(tiny):
    from evaluation.reconstruct import load_models

    models = load_models(tiny[0], tiny[1], device="cpu", dtype="bf16")
    assert models.renderer.dtype == torch.bfloat16 and models.mask_generator.dtype == torch.bfloat16
    assert models.renderer.device.type == "cpu"
    default = load_models(tiny[0], tiny[1])
    assert default.renderer.dtype == torch.float32  # auto on a CPU machine: what it always did
    assert default.renderer.device.type == ("cpu" if NO_CUDA else "cuda")


def test_reconstruct_params_record_device_and_dtype():
    from evaluation.reconstruct import ReconstructConfig

    assert {"device", "dtype"}.isdisjoint(ReconstructConfig().params())
    params = ReconstructConfig(device="cuda", dtype="bf16").params()
    assert (params["device"], params["dtype"]) == ("cuda", "bf16")


@pytest.mark.skipif(not NO_CUDA, reason="--device cuda is valid here")
def test_paint_refuses_cuda_without_it_before_loading_a_model(tmp_path: Path, capsys):
    from pipelines.cli import main

    image = tmp_path / "p.png"
    cv2.imwrite(str(image), np.full((32, 48, 3), 200, np.uint8))
    code = main(["paint", str(image), "--out", str(tmp_path / "out"), "--device", "cuda", "--renderer", "/nowhere"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--device cuda" in err[0] and "CUDA is not available" in err[0]
    with pytest.raises(SystemExit) as usage:  # argparse's usage error, naming the option
        main(["paint", str(image), "--out", str(tmp_path / "out"), "--dtype", "int8"])
    assert usage.value.code == 2 and "--dtype: invalid choice" in capsys.readouterr().err


def test_train_config_fields_resolve_and_keep_old_run_folders():
    from assets.training import TrainConfig, _config_hash, _placement

    config = TrainConfig()
    device, precision, params = _placement(config)
    assert params == {"device": "cpu", "dtype": "fp32"} if NO_CUDA else params["device"] == "cuda"
    assert (device, precision) == ("cpu", "no") or not NO_CUDA
    # a config with the new fields at their defaults hashes as before they existed: earlier runs resume
    old = {"preset": "tiny", "steps": 3, "lr": None, "batch_size": None, "seed": 0, "time_budget_s": None}
    before = hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()[:8]
    assert _config_hash(TrainConfig(steps=3)) == before
    assert _config_hash(TrainConfig(steps=3, keep_checkpoints=5)) == before  # retention is not the run
    assert _config_hash(TrainConfig(steps=3, dtype="bf16")) != before
    assert _config_hash(TrainConfig(steps=3, init="random")) != before
