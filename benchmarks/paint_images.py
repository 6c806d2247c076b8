"""`paint` on paintings and photographs it never saw: the distance curve, the stop rule, the final D, speed.

    OMP_NUM_THREADS=2 .venv/bin/python -m benchmarks.paint_images --data-root data [IMAGE ...]

Paints every image (default: the five paintings of the paper's released demo beside the repository, and three
photographs that ship with scikit-image) with the models registered in the data root, as `inverse-painting
paint` does, and prints per image: updates and why the loop stopped, D̄(I_T, canvas) at the start and the end,
the share of updates that brought the canvas closer to the target, and the seconds per update (mean, max, and
the spread after the first, which loads nothing but warms the caches). Writes each painting's frames, process
video and distance curve under ``--out``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np

from benchmarks.realdata import OFFICIAL_SAMPLE
from training.data.images import read_rgb
from training.data_root import DataRoot
from training.inference.paint import PaintConfig, paint

REALDATA_DEMO = OFFICIAL_SAMPLE / "demo"
PHOTOGRAPHS = ("astronaut", "coffee", "chelsea")  # skimage.data: bundled with the package, no download


def default_images() -> dict[str, np.ndarray]:
    from skimage import data

    images = {p.stem: read_rgb(p) for p in sorted(REALDATA_DEMO.glob("*.jpg"))}
    images.update({f"photo-{name}": getattr(data, name)()[..., :3] for name in PHOTOGRAPHS})
    return images


def main(argv: list[str] | None = None) -> None:
    from evaluation.reconstruct import load_registered_models
    from training.data.difference import make_backend
    from training.inference.cli import write_outputs

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="*", type=Path)
    ap.add_argument("--data-root", type=Path, default=Path("data"))
    ap.add_argument("--out", type=Path, default=None, help="default: <data root>/benchmarks/paint_images")
    ap.add_argument("--dt", type=float, default=None, help="Δt of the updates (default: the dataset's mean)")
    args = ap.parse_args(argv)
    layout = DataRoot(args.data_root)
    out = args.out or layout.benchmark_outputs_dir("paint_images")
    images = {p.stem: read_rgb(p) for p in args.images} if args.images else default_images()
    models = load_registered_models(layout.default_tracking_uri)
    dt = args.dt
    if dt is None:
        import json

        import pandas as pd

        latest = json.loads(layout.latest_dataset_path.read_text())
        dt = round(float(pd.read_parquet(latest["manifest"])["dt_s"].mean()), 1)
    distance = make_backend("auto")
    print("| image | size | updates | stop | D̄ start | D̄ end | closer | s/update mean | max | spread after 1st |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, image in images.items():
        result = paint(image, models.renderer, models.mask_generator, models.text_generator.generate, distance,
                       PaintConfig(dt_s=dt))  # fmt: skip
        write_outputs(result, (image.shape[1], image.shape[0]), out / name)
        curve = result.distance_curve()
        closer = np.mean(np.diff(curve) < 0) if result.steps else 0.0
        seconds = np.array([s.seconds for s in result.steps])
        spread = float(seconds[1:].max() - seconds[1:].min()) if len(seconds) > 2 else 0.0
        print(
            f"| {name} | {image.shape[1]}x{image.shape[0]} | {len(result.steps)} | {result.stop_reason} | "
            f"{curve[0]:.3f} | {curve[-1]:.3f} | {closer:.0%} | {seconds.mean():.3f} | {seconds.max():.3f} | "
            f"{spread:.3f} |",
            flush=True,
        )
    print(f"\ndistance: {distance.name}; Δt {dt} s; frames, process.mp4 and distance.png in {out}")


if __name__ == "__main__":
    main()
