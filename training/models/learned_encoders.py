"""The small learned modules of the paper: time encoder g_t, next-CLIP generator g_c, feature encoder g_f.

All three are diffusers ``ModelMixin``/``ConfigMixin`` so they save and load with ``save_pretrained`` /
``from_pretrained`` like the UNets around them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


def positional_encoding(x: torch.Tensor, num_frequencies: int = 10) -> torch.Tensor:
    """NeRF positional encoding γ(p) = (p, sin(2^k π p), cos(2^k π p)) for k < L: (B,) -> (B, 1 + 2L)."""
    x = x.reshape(-1, 1).float()
    freqs = (2.0 ** torch.arange(num_frequencies, device=x.device, dtype=x.dtype)) * math.pi
    angles = x * freqs
    return torch.cat([x, torch.sin(angles), torch.cos(angles)], dim=-1)


class TimeEncoder(ModelMixin, ConfigMixin):
    """g_t (App. A.2): positional encoding of Δt to 21 dims, then 21→256→512→out_dim, ReLU except after the last.

    Δt (seconds) is divided by ``dt_scale_s`` before encoding; the paper does not say how Δt is normalised,
    and NeRF's encoding expects inputs of order 1 (Δt = 20 s, scale 100 s -> p = 0.2).
    """

    @register_to_config
    def __init__(
        self,
        out_dim: int = 768,
        hidden_dims: tuple[int, int] = (256, 512),
        num_frequencies: int = 10,
        dt_scale_s: float = 100.0,
    ) -> None:
        super().__init__()
        in_dim = 1 + 2 * num_frequencies
        dims = [in_dim, *hidden_dims, out_dim]
        layers: list[nn.Module] = []
        for i in range(len(dims) - 1):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < len(dims) - 2:
                layers.append(nn.ReLU())
        self.mlp = nn.Sequential(*layers)

    def forward(self, dt_s: torch.Tensor) -> torch.Tensor:
        """(B,) seconds -> (B, out_dim)."""
        p = dt_s.to(self.mlp[0].weight.device).float() / self.config.dt_scale_s
        return self.mlp(positional_encoding(p, self.config.num_frequencies).to(self.mlp[0].weight.dtype))


class NextClipGenerator(ModelMixin, ConfigMixin):
    """g_c (App. A.3): [CLIP(I_{t-1}), CLIP(I_T)] -> predicted CLIP(I_t); 2d→d→d/2→out MLP (1536→768→384→768)."""

    @register_to_config
    def __init__(self, clip_dim: int = 768, out_dim: int = 768) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(2 * clip_dim, clip_dim),
            nn.ReLU(),
            nn.Linear(clip_dim, clip_dim // 2),
            nn.ReLU(),
            nn.Linear(clip_dim // 2, out_dim),
        )

    def forward(self, clip_current: torch.Tensor, clip_target: torch.Tensor) -> torch.Tensor:
        """(B, clip_dim) twice -> (B, out_dim)."""
        x = torch.cat([clip_current, clip_target], dim=-1).to(self.mlp[0].weight.dtype)
        return self.mlp(x)


class FeatureEncoder(ModelMixin, ConfigMixin):
    """g_f (Sec. 3.1, 3.3, App. A.3): a shallow 9-conv CNN on [I_{t-1}, M_t] down to the latent resolution.

    Layout (ControlNet's condition embedding plus one layer): conv_in, three (conv, conv) stages whose second
    conv has stride 2 for the first ``num_downsamples`` stages (3 -> ×8 for the SD VAE), then conv, conv_out.
    With ``space_to_depth`` > 1 the input is first rearranged to the latent resolution (pixel unshuffle, lossless,
    as the tiny preset's pixel codec does to images) and every conv keeps that resolution: a strided CNN trained
    from scratch blurs the mask edge and the canvas it has to hand on, a rearrangement keeps every pixel.
    """

    @register_to_config
    def __init__(
        self,
        in_channels: int = 4,
        out_channels: int = 16,
        block_channels: tuple[int, int, int] = (32, 96, 256),
        num_downsamples: int = 3,
        space_to_depth: int = 1,
    ) -> None:
        super().__init__()
        if not 0 <= num_downsamples <= 3:
            raise ValueError(f"num_downsamples must be 0..3 (×1..×8), got {num_downsamples}")
        if space_to_depth > 1 and num_downsamples:
            raise ValueError("space_to_depth already brings the input to the latent resolution: num_downsamples 0")
        convs = [nn.Conv2d(in_channels * space_to_depth**2, block_channels[0], 3, padding=1)]
        ch = block_channels[0]
        for i, nxt in enumerate(block_channels):
            convs.append(nn.Conv2d(ch, ch, 3, padding=1))
            convs.append(nn.Conv2d(ch, nxt, 3, padding=1, stride=2 if i < num_downsamples else 1))
            ch = nxt
        convs.append(nn.Conv2d(ch, ch, 3, padding=1))
        convs.append(nn.Conv2d(ch, out_channels, 3, padding=1))
        self.convs = nn.ModuleList(convs)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.convs[0].weight.dtype)
        if self.config.space_to_depth > 1:
            x = F.pixel_unshuffle(x, self.config.space_to_depth)
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i < len(self.convs) - 1:
                x = self.act(x)
        return x
