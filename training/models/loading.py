"""Loading pretrained parts by hub id or local folder (or building them with random weights from a preset's
architecture), and adapting a UNet's input/output layers."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from torch import nn
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, CLIPVisionConfig, CLIPVisionModelWithProjection

from .codec import Codec, PixelCodec
from .presets import Preset


def load_codec(source: str | Path, subfolder: str | None = "vae") -> Codec:
    """The VAE of a Stable Diffusion folder/hub id, or the tiny preset's pixel codec (from its config)."""
    config = AutoencoderKL.load_config(str(source), subfolder=subfolder)
    cls = PixelCodec if config.get("_class_name") == "PixelCodec" else AutoencoderKL
    return cls.from_pretrained(str(source), subfolder=subfolder)


def set_conv_in(unet: UNet2DConditionModel, in_channels: int) -> UNet2DConditionModel:
    """Widen the first conv to ``in_channels``: pretrained weights kept for the first channels, new ones zero
    (so the pretrained UNet's behaviour is unchanged at initialisation)."""
    old = unet.conv_in
    if old.in_channels == in_channels:
        return unet
    new = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding)
    with torch.no_grad():
        new.weight.zero_()
        keep = min(in_channels, old.in_channels)
        new.weight[:, :keep] = old.weight[:, :keep]
        new.bias.copy_(old.bias)
    unet.conv_in = new.to(old.weight.device, old.weight.dtype)
    unet.register_to_config(in_channels=in_channels)
    return unet


def set_conv_out(unet: UNet2DConditionModel, out_channels: int) -> UNet2DConditionModel:
    """Replace the last conv with a freshly initialised one producing ``out_channels``."""
    old = unet.conv_out
    if old.out_channels == out_channels:
        return unet
    new = nn.Conv2d(old.in_channels, out_channels, old.kernel_size, old.stride, old.padding)
    unet.conv_out = new.to(old.weight.device, old.weight.dtype)
    unet.register_to_config(out_channels=out_channels)
    return unet


def freeze(*modules: nn.Module) -> None:
    for m in modules:
        m.requires_grad_(False)
        m.eval()


# ------------------------------------------------------------------------------------------ a preset's parts
# Each part of a preset, pretrained (from_pretrained on the preset's hub id / folder) or, with init "random",
# built from the preset's architecture config with random weights: the same classes, nothing loaded.


def preset_codec(preset: Preset) -> Codec:
    if preset.init == "random":
        return AutoencoderKL(**preset.part_config("vae"))
    return load_codec(preset.base, "vae")


def preset_unet(preset: Preset, role: str) -> UNet2DConditionModel:
    """The UNet that initialises g_mask (``role`` "mask": the base's) or g_u / g_r ("renderer")."""
    if preset.init == "random":
        return UNet2DConditionModel(**preset.part_config("unet"))
    if role == "renderer":
        return UNet2DConditionModel.from_pretrained(preset.renderer_unet, subfolder=preset.renderer_unet_subfolder)
    return UNet2DConditionModel.from_pretrained(preset.base, subfolder="unet")


def preset_scheduler(preset: Preset) -> DDPMScheduler:
    if preset.init == "random":
        return DDPMScheduler(**preset.part_config("scheduler"))
    return DDPMScheduler.from_pretrained(preset.base, subfolder="scheduler")


def preset_text_encoder(preset: Preset) -> tuple[CLIPTokenizer, CLIPTextModel]:
    """g_p and its tokenizer. Random init has no CLIP BPE files to read: its tokenizer knows the bytes and the
    tiny preset's words (ids well inside ViT-L/14's 49 408), enough to run the architecture, not to read prompts."""
    if preset.init != "random":
        tokenizer = CLIPTokenizer.from_pretrained(preset.base, subfolder="tokenizer")
        return tokenizer, CLIPTextModel.from_pretrained(preset.base, subfolder="text_encoder")
    from .presets import build_tiny_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = build_tiny_tokenizer(Path(tmp))
    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id}
    config = CLIPTextConfig(**{**preset.part_config("text_encoder"), **ids, "pad_token_id": tokenizer.pad_token_id})
    return tokenizer, CLIPTextModel(config)


def preset_image_encoder(preset: Preset) -> CLIPVisionModelWithProjection:
    if preset.init == "random":
        return CLIPVisionModelWithProjection(CLIPVisionConfig(**preset.part_config("image_encoder")))
    return CLIPVisionModelWithProjection.from_pretrained(preset.image_encoder, subfolder=preset.image_encoder_subfolder)


def module_config(module) -> dict:
    """A diffusers module's config as plain values, its private keys (``_class_name``, ...) left out: what a
    core's config records of each module it holds, to rebuild it with ``from_config``."""
    return {k: v for k, v in dict(module.config).items() if not k.startswith("_")}
