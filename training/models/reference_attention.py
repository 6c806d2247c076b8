"""Reference attention (Sec. 3.1, ReferenceNet as in Animate Anyone's "spatial attention").

ReferenceNet g_r has g_u's architecture. While g_r runs on E(I_T), a writer processor in each of its
self-attention layers (``attn1``) stores the layer's input tokens in a shared bank. When g_u runs, the
reader processor in the matching ``attn1`` layer attends over [own tokens, g_r tokens]: the reference
tokens are concatenated along the token axis as extra keys and values; queries (and so the output shape)
stay g_u's own.
"""

from __future__ import annotations

import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel


class ReferenceBank(dict):
    """Layer name -> reference tokens (B_ref, N, C) written by g_r for the next g_u call."""


class ReferenceWriter(AttnProcessor2_0):
    def __init__(self, bank: ReferenceBank, name: str) -> None:
        super().__init__()
        self.bank, self.name = bank, name

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states=None, **kwargs):
        self.bank[self.name] = hidden_states
        return super().__call__(attn, hidden_states, encoder_hidden_states, **kwargs)


class ReferenceReader(AttnProcessor2_0):
    def __init__(self, bank: ReferenceBank, name: str) -> None:
        super().__init__()
        self.bank, self.name = bank, name

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
        context = torch.cat([hidden_states, ref.to(hidden_states.dtype)], dim=1)
        return super().__call__(attn, hidden_states, context, **kwargs)


def _is_self_attention(name: str) -> bool:
    return name.endswith("attn1.processor")


def install_reference_attention(unet: UNet2DConditionModel, reference_net: UNet2DConditionModel) -> ReferenceBank:
    """Wire g_r's self-attention layers into g_u's; returns the shared bank (clear it after each g_u call)."""
    names_u, names_r = set(unet.attn_processors), set(reference_net.attn_processors)
    if {n for n in names_u if _is_self_attention(n)} != {n for n in names_r if _is_self_attention(n)}:
        raise ValueError("ReferenceNet and UNet must share their architecture (their self-attention layers differ)")
    bank = ReferenceBank()
    unet.set_attn_processor(
        {n: ReferenceReader(bank, n) if _is_self_attention(n) else AttnProcessor2_0() for n in names_u}
    )
    reference_net.set_attn_processor(
        {n: ReferenceWriter(bank, n) if _is_self_attention(n) else AttnProcessor2_0() for n in names_r}
    )
    return bank
