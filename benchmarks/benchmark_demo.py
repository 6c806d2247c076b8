"""The full benchmark grid (4 baselines + ours at Δt 10/20/30 + 5 ablations) on validation paintings.

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.benchmark_demo --work /tmp/benchmark_demo
    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.benchmark_demo --data-root data   # after `make demo`

With ``--data-root``: the validation paintings of the latest training dataset (``training_dataset`` asset,
keyframes/<video>/ folders) and the models registered in the data root's MLflow store. Without it: tiny
models are trained here (once, cached under ``--work``) on a synthetic-studio manifest whose Δt range
covers the benchmark's Δt, and its held-out paintings are the validation set. Prints the wall time of
the benchmark (training excluded) and the comparison table; logs to MLflow under ``--work``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd

from evaluation.methods import method_grid
from evaluation.reconstruct import ReconstructConfig, load_models
from evaluation.runner import run_benchmark, sequences_from_manifest, validation_sequences
from training.data.difference import make_backend
from training.tracking import Tracker


def _train_text_generator(manifest: pd.DataFrame, work: Path, epochs: int | None, seed: int) -> Path:
    """Tiny g_text on [I_{t-1} | I_T] -> label of the train pairs (the answers are the manifest's texts)."""
    from training.data.images import read_rgb, write_image
    from training.labels.prompts import P_INSTRUCT
    from training.text_generator import Conversation, side_by_side, train_text_generator, write_conversations

    data = work / "text_data"
    conversations = []
    for i, row in enumerate(manifest[manifest["split"] == "train"].itertuples()):
        image = data / "images" / f"{i:05d}.png"
        image.parent.mkdir(parents=True, exist_ok=True)
        write_image(image, side_by_side(read_rgb(row.prev_path), read_rgb(row.target_path)))
        conversations.append(Conversation(str(i), image, P_INSTRUCT, str(row.text)))
    path = write_conversations(conversations, data / "conversations.json")
    return train_text_generator(path, "tiny", work / "text_generator", epochs=epochs, seed=seed).path


def _trained_steps(folder: Path, default: int) -> int:
    steps = [int(p.name.split("-")[1]) for p in (folder / "checkpoints").glob("step-*") if p.name[5:].isdigit()]
    return max(steps, default=default)


def prepare_tiny(work: Path, paintings: int, val: int, budget_s: float, text_epochs: int | None, seed: int) -> dict:
    """Synthetic manifest + the three tiny models under ``work`` (reused when already there)."""
    from training.models.presets import tiny_preset
    from training.train.mask_generator import train_mask_generator
    from training.train.renderer import train_renderer
    from training.train.synthetic_manifest import build_synthetic_manifest

    done = work / "models.json"
    if done.is_file():
        return json.loads(done.read_text())
    started = time.perf_counter()
    manifest_path = work / "data" / "manifest.parquet"
    if manifest_path.is_file():
        manifest = pd.read_parquet(manifest_path)
    else:
        # Δt of the pairs spans the benchmark's 10-30 s, so every Δt variant is inside the training range
        manifest = build_synthetic_manifest(
            work / "data", paintings, seed, duration_s=150.0, dt_range_s=(6.0, 34.0), val_paintings=val
        )
    preset = tiny_preset(work / "tiny_base")
    mask = train_mask_generator(
        manifest, preset, work / "mask_generator", seed=seed, time_budget_s=budget_s, checkpoint_every=200
    )
    rend = train_renderer(manifest, preset, work / "renderer", seed=seed, time_budget_s=budget_s, checkpoint_every=200)
    text = _train_text_generator(manifest, work, text_epochs, seed)
    info = {
        "manifest": str(manifest_path),
        "renderer": str(rend.model_dir),
        "mask_generator": str(mask.model_dir),
        "text_generator": str(text),
        "renderer_steps": rend.steps,
        "mask_steps": mask.steps,
        "train_seconds": round(time.perf_counter() - started, 1),
    }
    done.write_text(json.dumps(info, indent=1))
    return info


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/benchmark_demo"))
    ap.add_argument("--data-root", type=Path, help="a pipeline data root with registered models (after make demo)")
    ap.add_argument("--paintings", type=int, default=16, help="synthetic paintings (without --data-root)")
    ap.add_argument("--val", type=int, default=3, help="held-out synthetic paintings (without --data-root)")
    ap.add_argument("--budget-s", type=float, default=240.0, help="training budget per tiny model")
    ap.add_argument("--text-epochs", type=int, default=None)
    ap.add_argument("--inference-steps", type=int, default=10, help="sampler steps S per canvas update")
    ap.add_argument("--step-margin", type=int, default=2, help="updates allowed beyond the real step count")
    ap.add_argument("--distance", default="colour-structure")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)

    params: dict = {}
    if args.data_root is not None:
        from evaluation.reconstruct import registered_model_dirs

        uri = f"sqlite:///{(args.data_root / 'mlflow.db').resolve()}"
        dirs, versions = registered_model_dirs(uri)
        paintings = validation_sequences(args.data_root)
        params.update(data_root=str(args.data_root), **versions)
    else:
        info = prepare_tiny(work, args.paintings, args.val, args.budget_s, args.text_epochs, args.seed)
        dirs = {k: info[k] for k in ("renderer", "mask_generator", "text_generator")}
        # a longer (resumed) training may have added steps since models.json was written
        info["renderer_steps"] = _trained_steps(work / "renderer", info["renderer_steps"])
        info["mask_steps"] = _trained_steps(work / "mask_generator", info["mask_steps"])
        print(f"tiny models: {json.dumps(info)}", flush=True)
        paintings = sequences_from_manifest(pd.read_parquet(info["manifest"]), split="val")
        params.update(dataset="synthetic", renderer_steps=info["renderer_steps"], mask_steps=info["mask_steps"])
    print(f"{len(paintings)} validation paintings: {[(p.name, len(p.frames) - 1, p.duration_s) for p in paintings]}")

    distance = make_backend(args.distance)
    models = load_models(dirs["renderer"], dirs["mask_generator"], dirs["text_generator"])
    config = ReconstructConfig(num_inference_steps=args.inference_steps, step_margin=args.step_margin)
    tracker = Tracker(f"sqlite:///{(work / 'mlflow.db').resolve()}", work / "mlartifacts")
    started = time.perf_counter()
    result = run_benchmark(
        paintings,
        method_grid(),
        models,
        distance,
        work / "benchmark",
        tracker=tracker,
        params=params,
        fid_weights=None,
        config=config,
        seed=args.seed,
        progress=lambda msg: print(f"[{time.perf_counter() - started:6.1f} s] {msg}", flush=True),
    )
    wall = time.perf_counter() - started
    print(result.markdown)
    print(f"benchmark wall time: {wall:.1f} s for {len(result.table)} methods x {len(paintings)} paintings")
    print(f"wins of ours over every baseline: {json.dumps(result.wins_over_baselines('ours'))}")


if __name__ == "__main__":
    main()
