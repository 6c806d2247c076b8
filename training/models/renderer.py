"""The renderer's sampling pipeline (Sec. 3.1, 3.4, App. A.4): Î_t from Î_{t-1}, I_T, text, mask and Δt.

:class:`RenderPipeline` holds the network (:class:`training.models.renderer_model.RendererCore`: g_u, g_r, g_f,
g_t, g_c), the codec E, the frozen CLIP text and image encoders, the scheduler, and runs the sampling loop with
guidance, as a diffusers pipeline holds its models. Training uses its encoders and the network's forward.

Guidance (our composition, App. A.4 gives only the scales): with ε_full the prediction with every condition
and ε_{-i} the one with condition i dropped,
    ε = ε_full + Σ_i (s_i − 1) · (ε_full − ε_{-i}).
For one condition this is the usual ε_∅ + s (ε_c − ε_∅). Unlike nesting (InstructPix2Pix) or
single-condition terms (ε_i − ε_∅), every ε_{-i} is a combination seen 7 % of the time in training
(0.1 · 0.9³), so each term is well estimated; a condition with s_i = 1 costs no extra pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, EulerAncestralDiscreteScheduler
from diffusers.models.attention_processor import AttnProcessor2_0
from transformers import CLIPTextModel, CLIPTokenizer, CLIPVisionModelWithProjection

from .codec import Codec, PixelCodec, decode_latents, downsample_factor, encode_images, latent_channels
from .frozen_encoders import clip_image_embeds, images_to_tensor, masks_to_tensor, tensor_to_images
from .learned_encoders import FeatureEncoder, NextClipGenerator, TimeEncoder
from .loading import (
    preset_codec,
    preset_image_encoder,
    preset_scheduler,
    preset_text_encoder,
    preset_unet,
    set_conv_in,
    set_conv_out,
)
from .model_pipeline import ModelPipeline
from .presets import Preset, resolve_source
from .renderer_model import ALPHA_INIT_LOGIT, CONDITIONS, RendererCore, alpha_change, compose

CONFIG_NAME = "renderer.json"
__all__ = ["CONDITIONS", "CONFIG_NAME", "Guidance", "RenderPipeline", "RendererCore", "load_renderer"]


@dataclass(frozen=True)
class Guidance:
    """Classifier-free guidance scales per condition (App. A.4 defaults)."""

    text: float = 5.0
    mask: float = 5.0
    time: float = 5.0
    clip: float = 2.0
    # ablations: conditions fed their dropped (zero) value in every branch, with no guidance term
    removed: frozenset[str] = frozenset()
    reference: bool = True  # False: g_u's self-attention ignores the ReferenceNet tokens

    def __post_init__(self) -> None:
        unknown = set(self.removed) - set(CONDITIONS)
        if unknown:
            raise ValueError(f"unknown condition(s) {sorted(unknown)} to remove; choose from {list(CONDITIONS)}")


class RenderPipeline(ModelPipeline):
    """The renderer's sampling pipeline: the network (:class:`RendererCore`), the codec E, the frozen CLIP text and
    image encoders, the scheduler, guidance and the sampling loop. :meth:`from_preset` to initialise,
    :meth:`from_pretrained` to reload a :meth:`save_pretrained` folder."""

    CORE = RendererCore
    PARTS = ("codec", "tokenizer", "text_encoder", "image_encoder", "scheduler")
    META_FILE = CONFIG_NAME
    WHAT = "renderer"

    def __init__(
        self,
        core: RendererCore,
        codec: Codec,
        tokenizer: CLIPTokenizer,
        text_encoder: CLIPTextModel,
        image_encoder: CLIPVisionModelWithProjection,
        scheduler: DDPMScheduler,
        resolution: int,
        info: dict | None = None,
    ) -> None:
        parts = {"codec": codec, "tokenizer": tokenizer, "text_encoder": text_encoder}
        super().__init__(core, resolution, info, {**parts, "image_encoder": image_encoder, "scheduler": scheduler})

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_preset(cls, preset: Preset) -> RenderPipeline:
        """Initialise from the preset's parts: pretrained, or (``preset.init`` "random") their architectures."""
        codec = preset_codec(preset)
        lc = latent_channels(codec)
        unet = preset_unet(preset, "renderer")
        reference_net = preset_unet(preset, "renderer")
        set_conv_in(unet, lc + preset.feature_channels)
        scheduler = preset_scheduler(preset)
        # a change is only a well-defined target for a sample-predicting model
        residual = preset.renderer_residual and scheduler.config.prediction_type == "sample"
        alpha = residual and preset.renderer_alpha
        if alpha and preset.renderer_composite and not isinstance(codec, PixelCodec):
            raise ValueError("a composite renderer composes pixels: its preset needs the pixel codec, not a VAE")
        if alpha:
            set_conv_out(unet, (3 if preset.renderer_composite else 2) * lc)
            with torch.no_grad():
                unet.conv_out.bias[:lc].fill_(ALPHA_INIT_LOGIT)
        cross = int(unet.config.cross_attention_dim)
        image_encoder = preset_image_encoder(preset)
        clip_dim = int(image_encoder.config.projection_dim)
        factor = downsample_factor(codec)
        core = RendererCore.from_modules(
            unet,
            reference_net,
            FeatureEncoder(
                in_channels=4,
                out_channels=preset.feature_channels,
                block_channels=preset.feature_block_channels,
                num_downsamples=0 if preset.feature_space_to_depth else int(np.log2(factor)),
                space_to_depth=factor if preset.feature_space_to_depth else 1,
            ),
            TimeEncoder(out_dim=cross, hidden_dims=preset.time_hidden_dims),
            NextClipGenerator(clip_dim=clip_dim, out_dim=cross),
            positional=preset.reference_positional,
        )
        tokenizer, text_encoder = preset_text_encoder(preset)
        return cls(
            core,
            codec,
            tokenizer,
            text_encoder,
            image_encoder,
            scheduler,
            preset.resolution,
            {
                "preset": preset.name,
                "init": preset.init,
                "base": preset.base,
                "renderer_unet": preset.renderer_unet,
                "residual": residual,
                "alpha": alpha,
                "one_step": residual and preset.renderer_one_step,
                "composite": alpha and preset.renderer_composite,
                "reference_positional": preset.reference_positional,
                "guidance": list(preset.guidance),
                "sampler_steps": 1 if residual and preset.renderer_one_step else preset.sampler_steps,
            },
        )

    # ---------------------------------------------------------------- frozen features
    @property
    def residual(self) -> bool:
        """True when g_u regresses z_0 − E(I_{t-1}) (see ``Preset.renderer_residual``)."""
        return bool(self.info.get("residual", False))

    @property
    def default_guidance(self) -> Guidance:
        """The guidance scales this renderer was made for (its preset's; App. A.4's for older saved renderers)."""
        return Guidance(*self.info.get("guidance", (5.0, 5.0, 5.0, 2.0)))

    @property
    def default_steps(self) -> int:
        """Sampler steps S this renderer was made for (1 for a one-step regressor)."""
        return int(self.info.get("sampler_steps", 25))

    @property
    def one_step(self) -> bool:
        """True for a one-step regressor of z_0 (``Preset.renderer_one_step``): no noise in, one g_u call out."""
        return bool(self.info.get("one_step", False))

    @property
    def alpha(self) -> bool:
        """True when g_u's output is opacity + colour (see ``Preset.renderer_alpha``)."""
        return bool(self.info.get("alpha", False))

    def change(self, out: torch.Tensor, base: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """g_u's raw output as the regressed quantity: itself, or the alpha / composite renderer's change over
        ``base`` = E(I_{t-1}) (the composite one also needs ``target`` = E(I_T))."""
        if not self.alpha:
            return out
        if not self.composite:
            return alpha_change(out, base)
        if target is None:
            raise ValueError("a composite renderer needs E(I_T) to compose its paint")
        factor, scale = self.codec.config.factor, self.codec.config.scaling_factor
        canvas, goal = F.pixel_shuffle(base, factor) / scale, F.pixel_shuffle(target, factor) / scale
        new = compose(canvas, goal, *self.composite_fields(out))
        return F.pixel_unshuffle(new, factor) * scale - base

    def composite_fields(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A composite renderer's raw output as (opacity logits, finish logits, paint) images at its resolution."""
        factor, scale = self.codec.config.factor, self.codec.config.scaling_factor
        opacity, finish, paint = (F.pixel_shuffle(p, factor) for p in raw.split(raw.shape[1] // 3, dim=1))
        # paint is a colour: bounded, or the renderer learns half-open opacity times out-of-range colours
        return opacity, finish, torch.tanh(paint / scale)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return encode_images(self.codec, images.to(self.device)).float()

    def clip(self, images: torch.Tensor) -> torch.Tensor:
        return clip_image_embeds(self.image_encoder, images.to(self.device)).float()

    # ---------------------------------------------------------------- generation
    @property
    def composite(self) -> bool:
        """True when g_u's output composes canvas, target and paint (``Preset.renderer_composite``); the
        frame is then composed at the size of the canvas it is given, not at the model's resolution."""
        return bool(self.info.get("composite", False))

    @torch.no_grad()
    def generate(
        self,
        current_rgb: np.ndarray,
        target_rgb: np.ndarray,
        text: str,
        mask: np.ndarray,
        dt_s: float,
        num_steps: int = 25,
        guidance: Guidance = Guidance(),
        generator: torch.Generator | None = None,
    ) -> np.ndarray:
        """Î_t (uint8, the size of ``current_rgb``) from Î_{t-1}, I_T, text, mask and Δt, Euler-ancestral sampling.

        The model sees its inputs at its resolution (area resize, as in training). A composite renderer lays
        its opacity / finish / paint fields, upsampled, over the full-size canvas and target; any other renders
        at its resolution and is resized to the canvas.
        """
        r, dev = self.resolution, self.device
        h, w = current_rgb.shape[:2]
        prev = images_to_tensor(current_rgb, r).to(dev)
        target = images_to_tensor(target_rgb, r).to(dev)
        mask_t = masks_to_tensor(mask, r).to(dev)
        core = self.core.eval()
        text_emb = self.text_embeddings([text])
        clip_prev, clip_target = self.clip(prev), self.clip(target)
        # branch 0 keeps every condition; one branch per condition with s != 1 drops it
        scales = {"text": guidance.text, "clip": guidance.clip, "time": guidance.time, "mask": guidance.mask}
        removed = set(guidance.removed)
        dropped = [name for name in CONDITIONS if scales[name] != 1.0 and name not in removed]
        n = 1 + len(dropped)
        keep = {name: torch.full((n,), 0.0 if name in removed else 1.0, device=dev) for name in CONDITIONS}
        for b, name in enumerate(dropped, start=1):
            keep[name][b] = 0.0
        tokens = core.condition_tokens(
            text_emb.expand(n, -1, -1),
            clip_prev.expand(n, -1),
            clip_target.expand(n, -1),
            torch.full((n,), float(dt_s), device=dev),
            keep,
        )
        masks = mask_t.expand(n, -1, -1, -1) * keep["mask"].view(-1, 1, 1, 1)
        prevs = prev.expand(n, -1, -1, -1)
        target_latents = self.encode(target)
        # Euler-ancestral steps on ε; a z_0-predicting model (tiny preset) is converted: ε = (x − ẑ_0) / σ
        predicts_sample = self.scheduler.config.prediction_type == "sample"
        if self.residual and not predicts_sample:
            raise ValueError("a residual renderer must predict samples (scheduler prediction_type 'sample')")
        base = self.encode(prev) if self.residual else 0.0
        scheduler = EulerAncestralDiscreteScheduler.from_config(self.scheduler.config, prediction_type="epsilon")
        scheduler.set_timesteps(1 if self.one_step else num_steps, device=dev)
        latents = torch.randn(target_latents.shape, generator=generator, device="cpu").to(dev)
        latents = latents * scheduler.init_noise_sigma
        saved = None
        if guidance.reference:
            core.write_reference(target_latents, clip_target)  # one reference pass serves every step and branch
        else:  # plain self-attention in g_u while this call runs
            saved = core.unet.attn_processors
            core.unet.set_attn_processor(AttnProcessor2_0())
        raw = None
        try:
            for i, t in enumerate(scheduler.timesteps):
                x = scheduler.scale_model_input(latents, t).expand(n, -1, -1, -1)
                s = t.expand(n).to(dev)
                if self.one_step:  # as trained: no noisy latent, timestep 0
                    x, s = torch.zeros_like(x), torch.zeros_like(s)
                pred = core.denoise(x, s, prevs, masks, tokens).float()
                # guidance on g_u's raw output (ε, or the alpha renderer's logits and colours)
                raw = pred[:1].clone()
                for b, name in enumerate(dropped, start=1):
                    raw += (scales[name] - 1.0) * (pred[:1] - pred[b : b + 1])
                guided = self.change(raw, base, target_latents)
                if predicts_sample:
                    guided = (latents - (guided + base)) / scheduler.sigmas[i]
                latents = scheduler.step(guided, t, latents, generator=generator).prev_sample
        finally:
            core.bank.clear()
            if saved is not None:
                core.unet.set_attn_processor(saved)
        if self.composite and raw is not None:
            return self.compose_full(raw, current_rgb, target_rgb)
        image = tensor_to_images(decode_latents(self.codec, latents))[0]
        return image if (h, w) == (r, r) else cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)

    def compose_full(self, raw: torch.Tensor, current_rgb: np.ndarray, target_rgb: np.ndarray) -> np.ndarray:
        """A composite renderer's frame at the canvas' size: its fields upsampled (bilinear) from the model's
        resolution and laid over the full-size canvas and target (:func:`compose`)."""
        h, w = current_rgb.shape[:2]
        fields = [
            F.interpolate(f, size=(h, w), mode="bilinear", align_corners=False) for f in self.composite_fields(raw)
        ]
        canvas = images_to_tensor(current_rgb, None).to(raw.device)
        target = images_to_tensor(target_rgb, None).to(raw.device)
        if target.shape[-2:] != (h, w):
            target = F.interpolate(target, size=(h, w), mode="area")
        return tensor_to_images(compose(canvas, target, *fields))[0]


def load_renderer(source: Preset | str | Path) -> RenderPipeline:
    """A preset or "paper" (initialise for training), or a folder written by ``RenderPipeline.save_pretrained``."""
    source = resolve_source(source)
    if isinstance(source, Preset):
        return RenderPipeline.from_preset(source)
    return RenderPipeline.from_pretrained(source)
