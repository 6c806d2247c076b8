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


def _random_pairs(n: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        (rng.integers(0, 255, (24, 32, 3), dtype=np.uint8), rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
        for _ in range(n)
    ]


def test_llava_labeller_batches_like_batch_one_and_answers_depend_on_the_image(tiny_llava):
    from training.labels.llava import LlavaLabeller
    from training.labels.prompts import normalise, prompt_hash

    labeller = LlavaLabeller(tiny_llava, device="cpu", batch_size=8, max_new_tokens=6)
    assert labeller.model.dtype == torch.float32
    assert labeller.prompt_hash == prompt_hash(P_LABEL)
    assert labeller._text == f"USER: <image>\n{P_LABEL} ASSISTANT:"
    pairs = _random_pairs(9)  # one full batch and a remainder
    batched = labeller.raw_answers(pairs)
    labeller.batch_size = 1
    assert labeller.raw_answers(pairs) == batched
    assert len(set(batched)) > 1  # a model blind to its image would make the batching check vacuous
    labels = labeller.label(pairs)
    assert labels == [normalise(a) for a in batched]
    assert all(len(t.split()) <= 2 or "," in t for t in labels)


def test_llava_composes_current_left_next_right_padded_square(tiny_llava):
    from training.labels.llava import LlavaLabeller

    labeller = LlavaLabeller(tiny_llava, device="cpu")
    prev = np.zeros((10, 20, 3), np.uint8)
    nxt = np.full((20, 20, 3), 200, np.uint8)  # taller: resized to prev's height, 10x10
    square = labeller.compose(prev, nxt)
    assert square.shape == (30, 30, 3)
    assert (square[15, :20] == 0).all() and (square[15, 20:] == 200).all()  # left current, right next
    assert (square[0] == labeller._fill).all()  # LLaVA's expand2square fill: the processor's mean colour
    big = labeller.compose(np.zeros((96, 128, 3), np.uint8), np.full((96, 128, 3), 200, np.uint8))
    assert big.shape == (32, 32, 3)  # shrunk to the tower's 32-px input before the processor
    assert (big[16, :15] == 0).all() and (big[16, 17:] == 200).all()


def test_llava_auto_labels_table_records_backend_model_prompt(tiny_llava, tmp_path):
    import pandas as pd

    from training.data.images import write_image
    from training.labels.auto import AUTO_COLUMNS, LlavaPairs, auto_labels
    from training.labels.llava import LlavaLabeller

    rows = []
    for i, (a, b) in enumerate(_random_pairs(3, seed=1)):
        write_image(tmp_path / f"{i}a.png", a)
        write_image(tmp_path / f"{i}b.png", b)
        rows.append({"pair_index": i, "prev_t_ms": i, "next_t_ms": i + 1, "prev_path": str(tmp_path / f"{i}a.png")})
        rows[-1]["next_path"] = str(tmp_path / f"{i}b.png")
    pairs = pd.DataFrame(rows)
    labeller = LlavaLabeller(tiny_llava, device="cpu", batch_size=2)
    table = auto_labels("clip", pairs, None, LlavaPairs(labeller))
    assert list(table.columns) == AUTO_COLUMNS
    assert table["pair_id"].tolist() == ["clip/000", "clip/001", "clip/002"]
    assert set(table["backend"]) == {"llava"} and set(table["model_id"]) == {str(tiny_llava)}
    assert set(table["prompt_hash"]) == {labeller.prompt_hash}
    expected = labeller.label([(a, b) for a, b in _random_pairs(3, seed=1)])
    assert table["text"].fillna("").tolist() == expected
