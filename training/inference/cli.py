"""`inverse-painting paint IMAGE --out DIR`: reconstruct the painting process of one painting."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from training.data.images import read_rgb, write_image
from training.data.previews import frame_strip
from training.data.storage import atomic_dir
from training.data.video_writer import write_mp4
from training.inference.paint import PaintConfig, PaintResult, paint
from training.plots import curves_png
from training.tracking import REGISTERED_MODELS


def resolve_model(explicit: Path | None, registered: str, tracking_uri: str) -> Path:
    """The given folder, else the newest registered version of ``registered`` in the MLflow registry."""
    from training.tracking import registered_model_path

    if explicit is not None:
        if not explicit.is_dir():
            raise FileNotFoundError(f"{explicit}: no such model folder (a save_pretrained directory)")
        return explicit
    return registered_model_path(tracking_uri, registered)


def write_outputs(result: PaintResult, size: tuple[int, int], out: Path, fps: float = 2.0) -> list[Path]:
    """Keyframes ``NNN.png`` (000 = white canvas) at the painting's size, ``process.mp4``, ``steps.jpg`` (each
    update with its text and mask) and ``distance.png`` (D̄ to the target after each update)."""
    width, height = size
    frames = [np.full((height, width, 3), 255, np.uint8)]
    frames += [cv2.resize(step.image, (width, height), interpolation=cv2.INTER_CUBIC) for step in result.steps]
    with atomic_dir(out) as tmp:
        for index, frame in enumerate(frames):
            write_image(tmp / f"{index:03d}.png", frame)
        write_mp4(frames, tmp / "process.mp4", fps=fps)
        tiles, captions = [], []
        for step in result.steps:
            mask = np.repeat((step.mask.astype(np.uint8) * 255)[:, :, None], 3, axis=2)
            tiles += [step.image, cv2.resize(mask, step.image.shape[1::-1], interpolation=cv2.INTER_NEAREST)]
            captions += [step.text or "(no text)", "mask"]
        if tiles:
            write_image(tmp / "steps.jpg", frame_strip(tiles, captions, height=128))
        curve = result.distance_curve()
        curves_png(
            {"painting": (np.arange(len(curve), dtype=float), np.array(curve))},
            tmp / "distance.png",
            "canvas update",
            f"D̄(target, canvas) [{result.distance_name}]",
            f"{len(result.steps)} updates, stopped: {result.stop_reason}",
        )
    return sorted(out.iterdir())


def add_paint_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("paint", help="reconstruct the painting process of one painting with the trained models")
    p.add_argument("image", type=Path, metavar="IMAGE")
    p.add_argument("--out", type=Path, required=True, help="output folder (replaced as a whole)")
    p.add_argument("--renderer", type=Path, default=None, help="model folder (default: newest registered version)")
    p.add_argument("--mask-generator", type=Path, default=None)
    p.add_argument("--text-generator", type=Path, default=None)
    p.add_argument("--data-root", type=Path, default=None, help="finds the MLflow store: <data root>/mlflow.db")
    p.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: sqlite in the data root)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps S per update (default: the renderer's own)")
    p.add_argument("--dt", type=float, default=PaintConfig.dt_s, help="Δt between updates, seconds")
    p.add_argument("--max-updates", type=int, default=PaintConfig.max_steps)
    p.add_argument("--distance", choices=("auto", "lpips", "colour-structure"), default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_paint_cli)
    return p


def run_paint_cli(args: argparse.Namespace) -> int:
    from training.data.difference import make_backend
    from training.models.mask_generator import load_mask_generator
    from training.models.renderer import load_renderer
    from training.text_generator import TextGenerator

    data_root = args.data_root or Path(os.environ.get("INVERSE_PAINTING_DATA_ROOT") or "data")
    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{data_root.resolve() / 'mlflow.db'}"
    try:
        target = read_rgb(args.image)
        renderer = load_renderer(resolve_model(args.renderer, REGISTERED_MODELS["renderer"], uri))
        masks = load_mask_generator(resolve_model(args.mask_generator, REGISTERED_MODELS["mask_generator"], uri))
        text = TextGenerator.load(resolve_model(args.text_generator, REGISTERED_MODELS["text_generator"], uri))
    except (FileNotFoundError, LookupError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = PaintConfig(num_inference_steps=args.steps, dt_s=args.dt, max_steps=args.max_updates, seed=args.seed)
    bar = tqdm(total=config.max_steps, desc="canvas updates", unit="update")

    def on_step(index: int, step) -> None:
        bar.update(1)
        bar.set_postfix(text=step.text, D=f"{step.distance_to_target:.3f}", s=f"{step.seconds:.2f}")

    result = paint(target, renderer, masks, text.generate, make_backend(args.distance), config, on_step=on_step)
    bar.close()
    written = write_outputs(result, (target.shape[1], target.shape[0]), args.out)
    seconds = [step.seconds for step in result.steps]
    per_update = f"{np.mean(seconds):.2f} s per canvas update (max {max(seconds):.2f})" if seconds else "no update"
    curve = result.distance_curve()
    print(
        f"{len(result.steps)} updates ({result.stop_reason}), D̄ to the target {curve[0]:.3f} -> {curve[-1]:.3f} "
        f"[{result.distance_name}], {per_update}; wrote {len(written)} files to {args.out}"
    )
    return 0
