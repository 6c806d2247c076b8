"""Issue 16's diagnoses of a trained pipeline: one teacher-forced step, what each route carries, guidance sweep.

    OMP_NUM_THREADS=2 .venv/bin/python -m benchmarks.renderer_diagnostics --data-root data

Reads the data root's latest training dataset and its registered models (after ``make demo`` or
``inverse-painting demo --profile benchmark``). Three tables:

1. **One step, teacher-forced**, on every validation pair: D̄(Î_t, I_t) at the canvas size when the renderer
   gets the true I_{t-1}, I_T, text, M_t and Δt, beside copying I_{t-1} and pasting I_T inside M_t.
2. **Routes**: the same with one input taken away (its dropped value, as the ablations do): text, predicted
   CLIP, Δt, M_t, and the ReferenceNet tokens. The rise of D̄ is what that route carries.
3. **Guidance sweep**: the whole loop (text → mask → renderer) on every validation painting, scored like the
   benchmark, with guidance off and every condition scaled by 1.5, 2, 3, and App. A.4's 5 / 5 / 5 / 2.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np
import pandas as pd
import torch

from evaluation.benchmark_runner import run_benchmark
from evaluation.budget import StepBudget
from evaluation.methods import OURS, Method
from evaluation.reconstruct import ReconstructConfig, load_registered_models
from evaluation.sequences import validation_sequences
from training.data.difference import make_backend, mean_distance
from training.data.images import read_gray, read_rgb
from training.data_root import DataRoot
from training.inference.paint import PaintConfig
from training.models.renderer import Guidance

UNGUIDED = Guidance(1.0, 1.0, 1.0, 1.0)
ROUTES = {
    "text": Guidance(1.0, 1.0, 1.0, 1.0, removed=frozenset({"text"})),
    "predicted CLIP": Guidance(1.0, 1.0, 1.0, 1.0, removed=frozenset({"clip"})),
    "Δt": Guidance(1.0, 1.0, 1.0, 1.0, removed=frozenset({"time"})),
    "M_t": Guidance(1.0, 1.0, 1.0, 1.0, removed=frozenset({"mask"})),
    "ReferenceNet": Guidance(1.0, 1.0, 1.0, 1.0, reference=False),
}
SWEEP = {"off": (1.0, 1.0, 1.0, 1.0), "1.5": (1.5,) * 4, "2": (2.0,) * 4, "3": (3.0,) * 4, "App. A.4": (5, 5, 5, 2)}


def one_step(renderer, rows: pd.DataFrame, distance) -> pd.DataFrame:
    """D̄(·, I_t) per validation pair for the renderer (full and per route removed), copy and paste."""

    def d(a: np.ndarray, b: np.ndarray) -> float:
        return mean_distance(distance.maps(a[None], b[None])[0])

    out = []
    for row in rows.itertuples():
        current, following, target = (read_rgb(Path(p)) for p in (row.prev_path, row.next_path, row.target_path))
        mask = read_gray(Path(row.mt_mask_path)) > 127
        record = {"pair": row.pair_id, "copy I_{t-1}": d(current, following)}
        record["paste I_T in M_t"] = d(np.where(mask[..., None], target, current), following)
        for name, guidance in {"model": UNGUIDED, **{f"without {k}": g for k, g in ROUTES.items()}}.items():
            frame = renderer.generate(
                current, target, row.text, mask, row.dt_s, renderer.default_steps, guidance, torch.Generator()
            )
            record[name] = d(frame, following)
        out.append(record)
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, default=Path("data"))
    ap.add_argument("--distance", default="colour-structure")
    ap.add_argument("--out", type=Path, default=None, help="default: <data root>/benchmarks/renderer_diagnostics")
    args = ap.parse_args(argv)
    root = args.data_root
    layout = DataRoot(root)
    out = args.out or layout.benchmark_outputs_dir("renderer_diagnostics")
    out.mkdir(parents=True, exist_ok=True)
    latest = json.loads(layout.latest_dataset_path.read_text())
    manifest = pd.read_parquet(latest["manifest"])
    uri = layout.default_tracking_uri
    models = load_registered_models(uri)
    distance = make_backend(args.distance)
    started = time.perf_counter()

    steps = one_step(models.renderer, manifest[manifest["split"] == "val"], distance)
    means = steps.drop(columns="pair").mean()
    print(f"## One step, teacher-forced ({len(steps)} validation pairs, D̄ to the true I_t, {distance.name})\n")
    print(means[["model", "copy I_{t-1}", "paste I_T in M_t"]].round(4).to_frame("D̄").to_markdown())
    print(f"\nmodel beats copying on {np.mean(steps['model'] < steps['copy I_{t-1}']):.0%} of the pairs\n")
    print("## Routes: D̄ with one input taken away (its rise is what the route carries)\n")
    routes = means[[f"without {k}" for k in ROUTES]].to_frame("D̄")
    routes["rise"] = routes["D̄"] - means["model"]
    print(routes.round(4).to_markdown())
    steps.to_csv(out / "one_step.csv", index=False)

    dt = round(float(manifest["dt_s"].mean()), 1)
    paintings = validation_sequences(root, manifest)
    budget = StepBudget.from_manifest(manifest, source=f"dataset {latest['version']}")
    rows = []
    for name, scales in SWEEP.items():
        text, mask, dt_scale, clip = scales
        paint = PaintConfig(guidance_text=text, guidance_mask=mask, guidance_time=dt_scale, guidance_clip=clip)
        result = run_benchmark(
            paintings,
            [Method(OURS, "ours", dt)],
            models,
            distance,
            out / f"guidance-{name.replace(' ', '').replace('.', '')}",
            fid_weights=None,
            config=ReconstructConfig(budget=budget, paint=paint),
        )
        scores = result.per_painting
        rows.append(
            {
                "guidance": name,
                **result.table.iloc[0][["distance", "iou", "ddc", "dts"]]
                .astype(float)
                .round(4)
                .rename({"distance": result.public_name("distance")})  # "lpips" only when it is LPIPS
                .to_dict(),
                "updates": float(scores["steps"].mean()),
                "stopped close to target": f"{np.mean(scores['stop_reason'] == 'close to target'):.0%}",
            }
        )
        print(f"[{time.perf_counter() - started:5.0f} s] guidance {name}: {rows[-1]}", flush=True)
    sweep = pd.DataFrame(rows)
    print(f"\n## Guidance sweep: the loop on {len(paintings)} validation paintings, Δt {dt} s\n")
    print(sweep.to_markdown(index=False))
    sweep.to_csv(out / "guidance_sweep.csv", index=False)
    print(f"\nwall time {time.perf_counter() - started:.0f} s; tables in {out}")


if __name__ == "__main__":
    main()
