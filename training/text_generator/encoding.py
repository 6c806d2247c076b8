"""Turning (image, question[, answer]) into LLaVA model inputs; loss only on the answer tokens."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image

from training.labels.compose import mean_fill, pad_to_square

IGNORE_INDEX = -100  # label value the loss skips (prompt, image and padding tokens)
_FALLBACK_TEMPLATE = "USER: <image>\n{question} ASSISTANT:"  # llava-1.5-hf's format when no chat template is set


def prompt_text(processor: object, question: str) -> str:
    """The model's chat format for one image + question, ending where the answer starts ("... ASSISTANT:")."""
    if getattr(processor, "chat_template", None):
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return _FALLBACK_TEMPLATE.format(question=question)


def square_images(processor: object, images: Sequence[object]) -> list[Image.Image]:
    return [Image.fromarray(pad_to_square(im, mean_fill(processor.image_processor))) for im in images]


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def tokenize_example(processor: object, question: str, answer: str) -> tuple[list[int], list[int]]:
    """Token ids of "prompt + answer + eos" (image tokens expanded) and labels that keep only the answer.

    The answer span is where the tokenised full text stops matching the tokenised prompt, which holds
    for both the byte-level BPE of the tiny model and LLaVA's SentencePiece tokenizer. The ids do not
    depend on the image's pixels (every image is resized to the processor's crop size), so a blank image
    stands in and results can be cached per (question, answer).
    """
    size = processor.image_processor.crop_size
    blank = Image.new("RGB", (size["width"], size["height"]), mean_fill(processor.image_processor))
    prompt = prompt_text(processor, question)
    eos = processor.tokenizer.eos_token or ""
    prompt_ids = processor(images=[blank], text=[prompt])["input_ids"][0]
    ids = list(processor(images=[blank], text=[f"{prompt} {answer}{eos}"])["input_ids"][0])
    start = _common_prefix(list(prompt_ids), ids)
    if start >= len(ids):
        raise ValueError(f"answer {answer!r} added no tokens after the prompt; check the tokenizer")
    return ids, [IGNORE_INDEX] * start + ids[start:]


def encode_training_batch(
    processor: object,
    images: Sequence[object],
    questions: Sequence[str],
    answers: Sequence[str],
    cache: dict[tuple[str, str], tuple[list[int], list[int]]] | None = None,
) -> dict[str, torch.Tensor]:
    """Right-padded `input_ids`, `attention_mask`, `pixel_values` and `labels` (IGNORE_INDEX outside answers)."""
    cache = {} if cache is None else cache
    rows, targets = [], []
    for question, answer in zip(questions, answers, strict=True):
        if (question, answer) not in cache:
            cache[question, answer] = tokenize_example(processor, question, answer)
        ids, target = cache[question, answer]
        rows.append(ids)
        targets.append(target)
    pixels = processor.image_processor(square_images(processor, images), return_tensors="pt")["pixel_values"]
    tokenizer = processor.tokenizer
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, target) in enumerate(zip(rows, targets, strict=True)):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(ids)] = torch.tensor(target)
        attention[i, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": attention, "pixel_values": pixels, "labels": labels}


def encode_generation_batch(processor: object, images: Sequence[object], question: str) -> dict[str, torch.Tensor]:
    """Left-padded prompts (generation appends on the right) for a batch of side-by-side images."""
    tokenizer = processor.tokenizer
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    prompt = prompt_text(processor, question)
    squares = square_images(processor, images)
    return dict(processor(images=squares, text=[prompt] * len(images), padding=True, return_tensors="pt"))
