"""Training presets of the text generator g_text (App. A.2).

`paper`: LLaVA-1.5-7B (`llava-hf/llava-1.5-7b-hf`, a hub id or a local copy) fine-tuned with LoRA for
10 epochs, lr 1e-4, batch size 16. The paper is silent on the LoRA settings; we use those of LLaVA-1.5's
own LoRA script (`finetune_lora.sh`): rank 128, alpha 256, dropout 0.05 on every linear layer of the
language model, the vision tower frozen, the multimodal projector trained in full at lr 2e-5, cosine
schedule with 3 % warm-up, no weight decay, bf16 and gradient checkpointing.

`tiny`: the same classes (`LlavaForConditionalGeneration`, CLIP vision tower + Llama) at a few hundred
thousand parameters, random-initialised by `training.tiny_llava.build_tiny_llava` and trained from
scratch on a CPU. All of its weights are trained (no LoRA): LoRA adapts a *pretrained* model through
low-rank updates of frozen weights; frozen random weights carry no knowledge to adapt, so a low-rank
delta on them only handicaps a model that has to learn vision and language from nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

PAPER_BASE_MODEL = "llava-hf/llava-1.5-7b-hf"
# Linear layers of the Llama decoder; the regex keeps LoRA off CLIP's identically named q/k/v projections.
LLAMA_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class TextGeneratorPreset:
    """Model and optimisation settings of one g_text training recipe."""

    name: str
    base_model: str | None  # hub id or local path; None = build a tiny random model inside the run folder
    epochs: int
    lr: float
    batch_size: int
    micro_batch_size: int | None = None  # gradient accumulation when smaller than batch_size; None = batch_size
    lora: bool = False
    lora_rank: int = 128
    lora_alpha: int = 256
    lora_dropout: float = 0.05
    lora_target: tuple[str, ...] = LLAMA_LINEAR
    projector_lr: float | None = None  # None = lr
    dtype: str = "float32"  # weights dtype on an accelerator; CPU runs always use float32
    gradient_checkpointing: bool = False
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_new_tokens: int = 8
    # tiny model shape (ignored when base_model is set)
    tiny_image_size: int = 64
    tiny_patch_size: int = 8
    tiny_hidden_size: int = 64

    def with_overrides(self, **changes: object) -> TextGeneratorPreset:
        """A copy with the non-None `changes` applied (`epochs=None` keeps the preset's epochs)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


PRESETS: dict[str, TextGeneratorPreset] = {
    "paper": TextGeneratorPreset(
        name="paper",
        base_model=PAPER_BASE_MODEL,
        epochs=10,
        lr=1e-4,
        batch_size=16,
        lora=True,
        projector_lr=2e-5,
        dtype="bfloat16",
        gradient_checkpointing=True,
    ),
    "tiny": TextGeneratorPreset(name="tiny", base_model=None, epochs=25, lr=2e-3, batch_size=16, warmup_ratio=0.05),
}


def get_preset(preset: str | TextGeneratorPreset) -> TextGeneratorPreset:
    """A preset by name ('paper' or 'tiny'), or the given preset unchanged."""
    if isinstance(preset, TextGeneratorPreset):
        return preset
    if preset not in PRESETS:
        raise ValueError(f"unknown text generator preset {preset!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[preset]
