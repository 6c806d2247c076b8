"""End-to-end benchmark of the per-video chain against the synthetic studio's ground truth (not a test).

Runs the real Dagster chain (source_video -> ... -> difference_masks) on held-out studio seeds and
reports per video: wall time vs video length, canvas corner error and found rate, the share of
kept keyframes that are occluded, and the IoU of the binary M_t masks with the true change masks.
`--long` instead measures time and peak RSS on one 10-minute 1280x720 video (generated in a child
process, so the figure is the chain's own).

    .venv/bin/python -m benchmarks.data_pipeline --count 4 --seed 2000
    .venv/bin/python -m benchmarks.data_pipeline --long
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import dagster as dg
import numpy as np
import pandas as pd

from pipelines.definitions import build_definitions
from pipelines.demo import chain_config
from pipelines.instance import prepare_environment
from pipelines.job_runs import register_videos, run_per_video_chain
from training.data.canvas.geometry import corner_error
from training.data.difference import iou
from training.data.images import read_gray
from training.data.studio import Studio, StudioConfig, generate_studio
from training.data.table_readers import corners_array
from training.data_root import DataRoot

CHANGE_LEVEL = 8  # a true change: some channel differs by more than 8/255 between the two canvas states


def truth_index(truth: dict, t_ms: int) -> int:
    times = np.array([frame["t_ms"] for frame in truth["frames"]])
    return int(np.abs(times - t_ms).argmin())


def canvas_accuracy(root: Path, video_id: str, truth: dict) -> dict:
    geometry = pd.read_parquet(DataRoot(root).table_path("canvas_geometry", video_id))
    errors = []
    for t_ms, cell in zip(geometry["t_ms"], geometry["corners"], strict=True):
        corners = corners_array(cell)
        if corners is not None:
            true = np.array(truth["frames"][truth_index(truth, int(t_ms))]["corners"], dtype=np.float32)
            errors.append(corner_error(corners, true))
    return {
        "canvas_found": len(errors) / len(geometry),
        "corner_err_median": float(np.median(errors)) if errors else float("nan"),
        "backend": str(geometry["backend"].iloc[0]),
    }


def keyframe_accuracy(root: Path, video_id: str, truth: dict) -> dict:
    kept = pd.read_parquet(DataRoot(root).table_path("keyframes", video_id))
    occluded = [truth["frames"][truth_index(truth, int(t))]["occluded"] for t in kept["t_ms"]]
    target_t = int(kept.loc[kept["is_target"], "t_ms"].iloc[-1])
    return {
        "keyframes": len(kept),
        "kept_occluded": float(np.mean(occluded)),
        "mean_interval_s": float(kept["t_ms"].diff().mean() / 1000),
        "target_after_end": target_t >= truth["painting_end_ms"],
    }


def mask_accuracy(root: Path, video_id: str, truth: dict, studio: Studio) -> dict:
    pairs = pd.read_parquet(DataRoot(root).table_path("frame_pairs", video_id))
    masks = pd.read_parquet(DataRoot(root).table_path("difference_masks", video_id))
    scores = []
    for (prev_t, next_t), mask_path in zip(
        pairs[["prev_t_ms", "next_t_ms"]].itertuples(index=False), masks["mt_mask_path"], strict=True
    ):
        ours = read_gray(mask_path) > 127
        before = studio.canvas_at(truth_index(truth, int(prev_t))).astype(np.int16)
        after = studio.canvas_at(truth_index(truth, int(next_t))).astype(np.int16)
        change = (np.abs(after - before).max(axis=2) > CHANGE_LEVEL).astype(np.uint8)
        change = cv2.resize(change, (ours.shape[1], ours.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
        scores.append(iou(ours, change))
    return {"mask_iou": float(np.mean(scores)), "mask_backend": str(masks["backend"].iloc[0])}


def run_chain(root: Path, home: Path, every_s: float, keyframes: int | None) -> tuple[dict[str, float], dict[str, str]]:
    prepare_environment(home, root)
    defs = build_definitions(str(root))
    instance = dg.DagsterInstance.get()
    ids = sorted(p.stem for p in DataRoot(root).videos_dir.glob("*.mp4"))
    register_videos(instance, ids)
    seconds, failures = {}, {}
    for video_id in ids:
        start = time.perf_counter()
        report = run_per_video_chain(defs, instance, [video_id], run_config=chain_config(every_s, keyframes))
        seconds[video_id] = time.perf_counter() - start
        failures.update(report.failures)
    return seconds, failures


def accuracy_table(args: argparse.Namespace, work: Path) -> pd.DataFrame:
    root = work / "data"
    config = StudioConfig(duration_s=args.duration, size=args.size)
    videos = generate_studio(DataRoot(root).videos_dir, count=args.count, seed=args.seed, config=config)
    seconds, failures = run_chain(root, work / "dagster", args.sample_every, args.keyframes_per_video)
    rows = []
    for video in videos:
        if any(key.startswith(f"{video.video_id}/") for key in failures):
            rows.append(
                {
                    "video": video.video_id,
                    "failed": "; ".join(v for k, v in failures.items() if k.startswith(video.video_id)),
                }
            )
            continue
        truth = json.loads(video.truth_path.read_text())
        studio = Studio(video.video_id, truth["seed"], config)
        rows.append(
            {
                "video": video.video_id,
                "chain_s": seconds[video.video_id],
                "video_s": args.duration,
                **canvas_accuracy(root, video.video_id, truth),
                **keyframe_accuracy(root, video.video_id, truth),
                **mask_accuracy(root, video.video_id, truth, studio),
            }
        )
    return pd.DataFrame(rows)


def long_video(args: argparse.Namespace, work: Path) -> dict:
    root = work / "data"
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "synth",
            str(DataRoot(root).videos_dir),
            "--count",
            "1",
            "--seed",
            str(args.seed),
            "--duration",
            "600",
            "--size",
            "1280x720",
            "--fps",
            "25",
        ],
        check=True,
    )
    generated = time.perf_counter() - start
    seconds, failures = run_chain(root, work / "dagster", args.sample_every, None)
    return {
        "generate_s": round(generated, 1),
        "chain_s": round(sum(seconds.values()), 1),
        "video_s": 600,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "failures": failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--seed", type=int, default=2000, help="held out: tests use 100-199")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--size", type=lambda s: tuple(int(v) for v in s.split("x")), default=(640, 480))
    parser.add_argument("--sample-every", type=float, default=1.0)
    parser.add_argument("--keyframes-per-video", type=int, default=10, help="as the demo does for 60 s videos")
    parser.add_argument("--long", action="store_true", help="10-minute 720p video: time and peak RSS only")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        if args.long:
            print(json.dumps(long_video(args, work), indent=2))
            return
        table = accuracy_table(args, work)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        numeric = table.select_dtypes("number")
        print("\nmean:\n" + numeric.mean().to_string(float_format=lambda v: f"{v:.4f}"))
        print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
