"""Difference maps D against ground truth: calibration, held-out IoU, batching speed, real-data check.

    .venv/bin/python -m benchmarks.difference_masks                 # everything below
    .venv/bin/python -m benchmarks.difference_masks calibrate       # threshold of the weight-free backend
    .venv/bin/python -m benchmarks.difference_masks evaluate        # held-out IoU (seeds 1010-1019)
    .venv/bin/python -m benchmarks.difference_masks timing          # batch 1 vs 8/16, 512x384
    .venv/bin/python -m benchmarks.difference_masks official        # vs the authors' released LPIPS masks

The realistic chain per studio seed (StudioConfig defaults: 60 s, 640x480, 25 fps, canvas long side 512):
``generate_video`` (H.264, CRF 21) -> decode with PyAV -> one frame per ``EVERY_S`` seconds, the first
frame at or after each multiple that the truth marks as not occluded (within 2 s, else the slot is
skipped), up to the first such frame after the last stroke -> rectified with the truth corners to the
truth canvas size. I_T is the last unoccluded frame of the video. Pairs: M_t = D(I_t, I_{t-1}) and
M_d = D(I_T, I_{t-1}) for every consecutive pair of the chain.

Ground-truth change mask of a pair (prev, next): from the true canvases ``studio.canvas_at`` of the two
frames, a pixel changed when, in either direction, no pixel within 1 px (3x3) of the other canvas is
within 8/255 in every channel; the 1-px tolerance ignores sub-pixel edge jitter of strokes.

Robustness check: the same chains rectified with corners perturbed by N(0, 1 px) per coordinate (video
pixels), as a canvas detector's corners would be; the ground truth does not move.

Real-data check: the authors' released processed masks (``sample_data_processed/train/lpips/<name>/<cur>.jpg``,
their LPIPS at α = 0.2) are M_t of the pair named in ``text/<name>/<cur>.json``: D(next, cur), with
``white_<target>`` the pair (white canvas -> their first used keyframe). Ours are compared at our threshold.

Studio videos are cached in ``--data`` (default data/benchmarks/difference_masks); seeds >= 1000 only
(the tests use 100-199). The threshold is calibrated on seeds 1000-1009 and never on 1010-1019.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from benchmarks.realdata import OFFICIAL_SAMPLE
from training.data.difference import (
    CALIBRATION,
    ColourStructureDistance,
    DistanceBackend,
    LpipsDistance,
    binarize,
    distance_maps,
    iou,
    lpips_weights_available,
    sequence_pairs,
)

CALIBRATION_SEEDS = range(1000, 1010)
EVALUATION_SEEDS = range(1010, 1020)
EVERY_S = 4.0
GT_LEVEL = 8  # 8/255 per channel
JITTER_PX = 1.0  # corner error (σ, video pixels) of the robustness check: a detector is not exact
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)
OFFICIAL = OFFICIAL_SAMPLE


# ---------------------------------------------------------------------------------------- data


@dataclass
class SeedCase:
    """One studio video turned into a keyframe chain with ground truth."""

    seed: int
    times_ms: list[int]
    frames: list[np.ndarray]  # rectified video frames I_0..I_K
    target: np.ndarray  # rectified I_T
    gt_t: list[np.ndarray]  # true change (I_{t-1} -> I_t), t = 1..K
    gt_d: list[np.ndarray]  # true change (I_{t-1} -> I_T), t = 1..K


def gt_change_mask(before: np.ndarray, after: np.ndarray, level: int = GT_LEVEL, tolerance: int = 1) -> np.ndarray:
    """Pixels that changed between two true canvases, ignoring matches within ``tolerance`` px."""

    def one_way(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        h, w = x.shape[:2]
        padded = cv2.copyMakeBorder(y, tolerance, tolerance, tolerance, tolerance, cv2.BORDER_REPLICATE)
        best = np.full((h, w), 255, np.uint8)
        for dy in range(2 * tolerance + 1):
            for dx in range(2 * tolerance + 1):
                diff = cv2.absdiff(x, padded[dy : dy + h, dx : dx + w]).max(axis=2)
                np.minimum(best, diff, out=best)
        return best > level

    return one_way(before, after) | one_way(after, before)


def rectify(frame: np.ndarray, corners: list[list[float]] | np.ndarray, canvas_size: tuple[int, int]) -> np.ndarray:
    """Video frame -> canvas image; the studio's corners are the outer edges of canvas pixels (-0.5 … W-0.5)."""
    w, h = canvas_size
    dst = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]], np.float32)
    m = cv2.getPerspectiveTransform(np.asarray(corners, np.float32), dst)
    return cv2.warpPerspective(frame, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def select_frames(truth: dict, every_s: float = EVERY_S) -> tuple[list[int], int]:
    """Frame indices of the chain (unoccluded, one per slot) and of the target I_T."""
    frames = truth["frames"]
    clean = [i for i, f in enumerate(frames) if not f["occluded"]]
    end_ms = truth["painting_end_ms"]
    chosen: list[int] = []
    slot = 0.0
    while True:
        t0 = slot * 1000
        pick = next((i for i in clean if t0 <= frames[i]["t_ms"] < t0 + 2000), None)
        if pick is not None and (not chosen or pick > chosen[-1]):
            chosen.append(pick)
            if frames[pick]["t_ms"] > end_ms:
                break
        slot += every_s
        if t0 > frames[-1]["t_ms"]:
            break
    return chosen, clean[-1]


def decode(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                out[index] = frame.to_ndarray(format="rgb24")
    missing = wanted - set(out)
    if missing:
        raise RuntimeError(f"{path}: frames {sorted(missing)[:5]} could not be decoded")
    return out


def _jittered(corners: list[list[float]], jitter_px: float, seed: int, index: int) -> np.ndarray:
    """Truth corners moved by N(0, jitter_px) per coordinate: a canvas detector's error, fixed per frame."""
    rng = np.random.default_rng([seed, index])
    return np.asarray(corners, np.float64) + rng.normal(0.0, jitter_px, (4, 2))


def load_case(seed: int, data: Path, jitter_px: float = 0.0) -> SeedCase:
    """Generate (once) the video of a seed and build its chain, cached as .npz files beside it.

    ``jitter_px`` > 0 rectifies with corners perturbed by that many video pixels (σ), as a detector
    would; the ground truth is the same.
    """
    from training.data.studio import Studio, StudioConfig, generate_video

    cache = data / f"case-{seed}.npz"
    jitter_cache = data / f"case-{seed}-jitter{jitter_px:g}.npz"
    if cache.is_file() and (jitter_px == 0 or jitter_cache.is_file()):
        z = np.load(cache)
        k = len(z["times_ms"])
        images = np.load(jitter_cache) if jitter_px else z
        return SeedCase(
            seed,
            z["times_ms"].tolist(),
            list(images["frames"]),
            images["target"],
            list(z["gt_t"][: k - 1]),
            list(z["gt_d"][: k - 1]),
        )
    video_id = f"bench-{seed}"
    truth_path = data / f"{video_id}.truth.json"
    if not truth_path.is_file():
        print(f"  generating studio video seed {seed} ...", flush=True)
        generate_video(data, video_id, seed, StudioConfig())
    truth = json.loads(truth_path.read_text())
    chain, target_index = select_frames(truth)
    decoded = decode(data / f"{video_id}.mp4", {*chain, target_index})
    size = tuple(truth["canvas_size"])

    def rectified(i: int, jitter: float) -> np.ndarray:
        corners = truth["frames"][i]["corners"]
        return rectify(decoded[i], _jittered(corners, jitter, seed, i) if jitter else corners, size)

    if not cache.is_file():
        studio = Studio(video_id, seed, StudioConfig())
        true = {i: studio.canvas_at(i) for i in sorted({*chain, target_index})}
        np.savez_compressed(
            cache,
            times_ms=np.array([truth["frames"][i]["t_ms"] for i in chain]),
            frames=np.stack([rectified(i, 0.0) for i in chain]),
            target=rectified(target_index, 0.0),
            gt_t=np.stack([gt_change_mask(true[p], true[n]) for p, n in itertools.pairwise(chain)]),
            gt_d=np.stack([gt_change_mask(true[p], true[target_index]) for p in chain[:-1]]),
        )
    if jitter_px:
        np.savez_compressed(
            jitter_cache,
            frames=np.stack([rectified(i, jitter_px) for i in chain]),
            target=rectified(target_index, jitter_px),
        )
    return load_case(seed, data, jitter_px)


# ------------------------------------------------------------------------------------- metrics


def case_maps(backend: DistanceBackend, case: SeedCase, batch_size: int = 8) -> tuple[list, list]:
    """Soft M_t and M_d maps of a chain."""
    pairs = sequence_pairs(case.frames, case.target)
    m_t: list[np.ndarray] = []
    m_d: list[np.ndarray] = []
    for (kind, _, _), m in zip(pairs, distance_maps(backend, (p for _, _, p in pairs), batch_size), strict=True):
        (m_t if kind == "m_t" else m_d).append(m)
    return m_t, m_d


def ious_at(maps: list[np.ndarray], truth: list[np.ndarray], thresholds: np.ndarray) -> np.ndarray:
    """(len(thresholds), len(maps)) IoUs."""
    return np.array([[iou(binarize(m, th), g) for m, g in zip(maps, truth, strict=True)] for th in thresholds])


def score_seeds(
    backend: DistanceBackend, seeds: range, data: Path, thresholds: np.ndarray, jitter_px: float = 0.0
) -> dict[str, np.ndarray]:
    """Per threshold, IoUs of every M_t pair and every M_d pair over the seeds."""
    all_t, all_d = [], []
    for seed in seeds:
        case = load_case(seed, data, jitter_px)
        m_t, m_d = case_maps(backend, case)
        all_t.append(ious_at(m_t, case.gt_t, thresholds))
        all_d.append(ious_at(m_d, case.gt_d, thresholds))
    return {"m_t": np.concatenate(all_t, axis=1), "m_d": np.concatenate(all_d, axis=1)}


def _row(label: str, threshold: float, scores: dict[str, np.ndarray], k: int = 0) -> str:
    both = np.concatenate([scores["m_t"][k], scores["m_d"][k]])
    return (
        f"{label:<44} {threshold:>5.2f} {scores['m_t'][k].mean():>8.3f} {scores['m_d'][k].mean():>8.3f} "
        f"{both.mean():>8.3f} {np.percentile(both, 10):>8.3f} {both.size:>6}"
    )


HEADER = f"{'backend, corners':<44} {'α':>5} {'IoU M_t':>8} {'IoU M_d':>8} {'IoU all':>8} {'p10 all':>8} {'pairs':>6}"


def calibrate(data: Path) -> float:
    """The threshold of the weight-free backend that maximises mean IoU on seeds 1000-1009 (truth corners)."""
    backend = ColourStructureDistance()
    scores = score_seeds(backend, CALIBRATION_SEEDS, data, THRESHOLD_GRID)
    mean = np.concatenate([scores["m_t"], scores["m_d"]], axis=1).mean(axis=1)
    best = int(np.argmax(mean))
    print(
        f"\ncalibration: {backend.name}, seeds {CALIBRATION_SEEDS.start}-{CALIBRATION_SEEDS.stop - 1}, "
        f"{scores['m_t'].shape[1]} M_t + {scores['m_d'].shape[1]} M_d pairs, rectified with the truth corners"
    )
    print(f"{'threshold':>9} {'IoU M_t':>8} {'IoU M_d':>8} {'IoU all':>8}")
    for k in range(0, len(THRESHOLD_GRID), 5):
        row = (THRESHOLD_GRID[k], scores["m_t"][k].mean(), scores["m_d"][k].mean(), mean[k])
        print("{:>9.2f} {:>8.3f} {:>8.3f} {:>8.3f}".format(*row))
    th = float(THRESHOLD_GRID[best])
    print(
        f"best threshold {th:.2f}: mean IoU {mean[best]:.3f} "
        f"(M_t {scores['m_t'][best].mean():.3f}, M_d {scores['m_d'][best].mean():.3f})"
    )
    jittered = score_seeds(backend, CALIBRATION_SEEDS, data, np.array([th]), JITTER_PX)
    print(HEADER)
    print(_row(f"{backend.name}, corners + N(0, {JITTER_PX:g} px)", th, jittered))
    return th


def evaluate(data: Path) -> None:
    """Held-out IoU (seeds 1010-1019) at each backend's threshold, with truth and with jittered corners."""
    backends: list[DistanceBackend] = [ColourStructureDistance()]
    if lpips_weights_available():
        backends.append(LpipsDistance())
    else:
        print(
            "\nLPIPS: torchvision AlexNet weights are not in the torch hub cache; LPIPS IoU not measured "
            "(a random trunk is not LPIPS)"
        )
    print(f"\nheld-out evaluation, seeds {EVALUATION_SEEDS.start}-{EVALUATION_SEEDS.stop - 1}")
    print(HEADER)
    for backend in backends:
        th = np.array([backend.threshold])
        for jitter in (0.0, JITTER_PX):
            label = f"{backend.name}, " + (f"corners + N(0, {jitter:g} px)" if jitter else "truth corners")
            print(_row(label, backend.threshold, score_seeds(backend, EVALUATION_SEEDS, data, th, jitter)))
        per_seed = [score_seeds(backend, range(s, s + 1), data, th) for s in EVALUATION_SEEDS]
        means = [np.concatenate([x["m_t"][0], x["m_d"][0]]).mean() for x in per_seed]
        print(
            "  per seed (truth corners): "
            + ", ".join(f"{s}: {m:.3f}" for s, m in zip(EVALUATION_SEEDS, means, strict=True))
        )


# -------------------------------------------------------------------------------------- timing


def _run(backend: DistanceBackend, pairs: list, batch_size: int) -> tuple[float, float]:
    """Seconds per pair: (wall clock, CPU time of this process)."""
    backend._recent.clear()  # every run starts cold: no image computed by an earlier run is reused
    wall, cpu = time.perf_counter(), time.process_time()
    for _m in distance_maps(backend, pairs, batch_size=batch_size):
        pass
    return (time.perf_counter() - wall) / len(pairs), (time.process_time() - cpu) / len(pairs)


def _lpips_package_per_pair(backend: LpipsDistance, pairs: list) -> tuple[float, float]:
    """The plain ``lpips`` call a naive loop makes: one pair per forward pass, no sharing."""
    import torch

    wall, cpu = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        for a, b in pairs:
            ta, tb = (torch.from_numpy(x[None]).permute(0, 3, 1, 2).float() / 127.5 - 1 for x in (a, b))
            backend._model(ta, tb)
    return (time.perf_counter() - wall) / len(pairs), (time.process_time() - cpu) / len(pairs)


def _official_chain() -> tuple[list[np.ndarray], np.ndarray] | None:
    """The released painting as I_0 (white) … I_K and I_T, or None when ../shared/realdata is absent."""
    from training.data.official_release import read_official_layout

    root = OFFICIAL / "sample_data" / "train"
    if not root.is_dir():
        return None
    seq = read_official_layout(root)[0]
    frames = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for _, p in seq.keyframes]
    return [np.full_like(frames[0], 255), *frames[:-1]], frames[-1]


def timing(data: Path, repeats: int = 5, threads: int | None = None) -> None:
    """Per-pair time, one pair per call vs batches of 8 and 16, for independent pairs and a painting's pairs.

    The machine is shared with other jobs, so every setting runs ``repeats`` times, interleaved, and the
    fastest run is kept; CPU time (all threads of this process) is printed next to wall time because it
    is less disturbed by other processes.
    """
    import torch

    if threads:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    h, w = 384, 512
    case = load_case(CALIBRATION_SEEDS.start, data)
    chain = [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in case.frames[:9]]
    target = cv2.resize(case.target, (w, h), interpolation=cv2.INTER_AREA)
    workloads = {
        "16 independent pairs": [
            (rng.integers(0, 256, (h, w, 3), np.uint8), rng.integers(0, 256, (h, w, 3), np.uint8)) for _ in range(16)
        ],
        "8 keyframes: M_t + M_d": [p for _, _, p in sequence_pairs(chain, target)],
    }
    # a painting at the pipeline's default density (9-minute studio videos give ~21 keyframes, see
    # benchmarks/keyframe_accuracy.py): frames of two studio paintings in a row (the time does not depend on
    # what the pixels show)
    more = load_case(CALIBRATION_SEEDS.start + 1, data).frames[1:]
    long_chain = [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in [*case.frames, *more][:21]]
    if len(long_chain) == 21:
        workloads["20 keyframes: M_t + M_d"] = [p for _, _, p in sequence_pairs(long_chain, target)]
    real = _official_chain()
    if real is not None:  # the authors' released painting at its own size: the workload of real data
        workloads[f"real, {len(real[0]) - 1} keyframes"] = [p for _, _, p in sequence_pairs(*real)]
    torch.manual_seed(0)
    lpips_backend = LpipsDistance(pretrained_backbone=False)
    backends: list[DistanceBackend] = [lpips_backend, ColourStructureDistance()]
    print(f"\ntiming on {h}x{w} (H x W), torch threads {torch.get_num_threads()}, fastest of {repeats} runs")
    print("seconds per pair as wall / CPU; speed-up = time at batch size 1 / time at 8 (16)")
    print(f"{'backend':<32} {'workload':<23} {'bs=1':>13} {'bs=8':>13} {'bs=16':>13} {'speed-up 8 (16)':>22}")
    for backend in backends:
        for label, pairs in workloads.items():
            _run(backend, pairs[:2], 2)  # warm-up
            runs: dict[object, list[tuple[float, float]]] = {1: [], 8: [], 16: [], "package": []}
            for _ in range(repeats):
                for bs in (1, 8, 16):
                    runs[bs].append(_run(backend, pairs, bs))
                if backend is lpips_backend:
                    runs["package"].append(_lpips_package_per_pair(lpips_backend, pairs))
            best = {k: (min(r[0] for r in v), min(r[1] for r in v)) for k, v in runs.items() if v}
            cells = " ".join(f"{best[bs][0]:>6.3f}/{best[bs][1]:<6.3f}" for bs in (1, 8, 16))
            speed = (
                f"wall {best[1][0] / best[8][0]:.2f}x ({best[1][0] / best[16][0]:.2f}x) "
                f"CPU {best[1][1] / best[8][1]:.2f}x ({best[1][1] / best[16][1]:.2f}x)"
            )
            print(f"{backend.name[:32]:<32} {label:<23} {cells}  {speed}")
            if "package" in best:
                pw, pc = best["package"]
                print(
                    f"{'  lpips.LPIPS.forward, 1 pair per call':<56} {pw:>6.3f}/{pc:<6.3f}"
                    f"   batched vs this: wall {pw / best[8][0]:.2f}x ({pw / best[16][0]:.2f}x) "
                    f"CPU {pc / best[8][1]:.2f}x ({pc / best[16][1]:.2f}x)"
                )


# ----------------------------------------------------------------------------------- real data


def official(root: Path = OFFICIAL) -> None:
    """IoU of our binary masks vs the authors' released LPIPS masks (binarised at α = 0.2)."""
    from training.data.official_release import read_official_layout

    seq = read_official_layout(root / "sample_data" / "train")[0]
    masks_dir = root / "sample_data_processed" / "train" / "lpips" / seq.name
    rgb = {p.stem: cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for _, p in seq.keyframes}
    names = [p.stem for _, p in seq.keyframes]
    white = np.full_like(rgb[names[0]], 255)
    # their text/<cur>.json files name the pair of each mask: cur -> next; "white_<target>" starts from white
    pairs: list[tuple[str, np.ndarray, np.ndarray]] = []
    for path in sorted(masks_dir.glob("*.jpg")):
        info = json.loads((root / "sample_data_processed/train/text" / seq.name / f"{path.stem}.json").read_text())
        cur = white if info["cur_image_name"].startswith("white") else rgb[info["cur_image_name"]]
        pairs.append((path.stem, cur, rgb[info["next_image_name"]]))
    theirs = {p.stem: cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) / np.float32(255) for p in masks_dir.glob("*.jpg")}
    backends: list[DistanceBackend] = [ColourStructureDistance()]
    if lpips_weights_available():
        backends.append(LpipsDistance())
    print(f"\nreal data: {seq.name}, {len(pairs)} released masks (authors' LPIPS, α = 0.2); ours = D(next, cur)")
    print(
        f"{'mask':<16} {'their area':>10} "
        + " ".join(f"{b.name[:22] + ' area':>28} {'IoU':>6} {'corr':>6}" for b in backends)
    )
    results: dict[str, list[tuple[float, float]]] = {b.name: [] for b in backends}
    rows = {name: [] for name, _, _ in pairs}
    for backend in backends:
        maps = list(distance_maps(backend, [(nxt, cur) for _, cur, nxt in pairs]))
        for (name, _, _), m in zip(pairs, maps, strict=True):
            ref = theirs[name]
            ours_bin, ref_bin = binarize(m, backend.threshold), binarize(ref, 0.2)
            corr = float(np.corrcoef(m.ravel(), ref.ravel())[0, 1])
            results[backend.name].append((iou(ours_bin, ref_bin), corr))
            rows[name].append(f"{ours_bin.mean():>28.3f} {iou(ours_bin, ref_bin):>6.3f} {corr:>6.3f}")
    for name, _, _ in pairs:
        print(f"{name:<16} {binarize(theirs[name], 0.2).mean():>10.3f} " + " ".join(rows[name]))
    for backend in backends:
        arr = np.array(results[backend.name])
        print(
            f"mean over {len(arr)} masks, {backend.name}: IoU {arr[:, 0].mean():.3f}, pixel correlation "
            f"{arr[:, 1].mean():.3f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "what",
        nargs="*",
        default=["calibrate", "evaluate", "timing", "official"],
        choices=["calibrate", "evaluate", "timing", "official"],
    )
    parser.add_argument("--data", type=Path, default=Path("data/benchmarks/difference_masks"))
    parser.add_argument("--threads", type=int, default=None, help="torch threads for the timing (default: torch's)")
    args = parser.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    print(f"weight-free threshold in code: {CALIBRATION['threshold']} ({CALIBRATION})")
    if "calibrate" in args.what:
        best = calibrate(args.data)
        if abs(best - CALIBRATION["threshold"]) > 1e-9:
            print(f"NOTE: the calibrated threshold {best:.2f} differs from CALIBRATION in training/data/difference.py")
    if "evaluate" in args.what:
        evaluate(args.data)
    if "timing" in args.what:
        timing(args.data, threads=args.threads)
    if "official" in args.what:
        official()


if __name__ == "__main__":
    main()
