"""Canvas detection, tracking and rectification on synthetic studio videos (seeds the tests do not use).

For each studio video (H.264, generated once and cached) the whole ingest chain runs as the pipeline runs it:
PyAV decode + sampling every ``--every`` s -> ``track_canvas`` with ``ContourCanvasDetector`` -> rectify.
The tracker runs in two modes: ``once`` (detector once per stable camera segment, as for the expensive
Grounding DINO + SAM backend) and ``every`` (detector on every sampled frame, median over a window of 5:
what the cheap contour backend can afford). ``raw`` is the detector alone on every frame, no tracking.

Metrics per video (corner error = mean corner distance / truth quad diagonal, against truth.json corners of
the frame with the same t_ms):
    found      fraction of sampled frames with a canvas quad
    median/p95/max corner error, and ok = fraction of frames with error <= 1.5 %
    calls      detector calls, segments = camera segments seen by the tracker
    aspect     relative error of ``rectified_size`` (from the median quad) against truth canvas_size
    chain_s    wall time of decode + sample + detect + track + rectify for the whole video

``--decode`` also times the frame sampler's strategies (sequential decoding, a seek per sample, auto) on a
60 s 640x480 studio video and on a long 1280x720 synthetic video with short and long keyframe intervals.

Run from the repository root:

    .venv/bin/python -m benchmarks.canvas_accuracy --seeds 2000-2005 --every 1 [--decode]

Videos are cached under ``--cache`` (default data/benchmarks/canvas).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from training.data.canvas import CanvasDetection
from training.data.canvas.contour import ContourCanvasDetector
from training.data.canvas.geometry import canvas_to_image, corner_error, rectified_size, rectify
from training.data.canvas.tracking import CanvasObservation, canvas_found_fraction, track_canvas
from training.data.frames import SampledFrame, iter_sampled_frames
from training.data.studio import Studio, StudioConfig, generate_video


class CountingDetector:
    """Wraps a detector and counts its calls and time."""

    def __init__(self, inner: ContourCanvasDetector) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls = 0
        self.seconds = 0.0

    def detect(self, image: np.ndarray) -> CanvasDetection | None:
        self.calls += 1
        start = time.perf_counter()
        try:
            return self.inner.detect(image)
        finally:
            self.seconds += time.perf_counter() - start


@dataclass
class Result:
    video: str
    mode: str
    frames: int
    found: float
    errors: np.ndarray
    calls: int
    segments: int
    aspect_error: float
    chain_s: float
    detect_s: float

    def row(self) -> str:
        e = self.errors[np.isfinite(self.errors)]
        med, p95, worst = (np.median(e), np.percentile(e, 95), e.max()) if len(e) else (math.nan,) * 3
        ok = float(np.mean(self.errors <= 0.015))
        return (
            f"{self.video:<20} {self.mode:<6} {self.frames:>6} {self.found:>6.1%} {med:>8.2%} {p95:>7.2%} "
            f"{worst:>7.2%} {ok:>6.1%} {self.calls:>5} {self.segments:>4} {self.aspect_error:>7.2%} "
            f"{self.chain_s:>8.1f} {self.detect_s:>8.1f}"
        )


HEADER = (
    f"{'video':<20} {'mode':<6} {'frames':>6} {'found':>6} {'median':>8} {'p95':>7} {'max':>7} {'ok':>6} "
    f"{'calls':>5} {'segs':>4} {'aspect':>7} {'chain_s':>8} {'detect_s':>8}"
)


def ensure_video(cache: Path, seed: int, config: StudioConfig) -> tuple[Path, dict]:
    video_id = f"canvas-{seed}-{config.duration_s:g}s-{config.size[0]}x{config.size[1]}-{config.fps}fps"
    truth_path = cache / f"{video_id}.truth.json"
    if not truth_path.exists():
        print(f"generating {video_id} ...", flush=True)
        generate_video(cache, video_id, seed, config)
    return cache / f"{video_id}.mp4", json.loads(truth_path.read_text())


def remember(frames: Iterable[SampledFrame], last: list[SampledFrame]) -> Iterator[SampledFrame]:
    """Pass frames through, keeping only the latest one (so the chain can rectify it after tracking)."""
    for frame in frames:
        last[:] = [frame]
        yield frame


def run_chain(path: Path, truth: dict, every_s: float, mode: str, long_side: int) -> Result:
    detector = CountingDetector(ContourCanvasDetector())
    truth_corners = {f["t_ms"]: np.array(f["corners"]) for f in truth["frames"]}
    start = time.perf_counter()
    last: list[SampledFrame] = []
    observations: list[CanvasObservation] = []
    errors = []
    size = None
    if mode == "raw":
        for frame in iter_sampled_frames(path, every_s):
            found = detector.detect(frame.image)
            corners = None if found is None else found.corners
            observations.append(CanvasObservation(frame.t_ms, corners, 0.0, 0, True))
    else:
        redetect = 1 if mode == "every" else None
        frames = remember(iter_sampled_frames(path, every_s), last)
        for obs in track_canvas(frames, detector, redetect_every=redetect):
            observations.append(obs)
            if obs.corners is not None:
                size = size or rectified_size(obs.corners, long_side)  # the pipeline fixes one size per video
                rectify(last[0].image, obs.corners, size)
    chain_s = time.perf_counter() - start
    for obs in observations:
        errors.append(math.inf if obs.corners is None else corner_error(obs.corners, truth_corners[obs.t_ms]))
    found = [o.corners for o in observations if o.corners is not None]
    aspect_error = math.nan
    if found:
        w, h = rectified_size(np.median(np.stack(found), axis=0), long_side)
        tw, th = truth["canvas_size"]
        aspect_error = abs((w / h) / (tw / th) - 1)
    return Result(
        video=path.stem.split("-")[1],
        mode=mode,
        frames=len(observations),
        found=canvas_found_fraction(observations),
        errors=np.array(errors),
        calls=detector.calls,
        segments=len({o.segment for o in observations}),
        aspect_error=aspect_error,
        chain_s=chain_s,
        detect_s=detector.seconds,
    )


# ----------------------------------------------------------------------------------- decoding


def write_pattern_video(path: Path, seconds: float, size: tuple[int, int], fps: int, keyint: int) -> Path:
    """A cheap moving-texture H.264 video (for decode timing only) with a fixed keyframe interval."""
    if path.exists():
        return path
    width, height = size
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 1, (height * 2, width * 2, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 6)  # camera-like detail, about 2-4 Mbit/s at CRF 23
    texture = np.clip(128 + smooth * (60 / smooth.std()) + 4 * noise, 0, 255).astype(np.uint8)
    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps, 1))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast", "x264-params": f"keyint={keyint}:min-keyint={keyint}"}
        for i in range(round(seconds * fps)):
            x, y = int(width / 2 * (1 + math.sin(i / 90))), int(height / 2 * (1 + math.cos(i / 70)))
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(texture[y : y + height, x : x + width]), "rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    tmp.rename(path)
    return path


def time_decoding(videos: list[tuple[str, Path]], intervals: list[float]) -> None:
    print(f"\n{'video':<34} {'every_s':>7} {'sequential':>10} {'seek':>8} {'auto':>8} {'frames':>6}")
    for name, path in videos:
        for every in intervals:
            times = {}
            counts = set()
            for strategy in ("sequential", "seek", "auto"):
                start = time.perf_counter()
                n = sum(1 for _ in iter_sampled_frames(path, every, strategy=strategy))
                times[strategy] = time.perf_counter() - start
                counts.add(n)
            print(
                f"{name:<34} {every:>7g} {times['sequential']:>9.2f}s {times['seek']:>7.2f}s {times['auto']:>7.2f}s "
                f"{'/'.join(map(str, sorted(counts))):>6}",
                flush=True,
            )


def real_paintings_check(folder: Path, seeds: list[int], config: StudioConfig) -> None:
    """Real paintings (already cropped, as released with the paper) placed on the canvas of empty studio
    frames by the truth homography: the detector against real paint texture reaching the canvas edges."""
    paths = sorted(p for p in folder.rglob("*.jpg"))
    if not paths:
        print(f"no .jpg under {folder}")
        return
    detector = ContourCanvasDetector()
    errors = []
    for k, path in enumerate(paths):
        studio = Studio(f"real-{k}", seeds[k % len(seeds)], config)
        i = (k * 37) % studio.n_frames
        corners = studio.corners(i)
        painting = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        size = studio.canvas_size
        painting = cv2.resize(painting, size, interpolation=cv2.INTER_AREA)
        to_image = canvas_to_image(corners, size)
        frame = studio.render(i, occluders=False, canvas=False)
        warped = cv2.warpPerspective(painting, to_image, config.size, flags=cv2.INTER_LINEAR)
        inside = cv2.warpPerspective(np.full(size[::-1], 255, np.uint8), to_image, config.size) > 127
        frame[inside] = warped[inside]
        _, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
        found = detector.detect(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED))
        errors.append(math.inf if found is None else corner_error(found.corners, corners))
    e = np.array(errors)
    print(
        f"\nreal paintings on studio canvases ({len(e)} from {folder}): found {np.isfinite(e).mean():.0%}, "
        f"median error {np.median(e):.2%}, error <= 1.5 % on {np.mean(e <= 0.015):.0%}"
    )


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        lo, hi = (int(v) for v in text.split("-"))
        return list(range(lo, hi + 1))
    return [int(v) for v in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="2000-2005", help="studio seeds, e.g. 2000-2005 or 2000,2003")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--every", type=float, default=1.0, help="sampling interval in seconds")
    parser.add_argument("--long-side", type=int, default=512)
    parser.add_argument("--modes", default="once,every,raw")
    parser.add_argument("--cache", type=Path, default=Path("data/benchmarks/canvas"))
    parser.add_argument("--decode", action="store_true", help="also time the frame sampler's strategies")
    parser.add_argument("--real", type=Path, help="folder of real (cropped) paintings to place on studio canvases")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    config = StudioConfig(duration_s=args.duration, fps=args.fps)
    videos = [ensure_video(args.cache, seed, config) for seed in parse_seeds(args.seeds)]
    modes = [m for m in args.modes.split(",") if m]
    results: dict[str, list[Result]] = {m: [] for m in modes}
    print(HEADER, flush=True)
    for path, truth in videos:
        for mode in modes:
            result = run_chain(path, truth, args.every, mode, args.long_side)
            results[mode].append(result)
            print(result.row(), flush=True)
    print("\nall videos" if modes else "")
    for mode in modes:
        rs = results[mode]
        errors = np.concatenate([r.errors for r in rs])
        total = Result(
            video=f"{len(rs)} videos",
            mode=mode,
            frames=len(errors),
            found=float(np.mean(np.isfinite(errors))),
            errors=errors,
            calls=sum(r.calls for r in rs),
            segments=sum(r.segments for r in rs),
            aspect_error=float(np.nanmedian([r.aspect_error for r in rs])),
            chain_s=float(np.mean([r.chain_s for r in rs])),
            detect_s=float(np.mean([r.detect_s for r in rs])),
        )
        print(total.row())
    if modes:
        print("(all-videos row: aspect = median over videos, chain_s/detect_s = mean per video)")
    if args.real:
        real_paintings_check(args.real, parse_seeds(args.seeds), config)
    if args.decode:
        long_videos = [
            ("studio 60s 640x480 (keyint 250)", videos[0][0]),
            (
                "pattern 300s 1280x720 keyint 50",
                write_pattern_video(args.cache / "pattern-720p-k50.mp4", 300, (1280, 720), 25, 50),
            ),
            (
                "pattern 300s 1280x720 keyint 250",
                write_pattern_video(args.cache / "pattern-720p-k250.mp4", 300, (1280, 720), 25, 250),
            ),
        ]
        time_decoding(long_videos, [1.0, 5.0, 20.0])


if __name__ == "__main__":
    main()
