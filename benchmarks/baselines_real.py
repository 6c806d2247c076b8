"""The weight-free baselines on a real painting of the authors' release: metrics and timings.

    .venv/bin/python -m benchmarks.baselines_real [--gt DIR] [--dt 20] [--steps K | --duration SECONDS]
        [--long-side 512] [--distance auto]

``--gt`` defaults to the official sample (``shared/realdata/official_sample/sample_data/train/rgb/example``
beside the repository). Each baseline makes K keyframes of the painting's target: ``--steps K``, or
K = round(mean training duration / Δt) with ``--duration`` (default: the paper's 561 s), never from the
painting's own duration. "make s" is the baseline's own time, "score s" the five metrics' (FID only when
its weights are cached).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from benchmarks.realdata import OFFICIAL_SAMPLE
from evaluation.baselines import BASELINES, DEFAULT_DT_S
from evaluation.budget import resolve_baseline_steps
from evaluation.cli import add_step_options
from evaluation.metrics.fid import FID_WEIGHTS_URL, load_fid_or_reason
from evaluation.metrics.score import json_ready, score_sequence
from evaluation.sequences import DEFAULT_LONG_SIDE, load_ground_truth, sequence_from_frames
from training.data.difference import is_true_lpips, make_backend

DEFAULT_GT = OFFICIAL_SAMPLE / "sample_data/train/rgb/example"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gt", type=Path, default=DEFAULT_GT)
    parser.add_argument("--dt", type=float, default=DEFAULT_DT_S)
    add_step_options(parser)
    parser.add_argument("--long-side", type=int, default=DEFAULT_LONG_SIDE)
    parser.add_argument("--distance", default="auto", choices=("auto", "lpips", "colour-structure"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.gt.is_dir():
        print(f"error: {args.gt} is not a folder; pass --gt <painting folder of the released layout>", file=sys.stderr)
        return 2
    gt = load_ground_truth(args.gt, long_side=args.long_side)
    distance = make_backend(args.distance)
    fid, reason = load_fid_or_reason(FID_WEIGHTS_URL)
    k, steps_note = resolve_baseline_steps(args.steps, args.duration, args.dt)
    print(
        f"painting {gt.name}: {len(gt.recorded())} keyframes over {gt.duration_s / 60:.2f} min, "
        f"{gt.size[0]}x{gt.size[1]}; {steps_note}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"
    )
    label = "LPIPS↓" if is_true_lpips(distance.name) else "D↓"  # the distance is LPIPS only when it is
    header = f"{'method':<15}{label:>8}{'IoU↑':>8}{'DDC↓':>8}{'DTS↓':>8}{'FID↓':>8}{'make s':>8}{'score s':>9}"
    print(header)
    for name, baseline in BASELINES.items():
        start = time.perf_counter()
        frames = baseline(gt.target, k, args.seed)
        made = time.perf_counter() - start
        seq = sequence_from_frames(name, frames, args.dt, gt.size)
        start = time.perf_counter()
        s = json_ready(score_sequence(gt, seq, distance, args.dt, fid, reason))
        scored = time.perf_counter() - start
        fid_text = "n/a" if s["fid"] is None else f"{s['fid']:.1f}"
        print(
            f"{name:<15}{s['distance']:>8.3f}{s['iou']:>8.3f}{s['ddc']:>8.3f}{s['dts']:>8.3f}{fid_text:>8}"
            f"{made:>8.2f}{scored:>9.2f}"
        )
    fid_text = fid.name if fid else f"unavailable: {reason}"
    print(f"distance: {distance.name} (α = {distance.threshold:g}); FID: {fid_text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
