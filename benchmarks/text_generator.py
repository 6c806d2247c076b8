"""Does the tiny text generator g_text learn anything? Exact-match accuracy vs the majority label.

Training data come from the synthetic studio's ground truth (paintings of seeds the tests do not use):
for every layer k of a painting, the current canvas I_{t-1} is the studio's canvas right before the
layer's first stroke (blank for k = 0), the target I_T is the finished painting, and the answer is the
layer's `label` ("sky", "distant mountains", ...). Each pair is stored as the side-by-side image the
model sees, in a LLaVA conversation JSON with prompt p (App. A.2). Paintings are split: the first
`--train` seeds train, the next `--test` seeds are held out.

Reported: exact-match accuracy of the normalised answer on the held-out pairs, for the trained tiny
model and for always answering the most frequent training label; the train time.

Run from the repository root:

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.text_generator --train 80 --test 20
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from training.data.images import write_image
from training.data.studio import Studio, StudioConfig
from training.labels.prompts import P_INSTRUCT, normalise
from training.text_generator import (
    Conversation,
    TextGenerator,
    get_preset,
    side_by_side,
    train_text_generator,
    write_conversations,
)

SEED_BASE = 5000  # studio seeds of this benchmark (tests use small seeds)


def studio_pairs(seed: int, side: int = 48) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(current canvas before layer k, finished painting, label of layer k) for every layer of one painting.

    Canvases are resized to `side` x `side` (the model sees a square side-by-side pair anyway).
    """
    studio = Studio(f"textgen-{seed}", seed, StudioConfig(duration_s=10, size=(160, 120), canvas_long_side=96))
    final = cv2.resize(studio.final(), (side, side), interpolation=cv2.INTER_AREA)
    pairs = []
    for layer in studio.layers:
        before = cv2.resize(studio.paint.at(layer.first), (side, side), interpolation=cv2.INTER_AREA)
        pairs.append((before, final, layer.label))
    return pairs


def build_dataset(root: Path, seeds: list[int], side: int = 48) -> Path:
    """Write side-by-side PNGs and `conversations.json` for the paintings of `seeds` under `root`."""
    conversations = []
    for seed in seeds:
        for k, (current, target, label) in enumerate(studio_pairs(seed, side)):
            image = root / "images" / f"{seed}_{k:02d}.png"
            image.parent.mkdir(parents=True, exist_ok=True)
            write_image(image, side_by_side(current, target))
            conversations.append(Conversation(f"{seed}_{k}", image, P_INSTRUCT, label))
    return write_conversations(conversations, root / "conversations.json")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=80, help="training paintings")
    parser.add_argument("--test", type=int, default=20, help="held-out paintings")
    parser.add_argument("--epochs", type=int, default=None, help="default: the tiny preset's")
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int, default=None, help="tiny model input side (default: preset's)")
    parser.add_argument("--hidden", type=int, default=None, help="tiny model width (default: preset's)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/text_generator_benchmark"))
    args = parser.parse_args(argv)

    shutil.rmtree(args.work, ignore_errors=True)
    train_seeds = [SEED_BASE + i for i in range(args.train)]
    test_seeds = [SEED_BASE + args.train + i for i in range(args.test)]
    t0 = time.perf_counter()
    conversation_json = build_dataset(args.work / "data", train_seeds)
    test = [p for s in test_seeds for p in studio_pairs(s)]
    data_s = time.perf_counter() - t0

    losses: list[float] = []
    result = train_text_generator(
        conversation_json,
        get_preset("tiny").with_overrides(tiny_image_size=args.image_size, tiny_hidden_size=args.hidden),
        args.work / "run",
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        log=lambda step, m: losses.append(m["loss"]),
    )
    generator = TextGenerator.load(result.model_dir)
    t1 = time.perf_counter()
    answers = generator.generate_batch([(cur, tgt) for cur, tgt, _ in test], batch_size=32)
    infer_s = time.perf_counter() - t1

    truth = [normalise(label) for _, _, label in test]
    train_labels = Counter(normalise(c) for c in _train_answers(conversation_json))
    majority, _ = train_labels.most_common(1)[0]
    accuracy = float(np.mean([a == t for a, t in zip(answers, truth, strict=True)]))
    baseline = float(np.mean([majority == t for t in truth]))
    print(
        f"data: {result.extra['examples']} training pairs from {args.train} paintings ({data_s:.1f} s), "
        f"{len(test)} held-out pairs from {args.test} paintings"
    )
    print(
        f"train: {result.extra['epochs']} epochs, {result.steps} steps in {result.seconds:.1f} s; "
        f"loss {np.mean(losses[:5]):.3f} (first 5 steps) -> {np.mean(losses[-5:]):.3f} (last 5)"
    )
    print(
        f"held-out exact match: tiny g_text {accuracy:.3f} | majority '{majority}' {baseline:.3f} "
        f"(inference {infer_s:.1f} s)"
    )
    print("answers:", Counter(answers).most_common(8))


def _train_answers(conversation_json: Path) -> list[str]:
    from training.text_generator import read_conversations

    return [c.answer for c in read_conversations(conversation_json)]


if __name__ == "__main__":
    main()
