"""Loading LLaVA-1.5 (hub id or local folder) and wrapping it with LoRA; shared by training and inference."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .presets import TextGeneratorPreset

PROJECTOR = "multi_modal_projector"
PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")  # transformers 5 / 4 layouts
METADATA_FILE = "text_generator.json"  # written beside a trained model/adapter: preset, base model, prompt


def pick_device(device: str | torch.device | None = None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pick_dtype(name: str, device: torch.device) -> torch.dtype:
    """The preset's dtype on an accelerator; float32 on CPU (half-precision training on CPU is slow and lossy)."""
    if device.type == "cpu":
        return torch.float32
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"dtype {name!r} is not a torch dtype; use float32, float16 or bfloat16")
    if dtype == torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return dtype


def load_llava(model: str | Path, dtype: torch.dtype = torch.float32, device: torch.device | None = None):
    """`LlavaForConditionalGeneration.from_pretrained` on a hub id or a folder, with a clear error when absent."""
    from transformers import LlavaForConditionalGeneration

    try:
        loaded = LlavaForConditionalGeneration.from_pretrained(str(model), dtype=dtype)
    except OSError as error:
        raise OSError(
            f"could not load LLaVA weights from {model!r} ({error}); pass a local folder holding a "
            f"save_pretrained LLaVA-1.5 (e.g. a download of llava-hf/llava-1.5-7b-hf) or use the 'tiny' preset"
        ) from None
    return loaded.to(device) if device is not None else loaded


def load_processor(*candidates: str | Path | None):
    """The first candidate folder holding a processor (or a hub id)."""
    from transformers import AutoProcessor

    for candidate in candidates:
        if candidate is None:
            continue
        path = Path(str(candidate))
        if path.is_dir() and not any((path / name).is_file() for name in PROCESSOR_FILES):
            continue
        return AutoProcessor.from_pretrained(str(candidate))
    raise FileNotFoundError(f"no LLaVA processor ({' or '.join(PROCESSOR_FILES)}) in any of {candidates}")


def lora_config(preset: TextGeneratorPreset):
    """LoRA on the language model's linear layers; the projector is trained in full (LLaVA-1.5's LoRA recipe)."""
    from peft import LoraConfig

    return LoraConfig(
        r=preset.lora_rank,
        lora_alpha=preset.lora_alpha,
        lora_dropout=preset.lora_dropout,
        # a regex (full match) so CLIP's own q/k/v projections in the vision tower stay frozen
        target_modules=rf".*language_model.*\.({'|'.join(preset.lora_target)})",
        modules_to_save=[PROJECTOR],
        task_type="CAUSAL_LM",
    )


def read_metadata(folder: Path | str) -> dict:
    path = Path(folder) / METADATA_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
