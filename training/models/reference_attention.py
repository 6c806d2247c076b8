"""Reference attention (Sec. 3.1, ReferenceNet as in Animate Anyone's "spatial attention").

ReferenceNet g_r has g_u's architecture. While g_r runs on E(I_T), a writer processor in each of its
self-attention layers (``attn1``) stores the layer's input tokens in a shared bank. When g_u runs, the
reader processor in the matching ``attn1`` layer attends over [own tokens, g_r tokens]: the reference
tokens are concatenated along the token axis as extra keys and values; queries (and so the output shape)
stay g_u's own.

``positional=True`` adds a fixed 2-D sinusoidal code of each token's place on the canvas to the queries'
and keys' inputs (not to the values). Stable Diffusion's pretrained features carry where they are, so its
attention can find the reference token at the same place; a UNet trained from scratch on a CPU does not
learn that in minutes, and without it I_T reached the tiny renderer only as a bag of tokens (its outputs
ignored the target: two targets gave the same painting; see ``training.models.presets``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention, AttnProcessor2_0
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel


class ReferenceBank(dict):
    """Layer name -> reference tokens (B_ref, N, C) written by g_r for the next g_u call."""


def grid_code(n_tokens: int, channels: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(N, C) sinusoidal code of the row and column of each token of a square s×s grid (N = s²).

    Half the channels encode the row, half the column, at wavelengths from 2 tokens to about 2·s.
    """
    side = math.isqrt(n_tokens)
    if side * side != n_tokens:
        raise ValueError(f"positional reference attention needs a square token grid, got {n_tokens} tokens")
    quarter = max(1, channels // 4)
    freqs = math.pi / (2.0 ** torch.linspace(0, max(1.0, math.log2(side)), quarter, device=device))
    pos = torch.arange(side, device=device, dtype=torch.float32)[:, None] * freqs[None]  # (s, quarter)
    axis = torch.cat([torch.sin(pos), torch.cos(pos)], dim=1)  # (s, 2·quarter)
    rows = axis[:, None, :].expand(side, side, -1)
    cols = axis[None, :, :].expand(side, side, -1)
    code = torch.cat([rows, cols], dim=-1).reshape(n_tokens, -1)
    if code.shape[1] < channels:
        code = F.pad(code, (0, channels - code.shape[1]))
    return code[:, :channels].to(dtype)


class ReferenceWriter(AttnProcessor2_0):
    def __init__(self, bank: ReferenceBank, name: str) -> None:
        super().__init__()
        self.bank, self.name = bank, name

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states=None, **kwargs):
        self.bank[self.name] = hidden_states
        return super().__call__(attn, hidden_states, encoder_hidden_states, **kwargs)


class ReferenceReader(AttnProcessor2_0):
    def __init__(self, bank: ReferenceBank, name: str, positional: bool = False) -> None:
        super().__init__()
        self.bank, self.name, self.positional = bank, name, positional

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states=None, **kwargs):
        ref = self.bank.get(self.name)
        if ref is None:
            raise RuntimeError(
                f"reference attention layer {self.name}: no ReferenceNet features; run the ReferenceNet first"
            )
        if ref.shape[0] != hidden_states.shape[0]:
            if hidden_states.shape[0] % ref.shape[0]:
                raise ValueError(f"batch {hidden_states.shape[0]} is not a multiple of reference batch {ref.shape[0]}")
            # guidance branches share one reference pass
            ref = ref.repeat_interleave(hidden_states.shape[0] // ref.shape[0], dim=0)
        ref = ref.to(hidden_states.dtype)
        if self.positional:
            return _positional_attention(attn, hidden_states, ref)
        context = torch.cat([hidden_states, ref], dim=1)
        return super().__call__(attn, hidden_states, context, **kwargs)


def _positional_attention(attn: Attention, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Self-attention over [x, ref] whose queries and keys see each token's place (values do not)."""
    b, n, c = x.shape
    code = grid_code(n, c, x.device, x.dtype)[None]
    query = attn.to_q(x + code)
    key = attn.to_k(torch.cat([x + code, ref + code], dim=1))
    value = attn.to_v(torch.cat([x, ref], dim=1))
    head = key.shape[-1] // attn.heads
    query, key, value = (t.view(b, -1, attn.heads, head).transpose(1, 2) for t in (query, key, value))
    out = F.scaled_dot_product_attention(query, key, value)
    out = out.transpose(1, 2).reshape(b, n, attn.heads * head)
    return attn.to_out[1](attn.to_out[0](out)) / attn.rescale_output_factor


def _is_self_attention(name: str) -> bool:
    return name.endswith("attn1.processor")


def install_reference_attention(
    unet: UNet2DConditionModel, reference_net: UNet2DConditionModel, positional: bool = False
) -> ReferenceBank:
    """Wire g_r's self-attention layers into g_u's; returns the shared bank (clear it after each g_u call)."""
    names_u, names_r = set(unet.attn_processors), set(reference_net.attn_processors)
    if {n for n in names_u if _is_self_attention(n)} != {n for n in names_r if _is_self_attention(n)}:
        raise ValueError("ReferenceNet and UNet must share their architecture (their self-attention layers differ)")
    bank = ReferenceBank()
    unet.set_attn_processor(
        {n: ReferenceReader(bank, n, positional) if _is_self_attention(n) else AttnProcessor2_0() for n in names_u}
    )
    reference_net.set_attn_processor(
        {n: ReferenceWriter(bank, n) if _is_self_attention(n) else AttnProcessor2_0() for n in names_r}
    )
    return bank
