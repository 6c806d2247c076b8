"""One synthetic painting video: the painting, the camera, the studio and the painter's hand, frame by frame."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from .brush import Stroke, make_stamps
from .camera import CameraPath, Exposure, SensorNoise, place_canvas, transform_points
from .config import DEFAULT_CONFIG, GENERATOR, StudioConfig
from .hand import HandSprite, Pose
from .landscape import design_landscape
from .painting import BLANK_RGB, Layer, PaintState, change_mask, plan_strokes, schedule
from .palettes import Palette
from .scene import build_background
from .texture import smoothstep, weave

# Canvas aspect ratios (width / height) with their probabilities: mostly landscape formats.
ASPECTS = [(4 / 3, 0.28), (3 / 2, 0.14), (5 / 4, 0.14), (16 / 9, 0.1), (1.0, 0.1), (3 / 4, 0.14), (4 / 5, 0.1)]
MARGIN = 24  # background plate margin so camera drift never shows its border
FINISHED_TAIL = (0.10, 0.18)  # time-lapse style: share of the video that shows the finished painting at the end


def _blank_canvas(weave_map: np.ndarray) -> np.ndarray:
    """The primed canvas before any paint: white gesso with the weave's shading (RGB uint8)."""
    shaded = np.asarray(BLANK_RGB, np.float32)[None, None, :] * weave_map[..., None] + 0.5
    return np.clip(shaded, 0, 255).astype(np.uint8)


def _end_earlier(
    times: np.ndarray, spans: list[tuple[int, int]], end_ms: float
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Stroke times and layer spans squeezed towards the first stroke so that the last one falls at ``end_ms``."""
    start, last = float(times[0]), float(times[-1])
    if last <= end_ms or last <= start:
        return times, spans
    scale = (end_ms - start) / (last - start)

    def squeeze(t: np.ndarray | float) -> np.ndarray:
        return np.round(start + (np.asarray(t, np.float64) - start) * scale).astype(np.int64)

    return squeeze(times), [(int(squeeze(a)), int(squeeze(b))) for a, b in spans]


def _translate(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def _exit_distance(p: np.ndarray, d: np.ndarray, size: tuple[int, int]) -> float:
    """Distance from ``p`` along unit direction ``d`` to the frame border."""
    ts = []
    for k, lim in ((0, size[0]), (1, size[1])):
        if d[k] > 1e-6:
            ts.append((lim - p[k]) / d[k])
        elif d[k] < -1e-6:
            ts.append(-p[k] / d[k])
    return max(0.0, min(ts)) if ts else 0.0


class StageStates:
    """A painting given as its captured stages (e.g. real photographs of a painting in progress): ``at(n)`` is
    the canvas after ``n`` stages (0: the blank canvas). One pseudo-stroke per stage, where its paint changed,
    tells the hand where to reach."""

    def __init__(self, states: list[np.ndarray], strokes: list[Stroke]) -> None:
        self._states = states
        self.strokes = strokes

    def at(self, n: int) -> np.ndarray:
        return self._states[int(min(max(n, 0), len(self.strokes)))]


class Studio:
    """Deterministic generator of one synthetic painting time-lapse with ground truth.

    Everything is derived from ``seed`` (and the config), so any frame can be rendered in any order
    and two instances with the same arguments produce identical pixels and truth. ``stages``: paint these
    images (RGB, one per stage, the last the finished painting) instead of a procedural landscape, each
    appearing at once at an even pace (a real time-lapse re-filmed in the studio).
    """

    def __init__(
        self,
        video_id: str,
        seed: int,
        config: StudioConfig = DEFAULT_CONFIG,
        stages: Sequence[np.ndarray] | None = None,
    ) -> None:
        self.video_id = video_id
        self.seed = int(seed)
        self.config = config
        self.size = (int(config.size[0]), int(config.size[1]))
        # children are keyed by their index: the 7th (captures) leaves the first six, and older videos, unchanged
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(self.seed).spawn(7)]
        r_paint, r_time, r_cam, r_scene, r_hand, r_noise, r_capture = rngs
        self._frame_ms = np.array([config.frame_ms(i) for i in range(config.n_frames)], np.int64)
        if stages is None:
            self._init_painting(r_paint, r_time)
        else:
            self._init_stages(list(stages), r_paint, r_time)
        self._init_captures(r_capture, from_stages=stages is not None)
        self._init_camera(r_cam, r_noise)
        paints = [np.asarray(c, np.float32) for c in list(self.palette.colors.values())[::3]][:8]
        self.background = cv2.cvtColor(
            build_background(r_scene, self.size, MARGIN, self.corners0, paints), cv2.COLOR_RGB2RGBA
        )
        self._init_hand(r_hand)

    # ----------------------------------------------------------------- painting
    def _init_painting(self, rng: np.random.Generator, r_time: np.random.Generator) -> None:
        aspects, probs = zip(*ASPECTS, strict=True)
        aspect = float(aspects[int(rng.choice(len(aspects), p=np.array(probs) / sum(probs)))])
        long_side = int(self.config.canvas_long_side)
        if aspect >= 1:
            w, h = long_side, max(8, round(long_side / aspect))
        else:
            w, h = max(8, round(long_side * aspect)), long_side
        self.canvas_size = (w, h)
        stamps = make_stamps(rng)
        self.palette, specs = design_landscape(rng, w, h, solid_stamp=len(stamps) - 1)
        strokes, clips, counts = [], [], []
        for spec in specs:
            layer_strokes = plan_strokes(rng, spec, long_side, len(stamps) - 1)
            strokes += layer_strokes
            clips += [spec.region] * len(layer_strokes)
            counts.append(len(layer_strokes))
        duration = self._duration_ms
        times, spans = schedule(r_time, counts, duration)
        if self.config.style == "timelapse":  # a time-lapse holds the finished painting for its last seconds
            times, spans = _end_earlier(times, spans, (1 - r_time.uniform(*FINISHED_TAIL)) * duration)
        self.stroke_times = times
        bounds = np.concatenate([[0], np.cumsum(counts)]).astype(int)
        self.layers = [
            Layer(k, spec.kind, spec.label, spans[k][0], spans[k][1], int(bounds[k]), int(bounds[k + 1]))
            for k, spec in enumerate(specs)
        ]
        wv = weave(rng, (h, w))
        blank = _blank_canvas(wv)
        self.paint = PaintState(blank, wv, strokes, clips, stamps)
        self._applied = np.searchsorted(times, self._frame_ms, side="right")

    @property
    def _duration_ms(self) -> int:
        """Length of the video: its last frame's time plus one frame."""
        return int(self._frame_ms[-1]) + round(1000 / self.config.fps)

    def _init_stages(self, images: list[np.ndarray], rng: np.random.Generator, r_time: np.random.Generator) -> None:
        if not images:
            raise ValueError("stages must hold at least one image (the finished painting)")
        height, width = images[0].shape[:2]
        long_side = int(self.config.canvas_long_side)
        scale = long_side / max(width, height)
        w, h = max(8, round(width * scale)), max(8, round(height * scale))
        self.canvas_size = (w, h)
        wv = weave(rng, (h, w))
        blank = _blank_canvas(wv)
        states = [blank] + [
            cv2.resize(np.ascontiguousarray(im[..., :3]), (w, h), interpolation=cv2.INTER_AREA) for im in images
        ]
        strokes = []
        for before, after in itertools.pairwise(states):
            changed = change_mask(before, after) > 0
            ys, xs = np.nonzero(changed) if changed.any() else np.nonzero(np.ones_like(changed))
            colour = after[ys, xs].reshape(-1, 3).mean(axis=0)
            strokes.append(Stroke(float(xs.mean()), float(ys.mean()), 0.0, 1.0, 1.0, tuple(map(float, colour)), 1.0, 0))
        self.paint = StageStates(states, strokes)
        pixels = states[-1].reshape(-1, 3)
        order = np.argsort(pixels.sum(axis=1))
        picks = pixels[order[np.linspace(0, len(order) - 1, 24).astype(int)]]
        self.palette = Palette("photographed", {f"c{k}": tuple(map(float, c)) for k, c in enumerate(picks)}, ())
        duration = self._duration_ms
        start = r_time.uniform(0.03, 0.08) * duration
        end = (1 - r_time.uniform(*FINISHED_TAIL)) * duration
        self.stroke_times = np.round(np.linspace(start, end, len(strokes))).astype(np.int64)
        self.layers = [
            Layer(k, "stage", f"stage {k + 1}", int(t), int(t), k, k + 1) for k, t in enumerate(self.stroke_times)
        ]
        self._applied = np.searchsorted(self.stroke_times, self._frame_ms, side="right")

    def _init_captures(self, rng: np.random.Generator, from_stages: bool) -> None:
        """Time-lapse style: when the canvas is captured, and which captures each frame shows (see ``_visible``)."""
        cfg = self.config
        n = cfg.n_frames
        self._shown = np.stack([self._applied, self._applied]).T  # (frames, 2): counts blended from -> to
        self._alpha = np.zeros(n, np.float32)  # weight of the second count
        self.captures: list[tuple[int, int]] = []  # (capture ms, strokes shown from then on)
        self.fade_ms = 0
        if cfg.style == "strokes":
            return
        fade_ms = 1000.0 * rng.uniform(*cfg.fade_s)
        if from_stages:  # each given stage is one capture
            times = self.stroke_times.astype(np.float64)
        else:
            start, end = float(self.painting_start_ms), float(self.painting_end_ms)
            interval = 1000.0 * rng.uniform(*cfg.capture_s)
            count = max(1, math.ceil((end - start) / interval))
            times = start + (end - start) * np.arange(1, count + 1) / count  # the last capture shows the last stroke
        counts = np.searchsorted(self.stroke_times, times, side="right")
        before = 0
        for t, c in zip(times, counts, strict=True):
            if c > before:  # a capture that shows nothing new is no stage
                self.captures.append((round(t), int(c)))
                before = int(c)
        self.fade_ms = round(fade_ms)
        capture_ms = np.array([t for t, _ in self.captures], np.int64)
        shown = np.array([0, *(c for _, c in self.captures)], np.int64)
        k = np.searchsorted(capture_ms, self._frame_ms, side="right")  # captures at or before each frame
        since = self._frame_ms - np.concatenate([[0], capture_ms])[k]
        alpha = np.where(k > 0, np.clip(since / max(fade_ms, 1.0), 0, 1), 1.0)
        self._shown = np.stack([shown[np.maximum(k - 1, 0)], shown[k]]).T
        self._alpha = alpha.astype(np.float32)

    def visible_counts(self, frame_index: int) -> tuple[int, int, float]:
        """(strokes shown before, strokes shown after, weight of the latter): the canvas a frame films is the
        cross-fade of the painting after these two stroke counts (the same count, weight 1, in the stroke style)."""
        a, b = self._shown[frame_index]
        alpha = float(self._alpha[frame_index])
        return (int(b), int(b), 1.0) if alpha >= 1.0 or a == b else (int(a), int(b), alpha)

    def _visible(self, frame_index: int) -> np.ndarray:
        a, b, alpha = self.visible_counts(frame_index)
        if a == b:
            return self.paint.at(b).copy()
        earlier = self.paint.at(a).copy()
        return cv2.addWeighted(earlier, 1.0 - alpha, self.paint.at(b), alpha, 0.0)

    # ------------------------------------------------------------------- camera
    def _init_camera(self, rng: np.random.Generator, r_noise: np.random.Generator) -> None:
        cfg = self.config
        w, h = self.canvas_size
        self.corners0 = place_canvas(rng, self.size, w / h)
        src = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]], np.float32)
        self.canvas_to_world = cv2.getPerspectiveTransform(src, self.corners0.astype(np.float32)).astype(np.float64)
        self.path = CameraPath(rng, cfg.n_frames, cfg.fps, self.size)
        self.exposure = Exposure(rng, cfg.n_frames, cfg.fps)
        self.noise = SensorNoise(r_noise, self.size, self.seed)
        # the canvas is pre-shrunk to about its on-screen size (area averaging avoids weave moire)
        c = self.corners0
        sx = max(np.linalg.norm(c[1] - c[0]), np.linalg.norm(c[2] - c[3])) / w
        sy = max(np.linalg.norm(c[3] - c[0]), np.linalg.norm(c[2] - c[1])) / h
        scale = min(1.0, 1.15 * max(sx, sy))
        self._disp_size = (max(2, round(w * scale)), max(2, round(h * scale)))
        fx, fy = self._disp_size[0] / w, self._disp_size[1] / h
        self._canvas_to_disp = np.array([[fx, 0, 0.5 * fx + 0.5], [0, fy, 0.5 * fy + 0.5], [0, 0, 1.0]])  # +1 px pad
        # uneven studio light across the canvas (a few percent), as a uint8 gain with 1.0 == 200
        dw, dh = self._disp_size
        yy, xx = np.mgrid[0:dh, 0:dw].astype(np.float32)
        ang = rng.uniform(0, 2 * math.pi)
        grad = ((xx / dw - 0.5) * math.cos(ang) + (yy / dh - 0.5) * math.sin(ang)) * rng.uniform(0.02, 0.06)
        self._light = np.repeat(np.round(200 * (1 + grad))[..., None], 3, axis=2).astype(np.uint8)
        self._disp_cache: tuple[tuple[int, int, float], np.ndarray] | None = None

    def _world_to_image(self, i: int) -> np.ndarray:
        return self.path.matrix(i)

    def corners(self, frame_index: int) -> np.ndarray:
        """Canvas corners (TL, TR, BR, BL) in image pixels of a frame (pixel centres at integers)."""
        return transform_points(self._world_to_image(frame_index), self.corners0)

    def canvas_to_image(self, frame_index: int) -> np.ndarray:
        """3x3 homography from canvas pixel coordinates to image pixel coordinates of a frame."""
        return self._world_to_image(frame_index) @ self.canvas_to_world

    # --------------------------------------------------------------------- hand
    def _init_hand(self, rng: np.random.Generator) -> None:
        cfg = self.config
        n = cfg.n_frames
        c = self.corners0
        canvas_w_px = 0.5 * (np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3]))
        self.sprite = HandSprite(rng, rng.uniform(0.17, 0.23) * canvas_w_px)
        fw, fh = self.size
        side = rng.choice(4, p=[0.55, 0.2, 0.15, 0.1])
        self._shoulder = [
            np.array([rng.uniform(0.7, 1.1) * fw, rng.uniform(1.3, 1.8) * fh]),
            np.array([rng.uniform(1.4, 1.8) * fw, rng.uniform(0.5, 1.0) * fh]),
            np.array([rng.uniform(-0.1, 0.3) * fw, rng.uniform(1.3, 1.8) * fh]),
            np.array([rng.uniform(-0.8, -0.4) * fw, rng.uniform(0.5, 1.0) * fh]),
        ][int(side)]
        lo, hi = cfg.hand_fraction
        goal = rng.uniform(lo + 0.1 * (hi - lo), hi - 0.1 * (hi - lo))
        want = goal * n
        best: tuple[float, list[Pose | None], np.ndarray] | None = None
        for _attempt in range(8):
            poses = self._plan_poses(rng, max(1.0, want))
            flags = self._occlusion_flags(poses)
            frac = float(flags.mean())
            if best is None or abs(frac - goal) < abs(best[0] - goal):
                best = (frac, poses, flags)
            if lo <= frac <= hi and abs(frac - goal) < 0.04:
                break
            want *= goal / max(frac, 0.5 / n)
        assert best is not None
        self._poses, self._occluded = best[1], best[2]
        self._trim_to(hi)

    def _trim_to(self, hi: float) -> None:
        """Last resort for tiny videos: drop hand frames at episode ends until the fraction is <= hi."""
        n = len(self._poses)
        while self._occluded.mean() > hi:
            last = max(i for i in range(n) if self._occluded[i])
            self._poses[last] = None
            self._occluded[last] = False

    def _episodes(self, rng: np.random.Generator, want: float) -> list[tuple[int, int, str]]:
        """Contiguous hand episodes (start, end, kind) covering about ``want`` frames."""
        n, fps = self.config.n_frames, self.config.fps
        first = int(np.searchsorted(self._frame_ms, self.painting_start_ms, side="left"))
        last = int(np.searchsorted(self._frame_ms, self.painting_end_ms, side="right"))
        episodes: list[tuple[int, int, str]] = []
        tail = n - last
        if tail >= max(3, 0.6 * fps) and rng.random() < 0.5:  # signing the finished painting
            length = int(np.clip(round(rng.uniform(0.4, 0.8) * tail), 2, min(tail - 1, want * 0.5)))
            if length >= 2:
                start = last + int(rng.integers(0, tail - length + 1))
                episodes.append((start, start + length, "sign"))
                want -= length
        span = max(last - first, 1)
        want = float(np.clip(want, 1, 0.9 * span))
        mean_len = max(5.0, rng.uniform(2.0, 4.0) * fps)
        k = max(1, round(want / mean_len))
        lengths = np.maximum(2, np.round(rng.dirichlet(np.full(k, 4.0)) * want)).astype(int)
        free = span - int(lengths.sum())
        gaps = np.floor(rng.dirichlet(np.full(k + 1, 2.0)) * max(free, 0)).astype(int)
        pos = first
        for length, gap in zip(lengths, gaps[:-1], strict=True):
            pos += int(gap)
            end = min(pos + int(length), last)
            if end > pos:
                episodes.append((pos, end, "paint"))
            pos = end
        return episodes

    def _plan_poses(self, rng: np.random.Generator, want: float) -> list[Pose | None]:
        n, fps = self.config.n_frames, self.config.fps
        poses: list[Pose | None] = [None] * n
        strokes = self.paint.strokes
        w, h = self.canvas_size
        for start, end, kind in self._episodes(rng, want):
            length = end - start
            ramp = min(max(2, round(0.4 * fps)), length // 3)
            twist = rng.uniform(-0.12, 0.12)
            sign_at = np.array([rng.uniform(0.7, 0.85) * w, rng.uniform(0.86, 0.94) * h])
            q = None
            for j in range(length):
                f = start + j
                if kind == "sign":
                    target = sign_at + np.array([0.12 * w * j / length, 0.01 * h * math.sin(j * 1.7)])
                else:
                    idx = max(0, int(self._applied[f]) - 1)
                    target = np.array([strokes[idx].x, strokes[idx].y])
                q = target if q is None else q + 0.5 * (target - q)  # the hand follows the strokes smoothly
                p_on = transform_points(self.canvas_to_image(f), q[None, :])[0]
                to_shoulder = self._shoulder - p_on
                angle = math.atan2(to_shoulder[1], to_shoulder[0]) + twist + 0.04 * math.sin(0.9 * f / fps)
                u = 1.0
                if j < ramp:
                    u = float(smoothstep(0.0, 1.0, np.array((j + 1) / (ramp + 1))))
                elif j >= length - ramp:
                    u = float(smoothstep(0.0, 1.0, np.array((length - j) / (ramp + 1))))
                d = np.array([math.cos(angle), math.sin(angle)])
                away = _exit_distance(p_on, d, self.size) + 3.0 * self.sprite.palm
                p = p_on + d * away * (1 - u)
                poses[f] = Pose(float(p[0]), float(p[1]), angle)
        return poses

    def _quad_mask(self, i: int, box: tuple[int, int, int, int]) -> np.ndarray:
        x0, y0, x1, y1 = box
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        pts = (self.corners(i) - (x0, y0)) * 16
        cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1, cv2.LINE_8, 4)
        return m

    def _occlusion_flags(self, poses: list[Pose | None]) -> np.ndarray:
        flags = np.zeros(len(poses), bool)
        for i, pose in enumerate(poses):
            if pose is None:
                continue
            fp = self.sprite.footprint(pose, self.size)
            corners = self.corners(i)
            if fp is None or not (
                fp[1][0] < corners[:, 0].max()
                and corners[:, 0].min() < fp[1][2]
                and fp[1][1] < corners[:, 1].max()
                and corners[:, 1].min() < fp[1][3]
            ):
                continue
            res = self.sprite.alpha(pose, self.size)
            if res is None:
                continue
            alpha, box = res
            flags[i] = bool(((alpha > 0) & (self._quad_mask(i, box) > 0)).any())
        return flags

    def _tip_color(self, i: int) -> np.ndarray:
        idx = max(0, int(self._applied[i]) - 1)
        if int(self._applied[i]) >= len(self.paint.strokes):  # signing after the painting is done
            return np.array([30.0, 26.0, 24.0])
        return np.asarray(self.paint.strokes[idx].color)

    # ------------------------------------------------------------------ queries
    @property
    def n_frames(self) -> int:
        """Number of frames of the video."""
        return self.config.n_frames

    @property
    def painting_start_ms(self) -> int:
        """Time of the first stroke."""
        return int(self.stroke_times[0])

    @property
    def painting_end_ms(self) -> int:
        """Time of the last stroke."""
        return int(self.stroke_times[-1])

    @property
    def occluded(self) -> np.ndarray:
        """Per-frame flag: hand or brush pixels overlap the canvas quad."""
        return self._occluded.copy()

    def hand_tip(self, frame_index: int) -> tuple[float, float] | None:
        """Brush tip position (image pixels) in a frame, or None when no hand is in the frame."""
        pose = self._poses[frame_index]
        return None if pose is None else (pose.x, pose.y)

    def last_stroke_xy(self, frame_index: int) -> tuple[float, float] | None:
        """Canvas position of the most recent stroke at a frame (None before the first stroke)."""
        n = int(self._applied[frame_index])
        return None if n == 0 else (self.paint.strokes[n - 1].x, self.paint.strokes[n - 1].y)

    def frame_ms(self, frame_index: int) -> int:
        """Timestamp of a frame in ms."""
        return int(self._frame_ms[frame_index])

    def layer_at(self, frame_index: int) -> Layer | None:
        """The layer being painted at a frame (None before the first / after the last stroke and in pauses)."""
        t = self._frame_ms[frame_index]
        for layer in self.layers:
            if layer.start_ms <= t <= layer.end_ms:
                return layer
        return None

    def canvas_at(self, frame_index: int) -> np.ndarray:
        """Rectified painting (RGB uint8, canvas_size) as the frame shows it (a cross-fade of two captures during
        a time-lapse transition)."""
        return self._visible(int(frame_index))

    def canvas_after_layer(self, index: int) -> np.ndarray:
        """Rectified painting right after layer ``index`` was finished."""
        return self.paint.at(self.layers[index].last).copy()

    def final(self) -> np.ndarray:
        """The finished painting (RGB uint8)."""
        return self.paint.at(len(self.paint.strokes)).copy()

    def layer_masks(self) -> list[np.ndarray]:
        """Per layer, uint8 0/255 mask (canvas coordinates) of the pixels whose colour that layer changed."""
        masks = []
        for layer in self.layers:
            before = self.paint.at(layer.first).copy()
            masks.append(change_mask(before, self.paint.at(layer.last)))
        return masks

    # ---------------------------------------------------------------- rendering
    def _display_canvas(self, i: int) -> np.ndarray:
        key = self.visible_counts(i)
        if self._disp_cache is None or self._disp_cache[0] != key:
            small = cv2.resize(self._visible(i), self._disp_size, interpolation=cv2.INTER_AREA)
            small = cv2.multiply(small, self._light, scale=1 / 200)
            # opaque RGBA with a 1 px transparent border: the warped edge is then anti-aliased and, with the
            # colour premultiplied by alpha, compositing is one multiply-add that is exact where alpha is 0
            rgba = cv2.copyMakeBorder(cv2.cvtColor(small, cv2.COLOR_RGB2RGBA), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
            self._disp_cache = (key, rgba)
        return self._disp_cache[1]

    def _draw_canvas(self, frame: np.ndarray, i: int) -> None:
        corners = self.corners(i)
        x0, y0 = (max(0, math.floor(v) - 2) for v in corners.min(axis=0))
        x1 = min(self.size[0], math.ceil(corners[:, 0].max()) + 3)
        y1 = min(self.size[1], math.ceil(corners[:, 1].max()) + 3)
        if x1 <= x0 or y1 <= y0:
            return
        m = _translate(-x0, -y0) @ self.canvas_to_image(i) @ np.linalg.inv(self._canvas_to_disp)
        warped = cv2.warpPerspective(
            self._display_canvas(i),
            m,
            (x1 - x0, y1 - y0),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        inv = cv2.bitwise_not(cv2.extractChannel(warped, 3))
        roi = frame[y0:y1, x0:x1]
        roi[:] = cv2.add(
            cv2.cvtColor(warped, cv2.COLOR_RGBA2RGB), cv2.multiply(roi, cv2.merge([inv, inv, inv]), scale=1 / 255)
        )

    def render(self, frame_index: int, occluders: bool = True, canvas: bool = True) -> np.ndarray:
        """Frame ``frame_index`` as RGB uint8 (H, W, 3), before video compression.

        ``occluders=False`` leaves out the hand; ``canvas=False`` renders the empty studio (both are
        for measuring). Noise and exposure are identical across these variants.
        """
        i = int(frame_index)
        m_bg = self._world_to_image(i) @ _translate(-MARGIN, -MARGIN)
        # 4-channel warps are much faster than 3-channel ones in OpenCV
        frame = cv2.cvtColor(
            cv2.warpAffine(
                self.background, m_bg[:2], self.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            ),
            cv2.COLOR_RGBA2RGB,
        )
        if canvas:
            self._draw_canvas(frame, i)
        pose = self._poses[i]
        if occluders and pose is not None:
            self.sprite.composite(frame, pose, self._tip_color(i))
        frame = self.exposure.apply(frame, i)
        return self.noise.apply(frame, i)

    # -------------------------------------------------------------------- truth
    def truth(self) -> dict[str, Any]:
        """Ground truth of the video (see the module docs of :mod:`training.data.studio`)."""
        vid = self.video_id
        frames = []
        for i in range(self.n_frames):
            layer = self.layer_at(i)
            frames.append(
                {
                    "t_ms": self.frame_ms(i),
                    "corners": [[round(float(x), 3), round(float(y), 3)] for x, y in self.corners(i)],
                    "occluded": bool(self._occluded[i]),
                    "layer": layer.kind if layer else None,
                }
            )
        return {
            "video_id": vid,
            "seed": self.seed,
            "generator": GENERATOR,
            "fps": self.config.fps,
            "size": list(self.size),
            "n_frames": self.n_frames,
            "canvas_size": list(self.canvas_size),
            "mood": self.palette.mood,
            "final": f"{vid}.final.png",
            "painting_start_ms": self.painting_start_ms,
            "painting_end_ms": self.painting_end_ms,
            "hand_fraction": round(float(self._occluded.mean()), 4),
            "style": self.config.style,
            # time-lapse style: each capture (a stage) fades in from capture_ms and is fully shown from shown_ms
            "stages": [
                {"index": k, "strokes": count, "capture_ms": t, "shown_ms": t + self.fade_ms}
                for k, (t, count) in enumerate(self.captures)
            ],
            "layers": [
                {
                    "index": la.index,
                    "kind": la.kind,
                    "label": la.label,
                    "start_ms": la.start_ms,
                    "end_ms": la.end_ms,
                    "strokes": la.last - la.first,
                    "mask": f"{vid}.masks/{la.index:02d}_{la.kind}.png",
                }
                for la in self.layers
            ],
            "frames": frames,
        }
