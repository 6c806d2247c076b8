"""Auto-labelling throughput of the `llava` backend: seconds per pair at batch 1 vs batch 8.

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.llava_throughput [--pairs 32] [--repeats 3]

Runs the real `LlavaLabeller` code path (processor, chat template, left padding, greedy `generate`) on
the tiny random LLaVA of `training.tiny_llava` (32-px CLIP tower, 2-layer Llama, built into a temporary
folder), with 512x384 pair images as the pipeline writes them. Random weights rarely emit EOS, so
both batch sizes generate about `max_new_tokens` tokens per pair. Reports the median over repeats,
alternating batch sizes so a busy machine affects both alike.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from training.labels.llava import LlavaLabeller
from training.tiny_llava import build_tiny_llava


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    pairs = [
        (rng.integers(0, 255, (384, 512, 3), dtype=np.uint8), rng.integers(0, 255, (384, 512, 3), dtype=np.uint8))
        for _ in range(args.pairs)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_llava(Path(tmp) / "tiny-llava", ["sky", "mountains", "lake"])
        labeller = LlavaLabeller(model, device="cpu", max_new_tokens=args.max_new_tokens)
        labeller.batch_size = 8
        labeller.label(pairs[:8])  # warm-up
        times: dict[int, list[float]] = {1: [], 8: []}
        answers = {}
        for _ in range(args.repeats):
            for batch in (1, 8):
                labeller.batch_size = batch
                start = time.perf_counter()
                answers[batch] = labeller.raw_answers(pairs)
                times[batch].append((time.perf_counter() - start) / len(pairs))
    per_pair = {b: statistics.median(t) for b, t in times.items()}
    print(f"{args.pairs} pairs of 512x384, max_new_tokens={args.max_new_tokens}, {args.repeats} repeats (median)")
    for batch, seconds in per_pair.items():
        print(f"  batch {batch}: {seconds * 1000:.1f} ms per pair")
    print(f"  speed-up batch 8 vs 1: {per_pair[1] / per_pair[8]:.1f}x; same answers: {answers[1] == answers[8]}")


if __name__ == "__main__":
    main()
