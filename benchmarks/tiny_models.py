"""Tiny mask generator + renderer on synthetic studio paintings: train times, one-step checks, paint speed.

    OMP_NUM_THREADS=1 python -m benchmarks.tiny_models --out /tmp/tiny_models [--budget-s 200]

Trains both models of the ``tiny`` preset from scratch on a synthetic manifest (``--paintings`` studio
paintings, the last ``--val`` held out), each within ``--budget-s`` seconds, then on the held-out pairs:
- renderer: given the ground-truth I_{t-1}, I_T, text, M_t and Δt, D̄(Î_t, I_t) vs copying I_{t-1}
  (D̄(I_{t-1}, I_t)); lower is better;
- mask generator: IoU of M̂_t (> 0.5) with M_t vs the all-ones mask and vs M_d;
and times ``paint`` per canvas update on a 512-px studio painting (ground-truth-free text: the label
of the layer with the largest remaining difference is not available at test time, so a constant text
function is used for timing only). ``--manifest`` trains on a pipeline-built manifest instead.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd
import torch

from training.data.difference import iou, make_backend, mean_distance
from training.data.images import read_gray, read_rgb
from training.inference.paint import PaintConfig, choose_mask, paint
from training.models.frozen_encoders import images_to_tensor, tensor_to_images
from training.models.mask_generator import load_mask_generator
from training.models.presets import tiny_preset
from training.models.renderer import Guidance, load_renderer
from training.train.mask_generator import train_mask_generator
from training.train.renderer import train_renderer
from training.train.synthetic_manifest import build_synthetic_manifest


def _small(path: str, r: int) -> np.ndarray:
    return tensor_to_images(images_to_tensor(read_rgb(path), r))[0]


def _small_mask(path: str, r: int) -> np.ndarray:
    import cv2

    return cv2.resize(read_gray(path), (r, r), interpolation=cv2.INTER_AREA) > 127


def one_step_checks(val: pd.DataFrame, renderer, mask_generator, distance, steps: int, seed: int = 0) -> dict:
    """Renderer D̄ to the true next frame (App. A.4 guidance and no guidance) vs copying; mask IoUs."""
    r = renderer.resolution
    gen = {"default_guidance": [], "no_guidance": []}
    guidance = {"default_guidance": Guidance(), "no_guidance": Guidance(1.0, 1.0, 1.0, 1.0)}
    copy_d, ious = [], {"predicted_0.5": [], "paint_rule": [], "all_ones": [], "md": []}
    for row in val.itertuples():
        prev, nxt, target = (_small(p, r) for p in (row.prev_path, row.next_path, row.target_path))
        mt, md = _small_mask(row.mt_mask_path, r), _small_mask(row.md_mask_path, r)
        for name, g in guidance.items():
            out = renderer.generate(
                prev,
                target,
                row.text,
                mt,
                row.dt_s,
                num_steps=steps,
                guidance=g,
                generator=torch.Generator().manual_seed(seed),
            )
            gen[name].append(mean_distance(distance.maps(out[None], nxt[None])[0]))
        copy_d.append(mean_distance(distance.maps(prev[None], nxt[None])[0]))
        probs = mask_generator.predict(target, prev, md, row.text, row.dt_s)
        ious["predicted_0.5"].append(iou(probs > 0.5, mt))
        ious["paint_rule"].append(iou(choose_mask(probs, None, PaintConfig()), mt))
        ious["all_ones"].append(iou(np.ones_like(mt), mt))
        ious["md"].append(iou(md, mt))
    copy_d = np.array(copy_d)
    out = {"val_pairs": len(val), "renderer_D_copy_current": float(copy_d.mean())}
    for name, values in gen.items():
        v = np.array(values)
        out[f"renderer_D_{name}"] = float(v.mean())
        out[f"renderer_win_rate_{name}"] = float((v < copy_d).mean())
    out.update({f"mask_iou_{k}": float(np.mean(v)) for k, v in ious.items()})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("/tmp/tiny_models"))
    ap.add_argument("--manifest", type=Path, help="a pipeline-built manifest.parquet (default: synthetic)")
    ap.add_argument("--paintings", type=int, default=14)
    ap.add_argument("--val", type=int, default=2)
    ap.add_argument("--budget-s", type=float, default=200.0, help="training time budget per model")
    ap.add_argument("--mask-steps", type=int, default=2000)
    ap.add_argument("--renderer-steps", type=int, default=2000)
    ap.add_argument("--sample-steps", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out: Path = args.out
    report: dict = {}
    distance = make_backend("colour-structure")
    t = time.perf_counter()
    if args.manifest:
        manifest = pd.read_parquet(args.manifest)
    else:
        manifest = build_synthetic_manifest(out / "data", args.paintings, args.seed, val_paintings=args.val)
    report["manifest_pairs"] = {k: int(v) for k, v in manifest["split"].value_counts().items()}
    report["manifest_seconds"] = round(time.perf_counter() - t, 1)
    preset = tiny_preset(out / "tiny_base")

    def logger(name):
        return lambda step, m: print(f"{name} step {step}: {m}", flush=True)

    mres = train_mask_generator(
        manifest,
        preset,
        out / "mask_generator",
        steps=args.mask_steps,
        seed=args.seed,
        log=logger("mask"),
        time_budget_s=args.budget_s,
        checkpoint_every=200,
    )
    rres = train_renderer(
        manifest,
        preset,
        out / "renderer",
        steps=args.renderer_steps,
        seed=args.seed,
        log=logger("renderer"),
        time_budget_s=args.budget_s,
        checkpoint_every=200,
    )
    for name, res in (("mask_generator", mres), ("renderer", rres)):
        report[name] = {
            "steps": res.steps,
            "seconds": round(res.seconds, 1),
            "loss_first10": float(np.mean(res.losses[:10])),
            "loss_last10": float(np.mean(res.losses[-10:])),
        }
    renderer = load_renderer(rres.model_dir)
    mask_generator = load_mask_generator(mres.model_dir)
    val = manifest[manifest["split"] == "val"]
    t = time.perf_counter()
    report["one_step"] = one_step_checks(val, renderer, mask_generator, distance, args.sample_steps, args.seed)
    report["one_step_seconds"] = round(time.perf_counter() - t, 1)

    from training.data.studio.config import StudioConfig
    from training.data.studio.studio import Studio

    studio = Studio("bench-512", 12345, StudioConfig(duration_s=30, size=(160, 120), fps=2, canvas_long_side=512))
    target = studio.paint.at(len(studio.paint.strokes)).copy()
    cfg = PaintConfig(max_steps=3, num_inference_steps=args.sample_steps)
    res = paint(target, renderer, mask_generator, lambda cur, tgt: "sky", distance, cfg)
    report["paint_512"] = {
        "target_size": list(target.shape[:2]),
        "updates": len(res.steps),
        "seconds_per_update": float(np.mean([s.seconds for s in res.steps])),
        "stop_reason": res.stop_reason,
        "distance_to_target": [round(s.distance_to_target, 4) for s in res.steps],
    }
    print(json.dumps(report, indent=1))
    (out / "report.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
