"""Mask instruction generator g_mask (Sec. 3.2.2, Eq. 3, App. A.2).

A UNet2DConditionModel with a 9-channel spatial input [E(I_T), E(I_{t-1}), M_d] (latent channels ×2 + 1),
no noise (timestep fixed at 0), one output channel read through a sigmoid, conditioned by cross-attention
on 78 tokens [g_p(p_t) (77), g_t(Δt) (1)]. g_p and E are frozen; g_mask and g_t train with BCE on the
downsampled M_t.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import init_empty_weights
from diffusers import UNet2DConditionModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from transformers import CLIPTextModel, CLIPTokenizer

from .codec import Codec, downsample_factor, encode_images, latent_channels
from .frozen_encoders import images_to_tensor, masks_to_tensor
from .learned_encoders import TimeEncoder
from .loading import module_config, preset_codec, preset_text_encoder, preset_unet, set_conv_in, set_conv_out
from .model_pipeline import ModelPipeline
from .presets import Preset, resolve_source

CONFIG_NAME = "mask_generator.json"


class MaskGeneratorCore(ModelMixin, ConfigMixin):
    """The trained part: g_mask and its time encoder g_t, one diffusers model (``save_pretrained`` /
    ``from_pretrained``). Its config holds each module's config; :meth:`from_modules` wraps built modules."""

    @register_to_config
    def __init__(self, unet_config: dict, time_encoder_config: dict) -> None:
        super().__init__()
        self.unet = UNet2DConditionModel.from_config(unet_config)
        self.time_encoder = TimeEncoder.from_config(time_encoder_config)

    @classmethod
    def from_modules(cls, unet: UNet2DConditionModel, time_encoder: TimeEncoder) -> MaskGeneratorCore:
        """The core around built modules, their weights (pretrained or random) kept as they are."""
        with init_empty_weights():  # the modules built from the configs are replaced: no memory, no random init
            core = cls(unet_config=module_config(unet), time_encoder_config=module_config(time_encoder))
        core.unet, core.time_encoder = unet, time_encoder
        return core

    @classmethod
    def from_legacy_folder(cls, path: Path, info: dict) -> MaskGeneratorCore:
        """A mask generator saved before the core was one model: ``unet/`` and ``time_encoder/`` side by side."""
        return cls.from_modules(
            UNet2DConditionModel.from_pretrained(path, subfolder="unet"),
            TimeEncoder.from_pretrained(path, subfolder="time_encoder"),
        )

    def forward(
        self, spatial: torch.Tensor, text_emb: torch.Tensor, dt_s: torch.Tensor, keep_time: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits (B, 1, h, w) at latent resolution; ``keep_time`` (B,) 0/1 zeroes the Δt token where 0."""
        time_token = self.time_encoder(dt_s)[:, None, :].to(text_emb.dtype)
        if keep_time is not None:
            time_token = time_token * keep_time.view(-1, 1, 1).to(time_token.dtype)
        dtype = self.unet.dtype  # float32 in training (autocast casts), the inference dtype otherwise
        cond = torch.cat([text_emb, time_token], dim=1).to(dtype)
        timestep = torch.zeros(spatial.shape[0], dtype=torch.long, device=spatial.device)
        return self.unet(spatial.to(dtype), timestep, encoder_hidden_states=cond).sample


class MaskGenerator(ModelPipeline):
    """g_mask with its frozen encoders; build with :meth:`from_preset`, reload with :meth:`from_pretrained`."""

    CORE = MaskGeneratorCore
    PARTS = ("codec", "tokenizer", "text_encoder")
    META_FILE = CONFIG_NAME
    WHAT = "mask generator"

    def __init__(
        self,
        core: MaskGeneratorCore,
        codec: Codec,
        tokenizer: CLIPTokenizer,
        text_encoder: CLIPTextModel,
        resolution: int,
        info: dict | None = None,
    ) -> None:
        parts = {"codec": codec, "tokenizer": tokenizer, "text_encoder": text_encoder}
        super().__init__(core, resolution, info, parts)

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_preset(cls, preset: Preset) -> MaskGenerator:
        """Initialise from the preset's SD UNet (input widened to 2·latent+1, output 1 channel): pretrained, or
        (``preset.init`` "random") its architecture with random weights."""
        codec = preset_codec(preset)
        unet = preset_unet(preset, "mask")
        cells = downsample_factor(codec) ** 2 if preset.mask_space_to_depth else 1
        set_conv_in(unet, 2 * latent_channels(codec) + cells)
        set_conv_out(unet, cells)
        cross = int(unet.config.cross_attention_dim)
        time_encoder = TimeEncoder(out_dim=cross, hidden_dims=preset.time_hidden_dims)
        tokenizer, text_encoder = preset_text_encoder(preset)
        info = {
            "preset": preset.name,
            "init": preset.init,
            "base": preset.base,
            "space_to_depth": bool(preset.mask_space_to_depth),
        }
        core = MaskGeneratorCore.from_modules(unet, time_encoder)
        return cls(core, codec, tokenizer, text_encoder, preset.resolution, info)

    @property
    def factor(self) -> int:
        return downsample_factor(self.codec)

    @property
    def space_to_depth(self) -> bool:
        """True when masks travel as the codec's space-to-depth cells (``Preset.mask_space_to_depth``): M_d in
        and M̂_t out at the model's full resolution, not one value per latent cell."""
        return bool(self.info.get("space_to_depth", False))

    def logits_at_resolution(self, logits: torch.Tensor) -> torch.Tensor:
        """g_mask's output as (B, 1, R, R) logits at the model's resolution."""
        if self.space_to_depth:
            return F.pixel_shuffle(logits, self.factor)
        return F.interpolate(logits, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False)

    # ---------------------------------------------------------------- inputs
    def spatial_input(self, target: torch.Tensor, current: torch.Tensor, md: torch.Tensor) -> torch.Tensor:
        """[E(I_T), E(I_{t-1}), M_d↓]: images (B,3,R,R) in [-1,1], M_d (B,1,R,R) in [0,1]."""
        dev = self.device
        zt = encode_images(self.codec, target.to(dev)).float()
        zc = encode_images(self.codec, current.to(dev)).float()
        md = md.to(dev).float()
        if self.space_to_depth:
            md_small = F.pixel_unshuffle(md, self.factor)
        else:
            md_small = F.interpolate(md, size=zt.shape[-2:], mode="area")
        return torch.cat([zt, zc, md_small], dim=1)

    # ---------------------------------------------------------------- prediction
    @torch.no_grad()
    def predict(
        self,
        target_rgb: np.ndarray,
        current_rgb: np.ndarray,
        md_mask: np.ndarray,
        text: str,
        dt_s: float,
        use_time: bool = True,
    ) -> np.ndarray:
        """Probability map of M̂_t (float32, H×W of ``current_rgb``) for one canvas state.

        ``use_time=False`` feeds the Δt token's dropped (zero) value (the -TE ablation); text "" is the
        dropped text (the -TG ablation): both were dropped 10 % of the time in training."""
        r = self.resolution
        spatial = self.spatial_input(
            images_to_tensor(target_rgb, r), images_to_tensor(current_rgb, r), masks_to_tensor(md_mask, r)
        )
        dt = torch.tensor([float(dt_s)], device=self.device)
        self.core.eval()
        keep = torch.tensor([1.0 if use_time else 0.0], device=self.device)
        logits = self.core(spatial, self.text_embeddings([text]), dt, keep)
        h, w = current_rgb.shape[:2]
        logits = self.logits_at_resolution(logits.float())
        probs = torch.sigmoid(F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False))
        return probs[0, 0].cpu().numpy().astype(np.float32)


def load_mask_generator(source: Preset | str | Path) -> MaskGenerator:
    """A preset or "paper" (initialise for training), or a folder written by ``MaskGenerator.save_pretrained``."""
    source = resolve_source(source)
    if isinstance(source, Preset):
        return MaskGenerator.from_preset(source)
    return MaskGenerator.from_pretrained(source)
