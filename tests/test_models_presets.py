"""Tiny preset: random models saved in the SD layout and loaded through the same from_pretrained code."""

from pathlib import Path

import numpy as np
import pytest
import torch

from training.models.mask_generator import MaskGenerator, load_mask_generator
from training.models.presets import PAPER, get_preset, tiny_preset
from training.models.renderer import Guidance, Renderer, load_renderer


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    return tiny_preset(tmp_path_factory.mktemp("tiny") / "base")


def _images(seed: int = 0):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 255, (72, 90, 3), dtype=np.uint8)
    current = np.full_like(target, 255)
    md = rng.random((72, 90)) > 0.5
    return target, current, md


def test_mask_generator_input_output_and_roundtrip(preset, tmp_path: Path):
    gen = load_mask_generator(preset)
    assert gen.core.unet.config.in_channels == 2 * 48 + 1  # [E(I_T), E(I_{t-1}), M_d]
    assert gen.core.unet.config.out_channels == 1
    target, current, md = _images()
    probs = gen.predict(target, current, md, "sky", 20.0)
    assert probs.shape == (72, 90) and probs.min() >= 0 and probs.max() <= 1
    assert not np.allclose(probs, gen.predict(target, current, md, "grass", 20.0))  # text reaches the UNet
    assert not np.allclose(probs, gen.predict(target, current, md, "sky", 60.0))  # so does Δt
    gen.save_pretrained(tmp_path / "m")
    back = load_mask_generator(tmp_path / "m")
    assert isinstance(back, MaskGenerator)
    assert np.allclose(back.predict(target, current, md, "sky", 20.0), probs, atol=1e-6)


def test_renderer_roundtrip_and_guidance(preset, tmp_path: Path):
    rend = load_renderer(preset)
    assert rend.core.unet.config.in_channels == 48 + preset.feature_channels  # [z_s, g_f(I_{t-1}, M_t)]
    assert rend.core.reference_net.config.in_channels == 48
    target, current, md = _images(1)

    def run(r: Renderer, guidance: Guidance | None = None):
        guidance = guidance or Guidance()
        g = torch.Generator().manual_seed(3)
        return r.generate(current, target, "sky", md, 20.0, num_steps=2, guidance=guidance, generator=g)

    out = run(rend)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    rend.save_pretrained(tmp_path / "r")
    back = load_renderer(tmp_path / "r")
    assert np.array_equal(run(back), out)
    unguided = run(back, Guidance(1.0, 1.0, 1.0, 1.0))  # scale 1 everywhere = the plain conditional model
    assert not np.array_equal(unguided, out)


def test_presets_resolve_and_reject_unknown(tmp_path: Path):
    assert get_preset("paper") is PAPER
    assert PAPER.mask_steps == 80_000 and PAPER.renderer_steps == 200_000 and PAPER.resolution == 512
    with pytest.raises(ValueError, match="tiny_root"):
        get_preset("tiny")
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("huge")
    with pytest.raises(FileNotFoundError, match="not a saved renderer"):
        load_renderer(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a saved mask generator"):
        load_mask_generator(str(tmp_path))
    with pytest.raises(ValueError, match="tiny_preset"):
        load_renderer("tiny")


def test_epsilon_parametrisation_trains_on_noise_and_samples(tmp_path: Path):
    from training.models.presets import build_tiny_base
    from training.train.renderer import _regression_target

    build_tiny_base(tmp_path / "eps", prediction_type="epsilon")
    rend = load_renderer(tiny_preset(tmp_path / "eps"))
    assert rend.scheduler.config.prediction_type == "epsilon"  # the paper's Eq. 1
    z0, noise, s = torch.randn(2, 48, 4, 4), torch.randn(2, 48, 4, 4), torch.tensor([10, 900])
    assert torch.equal(_regression_target(rend.scheduler, z0, noise, s), noise)
    sample_sched = rend.scheduler.__class__.from_config(rend.scheduler.config, prediction_type="sample")
    assert torch.equal(_regression_target(sample_sched, z0, noise, s), z0)
    target, current, md = _images(2)
    out = rend.generate(current, target, "sky", md, 20.0, num_steps=2, generator=torch.Generator().manual_seed(0))
    assert out.shape == (64, 64, 3)


def test_tiny_renderer_lays_paint_over_the_canvas_through_an_opacity_gate(tmp_path: Path):
    from training.models.conditioning import images_to_tensor, tensor_to_images

    rend = load_renderer(tiny_preset(tmp_path / "tiny"))
    assert rend.residual and rend.alpha and rend.scheduler.config.prediction_type == "sample"
    lc = rend.core.unet.config.out_channels // 2
    conv = rend.core.unet.conv_out
    target, current, md = _images(2)
    resized = tensor_to_images(images_to_tensor(current, rend.resolution))[0]

    def paint_with(logit: float, colour: float) -> np.ndarray:
        with torch.no_grad():  # a g_u that outputs constant opacity logits and a constant colour
            conv.weight.zero_()
            conv.bias[:lc].fill_(logit)
            conv.bias[lc:].fill_(colour)
        gen = torch.Generator().manual_seed(0)
        return rend.generate(current, target, "sky", md, 20.0, num_steps=3, generator=gen)

    closed = paint_with(-30.0, 0.7)  # gate shut: the canvas is copied whatever the colour
    assert np.abs(closed.astype(int) - resized.astype(int)).max() <= 1
    opened = paint_with(30.0, 1.0)  # gate open: the colour (latent 1.0 = white) covers everything
    assert opened.min() >= 254
    # untrained, the gate starts almost shut (ALPHA_INIT_LOGIT), so training starts near copying
    fresh = load_renderer(tiny_preset(tmp_path / "tiny"))
    assert torch.all(fresh.core.unet.conv_out.bias[:lc] < -3)
    saved = rend.save_pretrained(tmp_path / "saved")
    reloaded = load_renderer(saved)
    assert reloaded.residual and reloaded.alpha  # the parametrisation travels with the weights
    assert np.array_equal(
        reloaded.generate(current, target, "sky", md, 20.0, num_steps=3, generator=torch.Generator().manual_seed(0)),
        opened,
    )
