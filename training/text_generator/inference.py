"""g_text at inference: [current | target] + prompt p -> a short instruction ("sky", "mountain, ground")."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from training.labels.compose import side_by_side
from training.labels.prompts import P_INSTRUCT, normalise

from .encoding import encode_generation_batch
from .models import load_llava, load_processor, pick_device, pick_dtype, read_metadata


class TextGenerator:
    """A loaded g_text. Build with `TextGenerator.load(...)`."""

    def __init__(self, model, processor, prompt: str = P_INSTRUCT, max_new_tokens: int = 8) -> None:
        self.model = model.eval()
        self.processor = processor
        self.prompt = prompt
        self.max_new_tokens = max_new_tokens

    @classmethod
    def load(
        cls,
        path_or_hub_id: str | Path,
        adapter: str | Path | None = None,
        device: str | None = None,
        dtype: str = "bfloat16",
        prompt: str | None = None,
    ) -> TextGenerator:
        """Load a full LLaVA (hub id, folder, or a trained `final/`) and optionally a LoRA adapter on top.

        A `final/` folder written by a LoRA run holds only the adapter; passed as `path_or_hub_id` it is
        recognised (adapter_config.json) and its base model is loaded from the id recorded at training.
        The prompt defaults to the one the model was trained with, else p (App. A.2).
        """
        source = Path(str(path_or_hub_id))
        base: str | Path = path_or_hub_id
        if adapter is None and (source / "adapter_config.json").is_file():
            adapter = source
            recorded = read_metadata(source).get("base_model")
            if not recorded:
                recorded = json.loads((source / "adapter_config.json").read_text())["base_model_name_or_path"]
            base = recorded
        dev = pick_device(device)
        model = load_llava(base, dtype=pick_dtype(dtype, dev), device=dev)
        if adapter is not None:
            from peft import PeftModel

            if not (Path(str(adapter)) / "adapter_config.json").is_file():
                raise FileNotFoundError(f"{adapter}: no adapter_config.json; pass the folder a LoRA run saved")
            # merged: generation then runs at the speed of the plain model
            model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
        processor = load_processor(adapter, base)
        meta = read_metadata(adapter) if adapter is not None else read_metadata(source) if source.is_dir() else {}
        return cls(model, processor, prompt or meta.get("prompt") or P_INSTRUCT, int(meta.get("max_new_tokens", 8)))

    @torch.no_grad()
    def raw_answers(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]], batch_size: int = 8) -> list[str]:
        """The model's decoded answers, unnormalised, for (current RGB, target RGB) uint8 pairs."""
        device = next(self.model.parameters()).device
        answers: list[str] = []
        for start in range(0, len(pairs), batch_size):
            images = [side_by_side(cur, tgt) for cur, tgt in pairs[start : start + batch_size]]
            inputs = encode_generation_batch(self.processor, images, self.prompt)
            inputs = {k: v.to(device) for k, v in inputs.items()}
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
            tokenizer = self.processor.tokenizer
            output = self.model.generate(
                **inputs,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            new_tokens = output[:, inputs["input_ids"].shape[1] :]
            answers += tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return answers

    def generate_batch(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]], batch_size: int = 8) -> list[str]:
        """Normalised instructions (≤ 2 words per item, lower case, punctuation trimmed), one per pair."""
        return [normalise(a) for a in self.raw_answers(pairs, batch_size)]

    def generate(self, current_rgb: np.ndarray, target_rgb: np.ndarray) -> str:
        """The instruction for one pair: what to paint next on `current_rgb` to reach `target_rgb`."""
        return self.generate_batch([(current_rgb, target_rgb)])[0]
