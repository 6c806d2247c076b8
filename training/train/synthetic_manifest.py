"""A training manifest straight from synthetic-studio ground truth (tests, benchmark, demo without video).

Each studio painting is rendered stroke by stroke on its rectified canvas (no camera, no hand), keyframes
are taken every Δt seconds of painting time (Δt drawn per pair from ``dt_range_s``), the instruction text is
the label of the layer that received most strokes in the interval, and M_t / M_d come from the configured
perceptual distance, exactly as the data pipeline computes them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from training.data.difference import DistanceBackend, binarize, make_backend, to_soft_png
from training.data.images import write_image
from training.data.storage import atomic_path, write_parquet
from training.data.studio.config import StudioConfig
from training.data.studio.studio import Studio
from training.data.studio.video import studio_video_ids
from training.data_root import DataRoot


def _png(path: Path, image: np.ndarray) -> str:
    with atomic_path(path) as tmp:
        write_image(tmp, image)
    return str(path)


def build_synthetic_manifest(
    out_dir: Path | str,
    paintings: int = 8,
    seed: int = 0,
    canvas_long_side: int = 96,
    duration_s: float = 60.0,
    dt_range_s: tuple[float, float] = (3.0, 6.0),
    val_paintings: int = 2,
    distance: DistanceBackend | None = None,
) -> pd.DataFrame:
    """Write images and masks under ``out_dir`` and return the manifest (also saved as manifest.parquet)."""
    if paintings < 1 or not 0 <= val_paintings < paintings + 1:
        raise ValueError(f"need paintings >= 1 and 0 <= val_paintings <= paintings (got {paintings}, {val_paintings})")
    out_dir = Path(out_dir)
    distance = distance or make_backend("colour-structure")
    config = StudioConfig(duration_s=duration_s, size=(160, 120), fps=2, canvas_long_side=canvas_long_side)
    rng = np.random.default_rng(seed)
    children = np.random.SeedSequence(seed).spawn(paintings)
    rows = []
    for k, (video_id, child) in enumerate(zip(studio_video_ids(paintings, seed), children, strict=True)):
        studio = Studio(video_id, int(child.generate_state(1)[0]), config)
        times = studio.stroke_times
        layer_of = np.zeros(len(times), int)
        for layer in studio.layers:
            layer_of[layer.first : layer.last] = layer.index
        labels = {layer.index: layer.label for layer in studio.layers}
        folder = out_dir / video_id
        target = studio.paint.at(len(times)).copy()
        target_path = _png(folder / "target.png", target)
        t_prev, n_prev = 0.0, 0
        prev = studio.paint.at(0).copy()
        prev_path = _png(folder / "000.png", prev)
        split = "val" if k >= paintings - val_paintings else "train"
        step = 0
        while n_prev < len(times):
            dt = float(rng.uniform(*dt_range_s))
            t_next = t_prev + dt
            n_next = int(np.searchsorted(times, t_next * 1000.0, side="right"))
            if n_next == n_prev:
                t_prev = t_next  # nothing painted in this interval (a pause): no pair
                continue
            step += 1
            nxt = studio.paint.at(n_next).copy()
            next_path = _png(folder / f"{step:03d}.png", nxt)
            counts = np.bincount(layer_of[n_prev:n_next], minlength=len(labels))
            mt_map, md_map = distance.maps(np.stack([nxt, target]), np.stack([prev, prev]))
            base = folder / f"{step:03d}"
            rows.append(
                {
                    "prev_path": prev_path,
                    "next_path": next_path,
                    "target_path": target_path,
                    "mt_path": _png(base.with_name(base.name + ".mt.png"), to_soft_png(mt_map)),
                    "md_path": _png(base.with_name(base.name + ".md.png"), to_soft_png(md_map)),
                    "mt_mask_path": _png(
                        base.with_name(base.name + ".mt_mask.png"),
                        binarize(mt_map, distance.threshold).astype(np.uint8) * 255,
                    ),
                    "md_mask_path": _png(
                        base.with_name(base.name + ".md_mask.png"),
                        binarize(md_map, distance.threshold).astype(np.uint8) * 255,
                    ),
                    "dt_s": round(t_next - t_prev, 3),
                    "text": labels[int(np.argmax(counts))],
                    "painting": video_id,
                    "split": split,
                }
            )
            prev, prev_path, n_prev, t_prev = nxt, next_path, n_next, t_next
    manifest = pd.DataFrame(rows)
    write_parquet(manifest, out_dir / "manifest.parquet")
    return manifest


def write_tiny_training_dataset(data_root: Path, version: str = "v1") -> pd.DataFrame:
    """Two 48-px synthetic paintings (one held out) written as `training_dataset` would write them:
    `training_dataset/<version>/manifest.parquet`, the text generator's conversations and `latest.json`.
    For tests and benchmarks that need the training assets to run in seconds."""
    import json

    from training.text_generator.conversations import build_conversation_json

    manifest = build_synthetic_manifest(
        data_root / "synthetic", paintings=2, seed=3, canvas_long_side=48, duration_s=20, val_paintings=1
    )
    manifest = manifest.assign(
        pair_id=[f"{p}/{k:03d}" for k, p in enumerate(manifest["painting"])], video_id=manifest["painting"]
    )
    folder = DataRoot(data_root).dataset_version_dir(version)
    folder.mkdir(parents=True)
    write_parquet(manifest, folder / "manifest.parquet")
    conversations = build_conversation_json(manifest[manifest["split"] == "train"], folder / "text_generator" / "train")
    latest = {"version": version, "manifest": str(folder / "manifest.parquet"), "conversations": str(conversations)}
    DataRoot(data_root).latest_dataset_path.write_text(json.dumps(latest))
    return manifest
