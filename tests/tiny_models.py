"""Tiny random-weight models, saved to disk exactly as their real counterparts are shipped.

Tests never download weights: they build one of these in a temporary folder and load it through the
same loader a GPU user runs with a hub id or a checkpoint. To add a model family, write a
`build_tiny_<family>(path: Path) -> Path` that creates `path`, saves the model there and returns
what the loader takes (a directory or a checkpoint file), then register it in `TINY_MODELS`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

# Grounding DINO hard-codes BERT's ids of [CLS], [SEP], "." and "?" (SPECIAL_TOKENS in
# modeling_grounding_dino) to split the prompt into phrases, so a tiny vocabulary keeps them there.
_BERT_FIXED_IDS = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]", 1012: ".", 1029: "?"}
PROMPT_WORDS = ("canvas", "painting", "hand", "paint", "##brush", "brush", "a", "the", "of")


def write_bert_vocab(path: Path, words: tuple[str, ...] = PROMPT_WORDS) -> Path:
    """A WordPiece vocab.txt with BERT's special-token ids, filler tokens, then `words`."""
    size = max(_BERT_FIXED_IDS) + 1
    tokens = [_BERT_FIXED_IDS.get(i, f"[unused{i}]") for i in range(size)] + list(words)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return path


def _read_vocab(path: Path) -> dict[str, int]:
    return {token: i for i, token in enumerate(path.read_text(encoding="utf-8").splitlines())}


def build_tiny_grounding_dino(path: Path, seed: int = 0) -> Path:
    """A Grounding DINO directory (config, safetensors, processor, tokenizer) loadable like a hub id.

    Swin backbone and BERT text encoder come from local configs (no timm, no download); widths are
    the smallest the architecture accepts (d_model a multiple of 32 for its GroupNorm, two decoder
    layers for its tied box heads). The image processor resizes to a 64-pixel short side.
    """
    from transformers import (
        BertConfig,
        BertTokenizerFast,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SwinConfig,
    )

    path.mkdir(parents=True, exist_ok=True)
    vocab = _read_vocab(write_bert_vocab(path / "vocab.txt"))
    backbone = SwinConfig(
        image_size=64,
        patch_size=4,
        embed_dim=8,
        depths=[1, 1, 1, 1],
        num_heads=[1, 1, 1, 1],
        window_size=4,
        out_features=["stage2", "stage3", "stage4"],
    )
    text = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    config = GroundingDinoConfig(
        backbone_config=backbone,
        text_config=text,
        d_model=32,
        encoder_layers=1,
        decoder_layers=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        num_queries=20,
        num_feature_levels=4,
        encoder_n_points=2,
        decoder_n_points=2,
        max_text_len=32,
    )
    torch.manual_seed(seed)
    GroundingDinoForObjectDetection(config).save_pretrained(path)
    processor = GroundingDinoProcessor(
        image_processor=GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}),
        tokenizer=BertTokenizerFast(vocab=vocab),
    )
    processor.save_pretrained(path)
    return path


TINY_SAM_MODEL_TYPE = "tiny"


def build_tiny_sam(path: Path, seed: int = 0) -> Path:
    """A SAM state-dict checkpoint `path/sam_tiny.pth`; load it with model_type `TINY_SAM_MODEL_TYPE`."""
    from training.data.grounding_dino import build_sam_model

    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    checkpoint = path / "sam_tiny.pth"
    torch.save(build_sam_model(TINY_SAM_MODEL_TYPE).state_dict(), checkpoint)
    return checkpoint


TINY_MODELS: dict[str, Callable[[Path], Path]] = {
    "grounding_dino": build_tiny_grounding_dino,
    "sam": build_tiny_sam,
}


def build_tiny(name: str, root: Path) -> Path:
    """Build the tiny model `name` (a key of `TINY_MODELS`) under `root/name` and return its load path."""
    if name not in TINY_MODELS:
        raise KeyError(f"no tiny model {name!r}; known: {sorted(TINY_MODELS)}")
    return TINY_MODELS[name](root / name)
