"""Image <-> latent codecs: the SD VAE (paper) or a lossless pixel codec (tiny preset).

``PixelCodec`` is pixel space behind the VAE's interface: space-to-depth by ``factor`` (64x64x3 ->
32x32x12 for factor 2). It has no weights to learn, so a tiny model trained from scratch on a CPU does not
first have to learn an autoencoder; ``encode_images``/``decode_latents`` treat both codecs alike.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin


class PixelCodec(ModelMixin, ConfigMixin):
    """Space-to-depth 'autoencoder': images in [-1, 1] (B,3,H,W) <-> latents (B, 3·f², H/f, W/f)."""

    @register_to_config
    def __init__(self, factor: int = 2, image_channels: int = 3, scaling_factor: float = 1.0) -> None:
        super().__init__()
        # never used in the maths: gives ModelMixin a device/dtype and save_pretrained a weights file to write
        self.register_buffer("anchor", torch.zeros(1))

    @property
    def latent_channels(self) -> int:
        return self.config.image_channels * self.config.factor**2

    def encode_pixels(self, images: torch.Tensor) -> torch.Tensor:
        return F.pixel_unshuffle(images, self.config.factor)

    def decode_pixels(self, latents: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(latents, self.config.factor)


Codec = AutoencoderKL | PixelCodec


def latent_channels(codec: Codec) -> int:
    return codec.latent_channels if isinstance(codec, PixelCodec) else int(codec.config.latent_channels)


def downsample_factor(codec: Codec) -> int:
    if isinstance(codec, PixelCodec):
        return int(codec.config.factor)
    return 2 ** (len(codec.config.block_out_channels) - 1)


@torch.no_grad()
def encode_images(codec: Codec, images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> scaled latents (the VAE posterior mean, times its scaling factor)."""
    if isinstance(codec, PixelCodec):
        return codec.encode_pixels(images) * codec.config.scaling_factor
    dist = codec.encode(images.to(codec.dtype)).latent_dist
    return dist.mode() * codec.config.scaling_factor


@torch.no_grad()
def decode_latents(codec: Codec, latents: torch.Tensor) -> torch.Tensor:
    """Scaled latents -> images in [-1, 1] (clamped)."""
    latents = latents / codec.config.scaling_factor
    if isinstance(codec, PixelCodec):
        out = codec.decode_pixels(latents)
    else:
        out = codec.decode(latents.to(codec.dtype)).sample
    return out.float().clamp(-1, 1)
