"""The tiny LLaVA (built, saved, reloaded like the hub model) and the `llava` auto-labelling backend."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.labels.prompts import P_INSTRUCT, P_LABEL
from training.tiny_llava import build_tiny_llava

LABELS = ["mountain", "sky", "mountain, sky", "tree trunk", "reflection"]


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory):
    return build_tiny_llava(tmp_path_factory.mktemp("tiny-llava"), LABELS, image_size=32, seed=0)


def test_tiny_llava_reloads_with_chat_template_and_covering_tokenizer(tiny_llava):
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    processor = AutoProcessor.from_pretrained(tiny_llava)
    model = LlavaForConditionalGeneration.from_pretrained(tiny_llava)
    tok = processor.tokenizer
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": P_INSTRUCT}]},
        {"role": "assistant", "content": [{"type": "text", "text": "tree trunk"}]},
    ]
    text = processor.apply_chat_template(messages)
    assert text == f"USER: <image>\n{P_INSTRUCT} ASSISTANT: tree trunk "
    assert processor.apply_chat_template(messages[:1], add_generation_prompt=True).endswith(" ASSISTANT:")
    # prompt words and labels are whole tokens: few tokens, lossless decode, no <unk>
    for sentence in (P_LABEL, P_INSTRUCT, *LABELS):
        ids = tok(sentence, add_special_tokens=False)["input_ids"]
        assert len(ids) <= len(sentence.split()) * 2
        assert tok.unk_token_id not in ids
        assert tok.decode(ids) == sentence
    assert tok(" tree trunk", add_special_tokens=False)["input_ids"] == tok.convert_tokens_to_ids(["Ġtree", "Ġtrunk"])
    assert tok("x")["input_ids"][0] == tok.bos_token_id
    assert tok.padding_side == "left"
    assert processor.image_token_id == model.config.image_token_index

    image = np.random.default_rng(0).integers(0, 255, (24, 48, 3), dtype=np.uint8)
    batch = processor(images=[image], text=[text], return_tensors="pt")
    n_image_tokens = int((batch["input_ids"] == processor.image_token_id).sum())
    assert n_image_tokens == model.config.image_seq_length == 16
    out = model(**batch, labels=batch["input_ids"])
    assert torch.isfinite(out.loss) and out.loss.item() > 0
