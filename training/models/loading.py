"""Loading pretrained parts by hub id or local folder, and adapting a UNet's input/output layers."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from torch import nn

from .codec import Codec, PixelCodec


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
