"""Tiny preset: random models saved in the SD layout and loaded through the same from_pretrained code."""

from pathlib import Path

import numpy as np
import pytest
import torch

from training.models.mask_generator import MaskGenerator, load_mask_generator
from training.models.presets import PAPER, get_preset, tiny_preset
from training.models.renderer import Guidance, RenderPipeline, load_renderer


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
    # [E(I_T), E(I_{t-1}), M_d], M_d and M̂_t as the pixel codec's 4×4 space-to-depth cells
    assert gen.core.unet.config.in_channels == 2 * 48 + 16
    assert gen.core.unet.config.out_channels == 16 and gen.space_to_depth
    target, current, md = _images()
    probs = gen.predict(target, current, md, "sky", 20.0)
    assert probs.shape == (72, 90) and probs.min() >= 0 and probs.max() <= 1
    assert not np.allclose(probs, gen.predict(target, current, md, "sky", 20.0, use_time=False))  # the -TE input
    assert not np.allclose(probs, gen.predict(target, current, md, "grass", 20.0))  # text reaches the UNet
    assert not np.allclose(probs, gen.predict(target, current, md, "sky", 60.0))  # so does Δt
    gen.save_pretrained(tmp_path / "m")
    back = load_mask_generator(tmp_path / "m")
    assert isinstance(back, MaskGenerator)
    assert np.allclose(back.predict(target, current, md, "sky", 20.0), probs, atol=1e-6)


def _write_legacy_folder(model, folder: Path, modules: tuple[str, ...], meta_file: str) -> None:
    """The layout save_pretrained wrote before the core was one diffusers model: each module in its subfolder."""
    import json

    for name in modules:
        getattr(model.core, name).save_pretrained(folder / name)
    for name in model.PARTS:
        getattr(model, name).save_pretrained(folder / ("vae" if name == "codec" else name))
    (folder / meta_file).write_text(json.dumps({"resolution": model.resolution, "info": model.info}))


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_cores_are_diffusers_models_and_older_folders_still_load(preset, tmp_path: Path):
    from training.models.mask_generator import MaskGeneratorCore
    from training.models.renderer_model import MODULES, RendererCore

    for model, core_class, modules, meta_file, load in (
        (load_renderer(preset), RendererCore, MODULES, "renderer.json", load_renderer),
        (
            load_mask_generator(preset),
            MaskGeneratorCore,
            ("unet", "time_encoder"),
            "mask_generator.json",
            load_mask_generator,
        ),
    ):
        folder = model.save_pretrained(tmp_path / core_class.__name__)
        # the core is one diffusers model: its config rebuilds every module, its weights file holds them all
        core = core_class.from_pretrained(folder / "core")
        assert core.config.unet_config["in_channels"] == model.core.unet.config.in_channels
        assert _same_weights(core, model.core)
        legacy = tmp_path / f"legacy-{core_class.__name__}"
        _write_legacy_folder(model, legacy, modules, meta_file)
        back = load(legacy)
        assert _same_weights(back.core, model.core) and back.info == model.info
        if core_class is RendererCore:  # wired as built: g_u reads what g_r writes, so the frames agree
            target, current, md = _images(2)
            frames = [
                m.generate(current, target, "sky", md, 20.0, num_steps=1, generator=torch.Generator().manual_seed(0))
                for m in (model, back)
            ]
            assert np.array_equal(*frames)


def test_renderer_roundtrip_and_guidance(preset, tmp_path: Path):
    rend = load_renderer(preset)
    assert rend.core.unet.config.in_channels == 48 + preset.feature_channels  # [z_s, g_f(I_{t-1}, M_t)]
    assert rend.core.reference_net.config.in_channels == 48
    target, current, md = _images(1)

    def run(r: RenderPipeline, guidance: Guidance | None = None):
        guidance = guidance or Guidance()
        g = torch.Generator().manual_seed(3)
        return r.generate(current, target, "sky", md, 20.0, num_steps=2, guidance=guidance, generator=g)

    out = run(rend)
    assert out.shape == current.shape and out.dtype == np.uint8  # composed at the canvas size
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
    assert not rend.composite and not rend.one_step  # a diffusion renderer decoding its own latents
    out = rend.generate(current, target, "sky", md, 20.0, num_steps=2, generator=torch.Generator().manual_seed(0))
    assert out.shape == current.shape  # rendered at 64 px, resized to the canvas


def test_tiny_renderer_composes_canvas_target_and_paint_at_the_canvas_size(tmp_path: Path):
    rend = load_renderer(tiny_preset(tmp_path / "tiny"))
    assert rend.residual and rend.alpha and rend.composite and rend.one_step
    lc = rend.core.unet.config.out_channels // 3  # [opacity, finish, paint] per latent channel
    conv = rend.core.unet.conv_out
    target, current, md = _images(2)
    current = np.random.default_rng(5).integers(0, 255, target.shape, dtype=np.uint8)

    def paint_with(opacity: float, finish: float, paint: float) -> np.ndarray:
        with torch.no_grad():  # a g_u that outputs constant fields
            conv.weight.zero_()
            conv.bias[:lc].fill_(opacity)
            conv.bias[lc : 2 * lc].fill_(finish)
            conv.bias[2 * lc :].fill_(paint)
        return rend.generate(current, target, "sky", md, 20.0, num_steps=3, generator=torch.Generator().manual_seed(0))

    closed = paint_with(-30.0, 0.0, 0.7)  # no opacity: the canvas is copied, every pixel of it
    assert np.abs(closed.astype(int) - current.astype(int)).max() <= 1
    finished = paint_with(30.0, 30.0, 0.0)  # opaque, finished paint: the target at its own detail, not 64 px
    assert np.abs(finished.astype(int) - target.astype(int)).max() <= 1
    flat = paint_with(30.0, -30.0, 30.0)  # opaque, unfinished paint of colour tanh(30) = 1: white
    assert flat.min() >= 254
    # untrained, the opacity starts half open (ALPHA_INIT_LOGIT): the sigmoid's gradient is not saturated
    fresh = load_renderer(tiny_preset(tmp_path / "tiny"))
    assert torch.allclose(fresh.core.unet.conv_out.bias[:lc], torch.zeros(lc))
    reloaded = load_renderer(rend.save_pretrained(tmp_path / "saved"))
    assert reloaded.composite and reloaded.one_step  # the parametrisation travels with the weights
    gen = torch.Generator().manual_seed(0)
    assert np.array_equal(reloaded.generate(current, target, "sky", md, 20.0, num_steps=3, generator=gen), flat)
