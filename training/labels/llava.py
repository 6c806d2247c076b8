"""The `llava` auto-labelling backend: LLaVA-1.5 answers p' (App. A.2) on [I_{t-1} | I_t]."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from training.labels.compose import mean_fill, pad_to_square, side_by_side
from training.labels.prompts import P_LABEL, normalise, prompt_hash

DEFAULT_LLAVA = "llava-hf/llava-1.5-7b-hf"


def _input_side(image_processor: object) -> int | None:
    """The square side the vision tower sees (CLIP: crop size, else shortest edge), None if unknown."""
    for attr, key in (("crop_size", "height"), ("size", "shortest_edge"), ("size", "height")):
        value = getattr(image_processor, attr, None)
        value = value.get(key) if hasattr(value, "get") else getattr(value, key, None)
        if value:
            return int(value)
    return None


def resolve_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available; use device='cpu' or 'auto'")
    return device


class LlavaLabeller:
    """Batched greedy LLaVA answers to `prompt` (default p') for pairs (I_{t-1}, I_t), normalised.

    `model` is a hub id or a local directory saved with `save_pretrained` (model + processor). The pair
    is composed side by side (left = current, right = next) and padded to a square with the image
    processor's mean colour, as LLaVA-1.5 was trained (its `expand2square`), so the CLIP centre crop does
    not cut off the outer halves of the two images. fp16 on GPU, float32 on CPU.
    """

    backend = "llava"

    def __init__(
        self,
        model: str | Path = DEFAULT_LLAVA,
        device: str = "auto",
        batch_size: int = 8,
        max_new_tokens: int = 8,
        prompt: str = P_LABEL,
    ) -> None:
        import torch
        from transformers import AutoProcessor, LlavaForConditionalGeneration

        if batch_size < 1 or max_new_tokens < 1:
            raise ValueError(f"batch_size ({batch_size}) and max_new_tokens ({max_new_tokens}) must be >= 1")
        self.model_id = str(model)
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.prompt = prompt
        self.prompt_hash = prompt_hash(prompt)
        dtype = torch.float16 if self.device.startswith("cuda") else torch.float32
        self.processor = AutoProcessor.from_pretrained(self.model_id)
        # batched generation appends new tokens on the right, so prompts are padded on the left
        self.processor.tokenizer.padding_side = "left"
        self.model = LlavaForConditionalGeneration.from_pretrained(self.model_id, dtype=dtype).to(self.device)
        self.model.eval()
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        self._text = self.processor.apply_chat_template(messages, add_generation_prompt=True)
        self._fill = mean_fill(self.processor.image_processor)
        self._side = _input_side(self.processor.image_processor)

    def compose(self, prev_rgb: np.ndarray, next_rgb: np.ndarray) -> np.ndarray:
        """[prev | next] padded to a square, already shrunk to the vision tower's input side.

        Shrinking here (area interpolation) rather than in the processor keeps preprocessing cheap, so
        labelling time is spent in the batched model, not in per-image resizing of a large square.
        """
        composite = side_by_side(prev_rgb, next_rgb)
        h, w = composite.shape[:2]
        if self._side and max(h, w) > self._side:
            scale = self._side / max(h, w)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            composite = cv2.resize(composite, size, interpolation=cv2.INTER_AREA)
        return pad_to_square(composite, self._fill)

    def raw_answers(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[str]:
        """Decoded model answers before normalisation, one per pair."""
        import torch

        answers: list[str] = []
        for start in range(0, len(pairs), self.batch_size):
            chunk = pairs[start : start + self.batch_size]
            images = [self.compose(a, b) for a, b in chunk]
            inputs = self.processor(images=images, text=[self._text] * len(images), return_tensors="pt", padding=True)
            inputs = inputs.to(self.device)
            if "pixel_values" in inputs:
                inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
            with torch.inference_mode():
                out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
            new = out[:, inputs["input_ids"].shape[1] :]
            answers += self.processor.batch_decode(new, skip_special_tokens=True)
        return answers

    def label(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[str]:
        """Normalised labels (<= 2 words, lower case) for pairs (I_{t-1}, I_t)."""
        return [normalise(a) for a in self.raw_answers(pairs)]


def llava_weights_available(model: str | Path = DEFAULT_LLAVA) -> bool:
    """True when `model` is a local directory or a hub id already in the local Hugging Face cache."""
    if Path(model).is_dir():
        return (Path(model) / "config.json").is_file()
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        found = [try_to_load_from_cache(str(model), n) for n in ("config.json", "model.safetensors.index.json")]
    except HFValidationError:  # neither a folder nor a valid hub id, e.g. a path that does not exist
        return False
    return all(isinstance(f, str) for f in found)
