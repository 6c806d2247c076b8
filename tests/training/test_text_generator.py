"""g_text: conversation JSON, answer-only labels, training with resume, LoRA (paper path) and inference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from training.data.images import read_rgb, write_image
from training.labels.compose import pad_to_square
from training.labels.prompts import P_INSTRUCT
from training.text_generator import (
    Conversation,
    TextGenerator,
    get_preset,
    read_conversations,
    side_by_side,
    train_text_generator,
    write_conversations,
)
from training.text_generator.conversations import build_conversation_json
from training.text_generator.encoding import IGNORE_INDEX, encode_training_batch, tokenize_example
from training.text_generator.models import load_processor
from training.tiny_llava import build_tiny_llava

# The paper release's sample beside the checkout (../shared/realdata); the test that reads it skips without it.
OFFICIAL_JSON = (
    Path(__file__).resolve().parents[3] / "shared/realdata/official_sample/sample_data_processed/train/llava_json.json"
)
# a smaller tiny model than the preset's, so each training step takes milliseconds
TEST_TINY = get_preset("tiny").with_overrides(tiny_image_size=16, tiny_hidden_size=32, warmup_ratio=0.01)
COLOURS = {"sky": (40, 90, 230), "grass": (30, 180, 40), "distant mountains": (120, 110, 100)}


def _pair(colour: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    current = np.full((12, 12, 3), 250, np.uint8)
    current[:6] = colour  # the painted part tells the model which layer comes next
    return current, np.full((12, 12, 3), colour, np.uint8)


def _dataset(root: Path, labels: list[str]) -> Path:
    conversations = []
    for i, label in enumerate(labels):
        image = root / "images" / f"{i}.png"
        image.parent.mkdir(parents=True, exist_ok=True)
        write_image(image, side_by_side(*_pair(COLOURS[label])))
        conversations.append(Conversation(str(i), image, P_INSTRUCT, label))
    return write_conversations(conversations, root / "conversations.json")


def test_official_json_parses_and_reports_its_missing_images(tmp_path: Path) -> None:
    if not OFFICIAL_JSON.is_file():
        pytest.skip("official sample not present")
    # the release ships the JSON without its concatenated images: the error names the entry and the fix
    with pytest.raises(FileNotFoundError, match=r"entry 0: image .*white_10_3:21_10_3:21\.png.*image_folder"):
        read_conversations(OFFICIAL_JSON)
    entries = json.loads(OFFICIAL_JSON.read_text())
    for entry in entries:
        image = tmp_path / entry["image"]
        image.parent.mkdir(parents=True, exist_ok=True)
        write_image(image, np.zeros((4, 8, 3), np.uint8))
    conversations = read_conversations(OFFICIAL_JSON, image_folder=tmp_path)
    assert [c.answer for c in conversations][:3] == ["Mountain, sky", "Mountain", "mountain, ground"]
    assert conversations[0].question == P_INSTRUCT  # placeholder stripped, prompt p verbatim


def test_bad_conversation_entries_are_named(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps([{"image": "x.png", "conversations": [{"from": "human", "value": "hi"}]}]))
    with pytest.raises(ValueError, match="entry 0: g_text trains on one turn"):
        read_conversations(path)
    (tmp_path / "x.png").write_bytes(b"")
    turns = [{"from": "human", "value": "<image>\nq"}, {"from": "gpt", "value": "  "}]
    path.write_text(json.dumps([{"image": "x.png", "conversations": turns}]))
    with pytest.raises(ValueError, match="entry 0: empty answer"):
        read_conversations(path)


def test_side_by_side_and_square_padding_keep_both_images() -> None:
    current, target = np.zeros((10, 20, 3), np.uint8), np.full((5, 10, 3), 200, np.uint8)
    pair = side_by_side(current, target)
    assert pair.shape == (10, 40, 3)
    assert (pair[:, :20] == 0).all() and (pair[:, 20:] == 200).all()  # target at the current's height
    square = pad_to_square(pair, (1, 2, 3))
    assert square.shape == (40, 40, 3)
    assert (square[15:25] == pair).all() and (square[:15] == (1, 2, 3)).all()


def test_training_and_inference_compose_the_same_image(tmp_path: Path, monkeypatch) -> None:
    """g_text trains on the images build_conversation_json writes and sees TextGenerator's at inference."""
    rng = np.random.default_rng(0)
    current = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    target = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)  # another size and aspect: a resize happens
    write_image(tmp_path / "prev.png", current)
    write_image(tmp_path / "target.png", target)
    rows = pd.DataFrame([{"pair_id": "v/000", "video_id": "v", "prev_path": str(tmp_path / "prev.png"),
                          "target_path": str(tmp_path / "target.png"), "text": "sky"}])  # fmt: skip
    json_path = build_conversation_json(rows, tmp_path / "conversations")
    trained_on = read_rgb(json_path.parent / json.loads(json_path.read_text())[0]["image"])

    seen: list[np.ndarray] = []

    def capture(processor, images, prompt):
        seen.extend(images)
        raise StopIteration  # the images are all this test needs

    monkeypatch.setattr("training.text_generator.inference.encode_generation_batch", capture)
    with pytest.raises(StopIteration):
        TextGenerator(torch.nn.Linear(1, 1), processor=None).raw_answers([(current, target)])
    assert seen[0].shape == trained_on.shape == (24, 40 + 32, 3)
    assert np.array_equal(seen[0], trained_on)


def test_labels_cover_only_the_answer(tmp_path: Path) -> None:
    processor = load_processor(build_tiny_llava(tmp_path / "m", ["distant mountains"], image_size=16))
    ids, labels = tokenize_example(processor, P_INSTRUCT, "distant mountains")
    kept = [i for i, label in zip(ids, labels, strict=True) if label != IGNORE_INDEX]
    assert processor.tokenizer.decode(kept) == " distant mountains</s>"
    assert ids.count(processor.image_token_id) == 4  # (16 / 8)^2 image tokens, all ignored by the loss
    batch = encode_training_batch(
        processor, [np.zeros((8, 16, 3), np.uint8)] * 2, [P_INSTRUCT] * 2, ["sky", "distant mountains"]
    )
    assert batch["pixel_values"].shape == (2, 3, 16, 16)
    short = int(batch["attention_mask"][0].sum())
    assert (batch["labels"][0, short:] == IGNORE_INDEX).all() and batch["attention_mask"][0, short:].sum() == 0


def test_tiny_preset_learns_the_labels_and_loads_for_inference(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "data", ["sky", "grass", "distant mountains"] * 2)
    losses: list[float] = []
    result = train_text_generator(
        data, TEST_TINY, tmp_path / "run", epochs=40, lr=3e-3, batch_size=6, log=lambda s, m: losses.append(m["loss"])
    )
    assert result.steps == 40 and len(losses) == 40 and result.extra["base_model"] is None
    assert np.mean(losses[-3:]) < 0.2 * np.mean(losses[:3])
    generator = TextGenerator.load(result.model_dir)
    pairs = [_pair(COLOURS[label]) for label in ("grass", "sky", "distant mountains")]
    assert generator.generate_batch(pairs) == ["grass", "sky", "distant mountains"]
    assert generator.generate(*pairs[0]) == "grass"


@pytest.mark.parametrize("recipe", ["tiny", "lora"])
def test_a_killed_run_resumes_from_its_last_checkpoint(tmp_path: Path, recipe: str) -> None:
    data = _dataset(tmp_path / "data", ["sky", "grass", "sky", "grass"])
    # with the optimizer state in the checkpoints: an exact resume
    kwargs: dict = {"epochs": 3, "lr": 1e-3, "batch_size": 2, "save_every": 2, "save_optimizer_state": True}
    if recipe == "lora":
        base = build_tiny_llava(tmp_path / "base", ["sky", "grass"], image_size=16)
        kwargs.update(base_model=base, micro_batch_size=1)  # accumulation path as well
        preset = get_preset("paper").with_overrides(lora_rank=4, lora_alpha=8, lora_dropout=0.1)
    else:
        preset = TEST_TINY
    full = train_text_generator(data, preset, tmp_path / "full", **kwargs)

    def crash_at_3(step: int, metrics: dict) -> None:
        logged.append(step)
        if step == 3:
            raise KeyboardInterrupt("killed")

    logged: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        train_text_generator(data, preset, tmp_path / "killed", log=crash_at_3, **kwargs)
    assert not (tmp_path / "killed" / "final").exists()
    logged.clear()
    resumed = train_text_generator(data, preset, tmp_path / "killed", log=lambda s, m: logged.append(s), **kwargs)
    assert resumed.resumed_from == 2 and logged == [3, 4, 5, 6] and resumed.resumed_optimizer_state
    name = "adapter_model.safetensors" if recipe == "lora" else "model.safetensors"
    a, b = load_file(full.model_dir / name), load_file(resumed.model_dir / name)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    # a restart with other settings must not silently continue these checkpoints
    with pytest.raises(ValueError, match="different preset"):
        train_text_generator(data, preset, tmp_path / "killed", **{**kwargs, "lr": 5e-3})


def test_paper_recipe_trains_a_lora_adapter_on_the_llama_only(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "data", ["sky", "grass"])
    base = build_tiny_llava(tmp_path / "base", ["sky", "grass"], image_size=16)
    preset = get_preset("paper").with_overrides(lora_rank=4, lora_alpha=8, projector_lr=1e-2)
    result = train_text_generator(data, preset, tmp_path / "run", epochs=2, lr=1e-2, batch_size=2, base_model=base)
    assert result.extra["base_model"] == str(base)
    assert not (result.model_dir / "model.safetensors").exists()  # only the adapter is saved
    adapter = load_file(result.model_dir / "adapter_model.safetensors")
    assert any("language_model" in k and "lora_A" in k for k in adapter)
    assert not any("vision_tower" in k for k in adapter)  # CLIP stays frozen, no LoRA there
    original = load_file(base / "model.safetensors")
    projector = [k for k in adapter if "multi_modal_projector.linear_1.weight" in k]
    assert len(projector) == 1  # the projector is trained in full and saved with the adapter
    (before,) = [v for k, v in original.items() if k.endswith("multi_modal_projector.linear_1.weight")]
    assert not torch.equal(adapter[projector[0]], before)
    pairs = [_pair(COLOURS["sky"]), _pair(COLOURS["grass"])]
    from_final = TextGenerator.load(result.model_dir).raw_answers(pairs)  # base model found from the metadata
    explicit = TextGenerator.load(base, adapter=result.model_dir).raw_answers(pairs)
    untuned = TextGenerator.load(base).raw_answers(pairs)
    assert from_final == explicit
    assert from_final != untuned


def test_missing_weights_give_a_clear_error(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "data", ["sky"])
    with pytest.raises(OSError, match=r"could not load LLaVA weights from .*nowhere.*tiny"):
        train_text_generator(data, "paper", tmp_path / "run", base_model=tmp_path / "nowhere")
