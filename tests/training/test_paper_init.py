"""The paper preset with ``init="random"``: its architectures built from configs, nothing loaded.

A scaled-down variant (the same code path, config fields overridden to tiny sizes) is built, compared with what
the pretrained path makes from the same parts saved in the Stable Diffusion folder layout, and run; the full-size
configs are checked by their parameter counts on the meta device (no memory).
"""

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from diffusers.models.modeling_utils import ModelMixin
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
    PreTrainedModel,
)

from training.models.loading import (
    preset_codec,
    preset_image_encoder,
    preset_scheduler,
    preset_text_encoder,
    preset_unet,
)
from training.models.mask_generator import MaskGenerator
from training.models.presets import (
    CLIP_L14_TEXT,
    CLIP_L14_VISION,
    PAPER,
    SD15_UNET,
    SD15_VAE,
    get_preset,
)
from training.models.renderer import RenderPipeline

SMALL = {
    "unet": dict(
        block_out_channels=(32, 32, 32, 32),
        layers_per_block=1,
        cross_attention_dim=32,
        norm_num_groups=8,
        sample_size=8,
    ),
    "vae": dict(block_out_channels=(8, 8, 8, 8), layers_per_block=1, norm_num_groups=4, sample_size=64),
    "text_encoder": dict(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, projection_dim=32
    ),
    # g_r reads CLIP(I_T) as its cross-attention token: the projection is the UNet's cross-attention width
    "image_encoder": dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=28,
        projection_dim=32,
    ),
}


def _small(init: str = "random") -> object:
    return replace(get_preset("paper", init=init), resolution=64, architecture=SMALL, time_hidden_dims=(32, 32))


@pytest.fixture
def offline(monkeypatch):
    """Any from_pretrained call (a download, or a read of a local copy) fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"from_pretrained{args[1:2]} called on the random-init path")

    for cls in (ModelMixin, PreTrainedModel, DDPMScheduler):
        monkeypatch.setattr(cls, "from_pretrained", classmethod(refuse))


def _shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _frame(seed: int, size=(48, 40)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def test_full_size_configs_are_the_papers_models():
    """Parameter counts of SD-1.5's UNet and VAE and CLIP ViT-L/14's text and vision towers (meta device)."""
    with torch.device("meta"):
        counts = {
            "unet": UNet2DConditionModel(**SD15_UNET),
            "vae": AutoencoderKL(**SD15_VAE),
            "text": CLIPTextModel(CLIPTextConfig(**CLIP_L14_TEXT)),
            "vision": CLIPVisionModelWithProjection(CLIPVisionConfig(**CLIP_L14_VISION)),
        }
        counts = {k: sum(p.numel() for p in m.parameters()) for k, m in counts.items()}
    assert counts == {"unet": 859_520_964, "vae": 83_653_863, "text": 123_060_480, "vision": 303_966_208}
    # the conditions fit together: g_p's width is g_u's cross-attention width, CLIP's projection g_c's input
    assert CLIP_L14_TEXT["hidden_size"] == SD15_UNET["cross_attention_dim"] == CLIP_L14_VISION["projection_dim"]
    assert PAPER.init == "pretrained" and PAPER.part_config("unet") == SD15_UNET


def test_init_is_checked():
    with pytest.raises(ValueError, match="init 'zeros'"):
        get_preset("paper", init="zeros")
    assert get_preset("paper", init="random").init == "random"


def test_random_init_builds_the_same_architecture_as_the_pretrained_path(offline, tmp_path: Path, monkeypatch):
    preset = _small()
    renderer = RenderPipeline.from_preset(preset)
    masks = MaskGenerator.from_preset(preset)
    assert isinstance(renderer.codec, AutoencoderKL) and isinstance(renderer.core.unet, UNet2DConditionModel)
    assert isinstance(renderer.text_encoder, CLIPTextModel)
    assert isinstance(renderer.image_encoder, CLIPVisionModelWithProjection)
    assert renderer.scheduler.config.prediction_type == "epsilon" and renderer.info["init"] == "random"
    assert renderer.core.unet.config.in_channels == 4 + PAPER.feature_channels  # [z_s, g_f(...)]
    assert renderer.core.unet.config.out_channels == 4 and not renderer.residual
    assert masks.core.unet.config.in_channels == 2 * 4 + 1 and masks.core.unet.config.out_channels == 1

    # the same parts saved as a Stable Diffusion folder, loaded by the pretrained path
    root = tmp_path / "sd"
    preset_codec(preset).save_pretrained(root / "vae")
    preset_unet(preset, "mask").save_pretrained(root / "unet")
    preset_scheduler(preset).save_pretrained(root / "scheduler")
    tokenizer, text_encoder = preset_text_encoder(preset)
    tokenizer.save_pretrained(root / "tokenizer")
    text_encoder.save_pretrained(root / "text_encoder")
    preset_image_encoder(preset).save_pretrained(root / "image_encoder")
    monkeypatch.undo()  # from_pretrained allowed again
    local = replace(
        preset,
        init="pretrained",
        base=str(root),
        renderer_unet=str(root),
        image_encoder=str(root),
        image_encoder_subfolder="image_encoder",
    )
    loaded = RenderPipeline.from_preset(local)
    assert _shapes(loaded.core) == _shapes(renderer.core)
    for part in ("codec", "text_encoder", "image_encoder"):
        assert _shapes(getattr(loaded, part)) == _shapes(getattr(renderer, part)), part
    assert _shapes(MaskGenerator.from_preset(local).core) == _shapes(masks.core)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_random_init_models_run_and_reload(offline, tmp_path: Path, dtype, monkeypatch):
    preset = _small()
    renderer = RenderPipeline.from_preset(preset).to("cpu", dtype)
    masks = MaskGenerator.from_preset(preset).to("cpu", dtype)
    current, target = _frame(0), _frame(1)
    region = np.zeros(current.shape[:2], bool)
    region[8:30, 5:25] = True
    frame = renderer.generate(current, target, "sky", region, 20.0, num_steps=2, generator=torch.Generator())
    assert frame.shape == current.shape and frame.dtype == np.uint8
    probs = masks.predict(target, current, region.astype(np.float32), "sky", 20.0)
    assert probs.shape == current.shape[:2] and np.isfinite(probs).all()
    # a random-init model saves and reloads like a trained one
    monkeypatch.undo()
    again = RenderPipeline.from_pretrained(renderer.save_pretrained(tmp_path / "renderer"))
    assert again.info["init"] == "random" and _shapes(again.core) == _shapes(renderer.core)


def test_gpu_paper_scale_benchmark_smoke_mode_runs_on_the_cpu(tmp_path: Path):
    from benchmarks.gpu_paper_scale import main

    started = time.perf_counter()
    result = main(["--smoke", "--out", str(tmp_path / "result.json")])
    assert time.perf_counter() - started < 60
    assert json.loads((tmp_path / "result.json").read_text()) == result
    assert (result["device"], result["dtype"], result["init"]) == ("cpu", "fp32", "random")
    assert result["canvas_update"]["seconds"] > 0 and result["canvas_update"]["tflop"] > 0
    for phase in ("renderer_training", "mask_generator_training"):
        assert result[phase]["samples_per_s"] > 0 and result[phase]["tflop_per_step"] > 0
        # no GPU: no peak memory or fraction of the GPU's peak is claimed
        assert result[phase]["peak_memory_gib"] is None and result[phase]["fraction_of_peak"] is None
