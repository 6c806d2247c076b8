"""Issue 16's first diagnosis: the tiny renderer overfits one pair (given I_{t-1}, I_T, the true mask, the text and
Δt, a few hundred steps make it reproduce I_t: D̄ < 0.05).

A benchmark rather than a test: 450 steps take 50-85 s on a 2-core CPU, more than the test suite can spend
(tests/training/test_renderer_learns.py keeps the cheaper diagnoses). Exits 1 when the target is missed.

    python -m benchmarks.renderer_overfit [--steps 450] [--lr 2e-3]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from training.data.difference import make_backend, mean_distance
from training.data.images import read_gray, read_rgb
from training.models.presets import tiny_preset
from training.models.renderer import Guidance, load_renderer
from training.train.renderer import train_renderer
from training.train.synthetic_manifest import build_synthetic_manifest

TARGET_D = 0.05


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=450)
    ap.add_argument("--lr", type=float, default=2e-3)
    args = ap.parse_args(argv)
    distance = make_backend("colour-structure")

    def d(a: np.ndarray, b: np.ndarray) -> float:
        return mean_distance(distance.maps(a[None], b[None])[0])

    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        manifest = build_synthetic_manifest(
            root / "data", paintings=2, seed=11, duration_s=30.0, dt_range_s=(6.0, 9.0), val_paintings=0
        )
        # a pair in the middle of a painting: new paint over old
        rows = manifest[manifest["painting"] == manifest["painting"].iloc[0]].iloc[[2]]
        started = time.perf_counter()
        result = train_renderer(
            rows, tiny_preset(root / "base"), root / "run", steps=args.steps, lr=args.lr, batch_size=1, seed=0
        )
        seconds = time.perf_counter() - started
        renderer = load_renderer(result.model_dir)
        row, r = rows.iloc[0], renderer.resolution
        # at the renderer's resolution: at the canvas size the new strokes are finer than its 64 px
        current, following, target = (
            cv2.resize(read_rgb(Path(p)), (r, r), interpolation=cv2.INTER_AREA)
            for p in (row.prev_path, row.next_path, row.target_path)
        )
        mask = cv2.resize((read_gray(Path(row.mt_mask_path)) > 127).astype(np.uint8), (r, r)) > 0
        out = renderer.generate(
            current,
            target,
            row.text,
            mask,
            row.dt_s,
            num_steps=1,
            guidance=Guidance(1.0, 1.0, 1.0, 1.0),
            generator=torch.Generator().manual_seed(0),
        )
    reached, copy = d(out, following), d(current, following)
    print(f"{args.steps} steps at lr {args.lr} in {seconds:.1f} s: D̄(output, I_t) {reached:.4f}")
    verdict = "met" if reached < TARGET_D else "MISSED"
    print(f"D̄(I_t-1, I_t) {copy:.4f} (copying the canvas); target D̄ < {TARGET_D}: {verdict}")
    return 0 if reached < TARGET_D < copy else 1


if __name__ == "__main__":
    sys.exit(main())
