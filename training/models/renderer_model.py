"""The renderer's network (Sec. 3.1, 3.3, App. A.3): g_u, ReferenceNet g_r, g_f, g_t, g_c as one diffusers model.

g_u: a UNet2DConditionModel whose input is [z_s, g_f([I_{t-1}, M_t])] (conv_in widened), with
cross-attention on [g_p(p_t) (77 tokens), g_c(CLIP(I_{t-1}), CLIP(I_T)) (1), g_t(Δt) (1)] and reference
attention from ReferenceNet g_r run on E(I_T) (timestep 0, conditioned on the CLIP(I_T) token, as Animate
Anyone conditions its ReferenceNet on the reference's CLIP embedding). Trained with the noise-prediction loss
(Eq. 1); each condition (text, predicted CLIP, time, mask) is zeroed independently with p = 0.1.

The sampling pipeline around it (codec, frozen CLIP encoders, scheduler, guidance, the sampling loop) is
:class:`training.models.renderer.RenderPipeline`, as diffusers keeps models apart from pipelines.
"""

from __future__ import annotations

from pathlib import Path

import torch
from accelerate import init_empty_weights
from diffusers import UNet2DConditionModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from .learned_encoders import FeatureEncoder, NextClipGenerator, TimeEncoder
from .loading import module_config
from .reference_attention import install_reference_attention

CONDITIONS = ("text", "clip", "time", "mask")
# the modules of the core, each a diffusers model; also the subfolders of renderers saved before the core was one
MODULES = ("unet", "reference_net", "feature_encoder", "time_encoder", "clip_generator")
MODULE_CLASSES = {
    "unet": UNet2DConditionModel,
    "reference_net": UNet2DConditionModel,
    "feature_encoder": FeatureEncoder,
    "time_encoder": TimeEncoder,
    "clip_generator": NextClipGenerator,
}


# Initial opacity logit of an alpha renderer: 0 (half open). Starting nearly shut (-4, opacity 0.018) kept the
# untrained renderer close to copying I_{t-1}, but the saturated sigmoid passed 1/15 of the gradient and after
# 300 steps on three pairs the opacity inside the mask was still 0.5 (one-pair D 0.13 vs 0.10 from 0).
ALPHA_INIT_LOGIT = 0.0


def alpha_change(out: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """The change of an alpha renderer: out = [opacity logits, colour] (2 × latent channels), base = E(I_{t-1})."""
    logits, colour = out.split(base.shape[1], dim=1)
    return torch.sigmoid(logits) * (colour - base)


def compose(
    canvas: torch.Tensor, target: torch.Tensor, opacity: torch.Tensor, finish: torch.Tensor, paint: torch.Tensor
) -> torch.Tensor:
    """New paint laid over the canvas: canvas + σ(opacity) · (σ(finish) · target + (1 − σ(finish)) · paint − canvas)
    (logit fields; images and paint in [-1, 1])."""
    a, f = torch.sigmoid(opacity), torch.sigmoid(finish)
    return canvas + a * (f * target + (1 - f) * paint - canvas)


class RendererCore(ModelMixin, ConfigMixin):
    """The jointly trained part: g_u, g_r, g_f, g_t, g_c, one diffusers model (``save_pretrained`` /
    ``from_pretrained``). Its config holds each module's config; :meth:`from_modules` wraps built modules."""

    @register_to_config
    def __init__(
        self,
        unet_config: dict,
        reference_net_config: dict,
        feature_encoder_config: dict,
        time_encoder_config: dict,
        clip_generator_config: dict,
        positional: bool = False,
    ) -> None:
        super().__init__()
        self.unet = UNet2DConditionModel.from_config(unet_config)
        self.reference_net = UNet2DConditionModel.from_config(reference_net_config)
        self.feature_encoder = FeatureEncoder.from_config(feature_encoder_config)
        self.time_encoder = TimeEncoder.from_config(time_encoder_config)
        self.clip_generator = NextClipGenerator.from_config(clip_generator_config)
        self.bank = install_reference_attention(self.unet, self.reference_net, positional)

    @classmethod
    def from_modules(
        cls,
        unet: UNet2DConditionModel,
        reference_net: UNet2DConditionModel,
        feature_encoder: FeatureEncoder,
        time_encoder: TimeEncoder,
        clip_generator: NextClipGenerator,
        positional: bool = False,
    ) -> RendererCore:
        """The core around built modules, their weights (pretrained or random) kept as they are."""
        modules = {
            "unet": unet,
            "reference_net": reference_net,
            "feature_encoder": feature_encoder,
            "time_encoder": time_encoder,
            "clip_generator": clip_generator,
        }
        configs = {f"{name}_config": module_config(m) for name, m in modules.items()}
        with init_empty_weights():  # the modules built from the configs are replaced: no memory, no random init
            core = cls(**configs, positional=positional)
        for name, module in modules.items():
            setattr(core, name, module)
        core.bank = install_reference_attention(unet, reference_net, positional)
        return core

    @classmethod
    def from_legacy_folder(cls, path: Path, info: dict) -> RendererCore:
        """A renderer saved before the core was one model: ``unet/``, ``reference_net/``, ... side by side."""
        modules = {name: MODULE_CLASSES[name].from_pretrained(path, subfolder=name) for name in MODULES}
        return cls.from_modules(**modules, positional=bool(info.get("reference_positional", False)))

    def write_reference(self, target_latents: torch.Tensor, clip_target: torch.Tensor) -> None:
        """Run g_r on E(I_T); its self-attention tokens go to the bank g_u reads."""
        self.bank.clear()
        t0 = torch.zeros(target_latents.shape[0], dtype=torch.long, device=target_latents.device)
        # inputs in g_r's own dtype: the frozen encoders hand over float32, inference may run g_r in bf16
        dtype = self.reference_net.dtype
        cond = clip_target[:, None, :].to(dtype)
        self.reference_net(target_latents.to(dtype), t0, encoder_hidden_states=cond)

    def denoise(
        self,
        noisy: torch.Tensor,
        timesteps: torch.Tensor,
        prev_images: torch.Tensor,
        masks: torch.Tensor,
        tokens: torch.Tensor,
    ) -> torch.Tensor:
        """ε prediction of g_u; the bank must hold the reference tokens."""
        dtype = self.unet.dtype  # float32 in training (autocast casts), the inference dtype otherwise
        features = self.feature_encoder(torch.cat([prev_images, masks], dim=1)).to(dtype)
        x = torch.cat([noisy.to(dtype), features], dim=1)
        return self.unet(x, timesteps, encoder_hidden_states=tokens.to(dtype)).sample

    def condition_tokens(
        self,
        text_emb: torch.Tensor,
        clip_current: torch.Tensor,
        clip_target: torch.Tensor,
        dt_s: torch.Tensor,
        keep: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """[text (77), predicted CLIP (1), time (1)] with dropped conditions zeroed (keep: (B,) 0/1 per name)."""
        clip_tok = self.clip_generator(clip_current, clip_target)[:, None, :]
        time_tok = self.time_encoder(dt_s)[:, None, :]
        if keep is not None:
            text_emb = text_emb * keep["text"].view(-1, 1, 1)
            clip_tok = clip_tok * keep["clip"].view(-1, 1, 1)
            time_tok = time_tok * keep["time"].view(-1, 1, 1)
        return torch.cat([text_emb, clip_tok.to(text_emb.dtype), time_tok.to(text_emb.dtype)], dim=1)

    def forward(
        self,
        noisy: torch.Tensor,
        timesteps: torch.Tensor,
        target_latents: torch.Tensor,
        prev_images: torch.Tensor,
        masks: torch.Tensor,
        text_emb: torch.Tensor,
        clip_current: torch.Tensor,
        clip_target: torch.Tensor,
        dt_s: torch.Tensor,
        keep: dict[str, torch.Tensor],
    ) -> torch.Tensor:
        """Training forward: ε prediction with classifier-free dropout given by ``keep``."""
        tokens = self.condition_tokens(text_emb, clip_current, clip_target, dt_s, keep)
        masks = masks * keep["mask"].view(-1, 1, 1, 1)
        self.write_reference(target_latents, clip_target)
        try:
            return self.denoise(noisy, timesteps, prev_images, masks, tokens)
        finally:
            self.bank.clear()
