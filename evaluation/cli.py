"""``inverse-painting benchmark``: score an external sequence, or the weight-free baselines, against one painting.

The lead hooks :func:`add_benchmark_parser` into ``pipelines/cli.py``; :func:`run_benchmark_cli` is the
command (exit 0 on success, 2 on bad input with a message naming the path and the fix).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from evaluation.baselines import BASELINES, DEFAULT_DT_S, run_baseline
from evaluation.budget import PAPER_MEAN_DURATION_S, resolve_baseline_steps
from evaluation.metrics.fid import FID_WEIGHTS_URL, load_fid_or_reason
from evaluation.metrics.score import METRICS, json_ready, public_names, score_sequence
from evaluation.sequences import DEFAULT_LONG_SIDE, load_generated, load_ground_truth
from training.argtypes import int_in_range, positive_float
from training.data.difference import is_true_lpips

# Checked while parsing (argparse names the option): NaN, infinities, 0 and negatives are refused.
_positive = positive_float("seconds", "20")
_positive_int = int_in_range(1, unit="steps")


def add_step_options(parser: argparse.ArgumentParser) -> None:
    """``--steps K`` / ``--duration SECONDS``: how many keyframes the baselines make, from training data."""
    steps = parser.add_mutually_exclusive_group()
    steps.add_argument(
        "--steps", type=_positive_int, help="baselines: keyframes K per painting (e.g. the training set's mean)"
    )
    steps.add_argument(
        "--duration",
        type=_positive,
        help="baselines: mean duration of the training paintings in seconds, K = round(duration / Δt) "
        f"(default: the paper's mean training video duration, {PAPER_MEAN_DURATION_S:g} s; never the --gt "
        "painting's own duration, which would hand the baselines the DTS metric)",
    )


def add_benchmark_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``benchmark`` subcommand; its handler is ``args.func = run_benchmark_cli``."""
    p = subparsers.add_parser(
        "benchmark",
        help="score a generated painting sequence (or the weight-free baselines) against a real one",
        description=(
            "Metrics of the paper (LPIPS, or without its weights a distance named after its backend; IoU, DDC, DTS, "
            "FID) of one generated sequence against one ground truth. "
            "--gt: a painting folder of the released layout ({index}_{m:ss}.jpg; white canvas at 0 implied, "
            "last frame = target). --frames: Î_1 … Î_K in natural name order, frame k at k·Δt. --baselines: "
            "each makes K keyframes from the training data (--steps, --duration), never from the --gt painting."
        ),
    )
    p.add_argument("--gt", type=Path, default=None, help="ground-truth folder ({index}_{m:ss}.jpg keyframes)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--frames", type=Path, help="folder of generated keyframes Î_1 … Î_K")
    source.add_argument("--baselines", action="store_true", help="run and score the weight-free baselines")
    p.add_argument("--dt", type=_positive, help=f"seconds between generated frames (baselines: {DEFAULT_DT_S:g})")
    add_step_options(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--distance", choices=("auto", "lpips", "colour-structure"), default="auto")
    p.add_argument(
        "--long-side", type=int_in_range(16), default=DEFAULT_LONG_SIDE, help="cap of the comparison resolution (>= 16)"
    )
    p.add_argument(
        "--fid-weights",
        default=FID_WEIGHTS_URL,
        help="pytorch-fid Inception checkpoint: local path or URL (read from the torch hub cache); 'none' disables",
    )
    p.add_argument("--seed", type=int_in_range(0), default=0, help="seed of the stochastic baselines (>= 0)")
    p.set_defaults(func=run_benchmark_cli)
    return p


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _table(rows: list[dict[str, Any]]) -> str:
    cols = ["method", *METRICS, "seconds"]
    # the distance column is "lpips" only when it is; other backends' numbers are a distance D (named below)
    names = {"distance": "lpips" if is_true_lpips(str(rows[0]["distance_backend"])) else "D"}
    lines = [" ".join(f"{names.get(c, c):>14}" for c in cols)]
    for row in rows:
        cells = []
        for c in cols:
            v = row.get(c)
            cells.append(f"{'n/a' if v is None else (f'{v:.4f}' if isinstance(v, float) else str(v)):>14}")
        lines.append(" ".join(cells))
    first = rows[0]
    lines.append(
        f"distance backend: {first['distance_backend']} (α = {first['mask_threshold']:g}), Δt = {first['dt_s']:g} s"
    )
    lines.append(f"FID: {first['fid_backend'] or 'unavailable: ' + str(first['fid_reason'])}")
    return "\n".join(lines)


def run_benchmark_cli(args: argparse.Namespace) -> int:
    from training.data.difference import make_backend

    if args.gt is None or (args.frames is None and not args.baselines):
        return _fail("score a sequence with --gt DIR --frames DIR --dt S, or the baselines with --gt DIR --baselines")
    if args.long_side is not None and args.long_side < 16:
        return _fail(f"--long-side {args.long_side} is too small; use at least 16 (default {DEFAULT_LONG_SIDE})")
    if args.frames is not None and args.dt is None:
        return _fail("--frames needs --dt SECONDS: the time between the generated frames")
    if args.frames is not None and (args.steps is not None or args.duration is not None):
        return _fail("--steps and --duration set the baselines' keyframes; --frames is scored as it is")
    try:
        gt = load_ground_truth(args.gt, long_side=args.long_side)
        generated = (
            load_generated(args.frames, args.dt, size=gt.size, name=args.frames.name)
            if args.frames is not None
            else None
        )
    except (ValueError, FileNotFoundError) as exc:
        return _fail(str(exc))
    try:
        distance = make_backend(args.distance)
    except (RuntimeError, ValueError, OSError) as exc:
        return _fail(f"distance backend {args.distance!r}: {exc}")
    weights = None if str(args.fid_weights).lower() == "none" else args.fid_weights
    fid, reason = load_fid_or_reason(weights)

    rows: list[dict[str, Any]] = []
    k, steps_note = None, ""
    if generated is not None:
        start = time.perf_counter()
        rows.append(json_ready(score_sequence(gt, generated, distance, args.dt, fid, reason)))
        rows[-1]["seconds"] = round(time.perf_counter() - start, 3)
    else:
        dt = args.dt or DEFAULT_DT_S
        k, steps_note = resolve_baseline_steps(args.steps, args.duration, dt)
        for name in BASELINES:
            start = time.perf_counter()
            seq = run_baseline(name, gt, dt=dt, seed=args.seed, n_steps=k)
            scores = json_ready(score_sequence(gt, seq, distance, dt, fid, reason))
            scores["seconds"] = round(time.perf_counter() - start, 3)
            rows.append(scores)
    if args.json:
        # keys as users read them: the distance is "lpips" only when it is, else "distance_<backend>"
        rows = [public_names(row, str(row["distance_backend"])) for row in rows]
        payload: Any = (
            rows[0]
            if generated is not None
            else {"painting": gt.name, "baseline_steps": k, "steps_from": steps_note, "methods": rows}
        )
        print(json.dumps(payload, indent=2))
    else:
        w, h = gt.size
        print(f"painting {gt.name}: {len(gt.recorded())} real keyframes over {gt.duration_s / 60:.2f} min, {w}x{h}")
        print(_table(rows))
        if steps_note:
            print(f"baselines: {steps_note}")
    return 0
