"""Following the canvas through a video: detect once per stable camera segment, track in between.

The camera of a painting time-lapse mostly stands still while hands cross the canvas, so the (possibly
expensive, ~30 s per frame for Grounding DINO + SAM on a CPU) detector runs once when a camera segment
starts, and the quad is carried from frame to frame by the camera motion, measured on the static scene
around the canvas (the canvas is masked out: paint changes it). The motion tells two situations apart:

- slow drift (a tripod settling, zoom breathing): followed, the segment continues;
- a camera move (a jump between consecutive frames, or a view the scene no longer matches): a new segment
  starts and the detector runs again.

Detections are kept in the coordinates of the segment's first frame, where a static canvas does not move,
and vote: the segment's quad is the running mean of the largest group of agreeing detections (within
``tolerance`` of the diagonal), with older votes slowly fading. With ``redetect_every`` set (cheap
detectors), a few frames where a hand over an edge bends the detected quad cannot move the corners; a canvas
that was really moved wins the vote after a while. Memory is bounded: one anchor frame and a few vote groups.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from training.data.canvas import CanvasDetector
from training.data.canvas.geometry import corner_error
from training.data.frames import SampledFrame


@dataclass(frozen=True)
class CanvasObservation:
    t_ms: int
    corners: np.ndarray | None  # (4, 2) float32 TL, TR, BR, BL in frame pixels; None when no canvas
    score: float
    segment: int  # stable camera segment index (0, 1, ...); a new segment starts when the camera moved
    detected: bool  # True if the detector ran on this frame, False if tracked/propagated


def canvas_found_fraction(observations: Sequence[CanvasObservation]) -> float:
    """Fraction of observations with a canvas quad (0.0 for no observations)."""
    if not observations:
        return 0.0
    return sum(o.corners is not None for o in observations) / len(observations)


def track_canvas(
    frames: Iterable[SampledFrame],
    detector: CanvasDetector,
    *,
    redetect_every: int | None = None,
    tolerance: float = 0.01,
    memory: float = 20.0,
    jump_threshold: float = 0.03,
    motion_size: int = 640,
    min_inliers: int = 15,
) -> Iterator[CanvasObservation]:
    """Canvas quad per frame, robust over time (see the module doc).

    ``redetect_every``: also run the detector every that many frames within a segment (None: only when a
    segment starts, plus after 1, 2, 4, 8 ... frames while a segment has no canvas yet). ``tolerance``:
    corner error (fraction of the diagonal) within which two detections agree. ``memory``: half-life of a
    vote, in detections. ``jump_threshold``: camera motion between consecutive frames, as a fraction of the
    frame diagonal, that counts as a camera move. ``motion_size``: long side of the images the motion is
    measured on. ``min_inliers``: scene points that must agree on a motion for it to be trusted.
    """
    if redetect_every is not None and redetect_every < 1:
        raise ValueError(f"redetect_every must be >= 1 or None, got {redetect_every}")
    if not 0 < tolerance < 1 or memory <= 0 or jump_threshold <= 0:
        raise ValueError("tolerance must be in (0, 1); memory and jump_threshold must be positive")
    votes = _Votes(tolerance, decay=0.5 ** (1 / memory))
    tracker = _Tracker(detector, redetect_every, votes, jump_threshold, _Motion(motion_size, min_inliers))
    for frame in frames:
        yield tracker.step(frame)


# ----------------------------------------------------------------------------------------- votes


@dataclass
class _Group:
    corners: np.ndarray  # running mean of the agreeing detections, segment-reference coordinates
    score: float  # running mean of their scores
    weight: float = 1.0  # fading count of votes
    count: int = 1


@dataclass
class _Votes:
    """Streaming mode of the detections of one segment: a few groups of agreeing quads with fading weights."""

    tolerance: float
    decay: float
    capacity: int = 8
    groups: list[_Group] = field(default_factory=list)
    misses: float = 0.0  # fading count of detector calls that found no canvas

    def fresh(self) -> _Votes:
        return _Votes(self.tolerance, self.decay, self.capacity)

    def add(self, corners: np.ndarray | None, score: float) -> None:
        for group in self.groups:
            group.weight *= self.decay
        self.misses *= self.decay
        if corners is None:
            self.misses += 1.0
            return
        near = [(corner_error(corners, g.corners), g) for g in self.groups]
        near = [(e, g) for e, g in near if e <= self.tolerance]
        if near:
            group = min(near, key=lambda eg: eg[0])[1]
            group.count += 1
            rate = 1.0 / min(group.count, 20)  # a mean over the first 20, then a slow moving average
            group.corners = group.corners + rate * (corners - group.corners)
            group.score += rate * (score - group.score)
            group.weight += 1.0
            return
        self.groups.append(_Group(np.asarray(corners, np.float64), score))
        if len(self.groups) > self.capacity:
            self.groups.remove(min(self.groups, key=lambda g: g.weight))

    def best(self) -> _Group | None:
        """The leading group, or None when finding no canvas is (so far) the more common outcome."""
        if not self.groups:
            return None
        group = max(self.groups, key=lambda g: g.weight)
        return group if group.weight >= self.misses else None


# ---------------------------------------------------------------------------------------- motion


class _Motion:
    """Camera motion from an anchor frame to the current one: corners of the static scene (the canvas masked
    out) followed by pyramidal Lucas-Kanade optical flow with a forward-backward check, then a RANSAC
    similarity. The flow is sub-pixel accurate, ignores hands (they fail the checks or are RANSAC outliers) and
    only follows moderate motion. When too few corners survive, ECC (direct alignment of all the scene's
    edges) has the last word; it too only converges for small motions, so a camera move makes both fail,
    which is what ends a segment.
    """

    def __init__(self, motion_size: int, min_inliers: int) -> None:
        self.motion_size = motion_size
        self.min_inliers = min_inliers

    def prepare(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """Grey image at motion resolution and its scale relative to the frame."""
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        scale = min(1.0, self.motion_size / max(gray.shape))
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        return gray, scale

    def features(self, gray: np.ndarray, regions: tuple[np.ndarray, ...] | None) -> np.ndarray:
        """(N, 2) float32 corners worth following, chosen per region so that a few strong corners (the
        canvas's) do not crowd out the weaker ones of a plain wall (the threshold is relative to the best)."""
        spacing = max(4, round(max(gray.shape) / 80))
        found = []
        for mask in regions or (None,):
            pts = cv2.goodFeaturesToTrack(gray, maxCorners=400, qualityLevel=0.005, minDistance=spacing, mask=mask)
            if pts is not None:
                found.append(pts.reshape(-1, 2))
        return np.concatenate(found) if found else np.zeros((0, 2), np.float32)

    def estimate(self, anchor: _Anchor, gray: np.ndarray) -> tuple[np.ndarray, int | None] | None:
        """3x3 transform anchor -> current (motion-resolution pixels) and the inlier count (None: from ECC)."""
        return self._flow(anchor, gray) or self._ecc(anchor, gray)

    def _flow(self, anchor: _Anchor, gray: np.ndarray) -> tuple[np.ndarray, int] | None:
        if len(anchor.points) < 2 * self.min_inliers:
            return None
        params = {
            "winSize": (21, 21),
            "maxLevel": 3,
            "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01),
        }
        fwd, status, _ = cv2.calcOpticalFlowPyrLK(anchor.gray, gray, anchor.points, None, **params)
        back, status_back, _ = cv2.calcOpticalFlowPyrLK(gray, anchor.gray, fwd, None, **params)
        ok = (status.ravel() == 1) & (status_back.ravel() == 1)
        ok &= np.linalg.norm(back - anchor.points, axis=1) < 0.5
        if ok.sum() < self.min_inliers:
            return None
        model, inliers = cv2.estimateAffinePartial2D(
            anchor.points[ok], fwd[ok], method=cv2.RANSAC, ransacReprojThreshold=1.0, maxIters=2000, confidence=0.995
        )
        if model is None or int(inliers.sum()) < self.min_inliers:
            return None
        return np.vstack([model, [0.0, 0.0, 1.0]]), int(inliers.sum())

    def _ecc(self, anchor: _Anchor, gray: np.ndarray) -> tuple[np.ndarray, None] | None:
        """ECC rigid alignment of the anchor's scene at half resolution: for plain scenes, where too few corners
        survive (a hand over the few there are), it uses every edge, the canvas's own included."""
        half = np.array([[0.5, 0, -0.25], [0, 0.5, -0.25], [0, 0, 1.0]])  # pixel centres at half resolution
        template = cv2.resize(anchor.gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        current = cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        mask = None
        if anchor.mask is not None:
            mask = cv2.resize(anchor.mask, (current.shape[1], current.shape[0]), interpolation=cv2.INTER_NEAREST)
        warp = np.eye(2, 3, dtype=np.float32)
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-5)
        try:
            # the warp maps template (anchor) coordinates to input (current) coordinates
            cc, warp = cv2.findTransformECC(template, current, warp, cv2.MOTION_EUCLIDEAN, criteria, mask, 5)
        except cv2.error:  # did not converge
            return None
        if cc < 0.8:
            return None
        m = np.vstack([warp.astype(np.float64), [0.0, 0.0, 1.0]])
        return np.linalg.inv(half) @ m @ half, None


@dataclass
class _Anchor:
    """A frame the motion is measured against, with its transform from segment-reference coordinates."""

    gray: np.ndarray
    points: np.ndarray  # (N, 2) corners of the static scene to follow
    mask: np.ndarray | None  # 255 on the static scene, 0 on the canvas (None: canvas unknown)
    ref_to_anchor: np.ndarray  # 3x3, frame pixels
    baseline: int | None = None  # inliers of the first match against this anchor


@dataclass
class _Segment:
    index: int
    anchor: _Anchor
    votes: _Votes
    ref_to_current: np.ndarray = field(default_factory=lambda: np.eye(3))  # frame pixels, reference -> now
    frame: int = 0  # index of the current frame within the segment
    next_retry: int = 1  # frame at which a segment without a canvas asks the detector again


class _Tracker:
    def __init__(
        self,
        detector: CanvasDetector,
        redetect_every: int | None,
        votes: _Votes,
        jump_threshold: float,
        motion: _Motion,
    ) -> None:
        self.detector = detector
        self.redetect_every = redetect_every
        self.votes = votes
        self.jump_threshold = jump_threshold
        self.motion = motion
        self.segment: _Segment | None = None
        self.segments = 0

    def step(self, frame: SampledFrame) -> CanvasObservation:
        gray, scale = self.motion.prepare(frame.image)
        seg = self.segment
        if seg is None or not self._follow(seg, gray, scale, frame.image.shape):
            seg = self._start_segment(gray)
        detected = self._should_detect(seg)
        if detected:
            self._detect(seg, frame.image)
        corners, score = self._quad(seg)
        if seg.frame == 0:  # now that the canvas is known, the anchor can leave it out
            self._set_anchor(seg, gray, scale, corners)
        return CanvasObservation(frame.t_ms, corners, score, seg.index, detected)

    # ------------------------------------------------------------------------------- segments
    def _follow(self, seg: _Segment, gray: np.ndarray, scale: float, shape: tuple[int, ...]) -> bool:
        """Carry the segment to this frame; False when the camera moved (or the view is lost)."""
        estimate = self.motion.estimate(seg.anchor, gray)
        if estimate is None:
            return False
        anchor_to_current, inliers = estimate
        ref_to_current = _to_frame(anchor_to_current, scale) @ seg.anchor.ref_to_anchor
        if _displacement(seg.ref_to_current, ref_to_current, shape) > self.jump_threshold:
            return False
        seg.ref_to_current = ref_to_current
        seg.frame += 1
        if inliers is not None:
            if seg.anchor.baseline is None:
                seg.anchor.baseline = inliers
            elif inliers < 0.6 * seg.anchor.baseline:  # light, paint or drift took the scene from the anchor
                self._set_anchor(seg, gray, scale, self._quad(seg)[0])
        return True

    def _start_segment(self, gray: np.ndarray) -> _Segment:
        anchor = _Anchor(gray, self.motion.features(gray, None), mask=None, ref_to_anchor=np.eye(3))
        self.segment = _Segment(self.segments, anchor, self.votes.fresh())
        self.segments += 1
        return self.segment

    def _set_anchor(self, seg: _Segment, gray: np.ndarray, scale: float, corners: np.ndarray | None) -> None:
        regions = _scene_regions(gray.shape, corners, scale)
        mask = None if regions is None else cv2.bitwise_or(*regions)
        seg.anchor = _Anchor(gray, self.motion.features(gray, regions), mask, ref_to_anchor=seg.ref_to_current.copy())

    # ----------------------------------------------------------------------------- detection
    def _should_detect(self, seg: _Segment) -> bool:
        if seg.frame == 0:
            return True
        if self.redetect_every is not None and seg.frame % self.redetect_every == 0:
            return True
        if not seg.votes.groups and seg.frame >= seg.next_retry:
            seg.next_retry = 2 * seg.frame  # no canvas yet: ask again after 1, 2, 4, 8 ... frames
            return True
        return False

    def _detect(self, seg: _Segment, image: np.ndarray) -> None:
        found = self.detector.detect(image)
        if found is None:
            seg.votes.add(None, 0.0)
            return
        to_ref = np.linalg.inv(seg.ref_to_current)
        seg.votes.add(_apply(to_ref, np.asarray(found.corners, np.float64)), float(found.score))

    def _quad(self, seg: _Segment) -> tuple[np.ndarray | None, float]:
        """The segment's voted quad carried into the current frame, and its detector score."""
        group = seg.votes.best()
        if group is None:
            return None, 0.0
        return _apply(seg.ref_to_current, group.corners).astype(np.float32), float(group.score)


def _displacement(before: np.ndarray, after: np.ndarray, shape: tuple[int, ...]) -> float:
    """Largest displacement of the frame corners between two transforms, over the frame diagonal."""
    h, w = shape[:2]
    box = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float64)
    moved = _apply(after, box) - _apply(before, box)
    return float(np.linalg.norm(moved, axis=1).max() / math.hypot(w, h))


def _scene_regions(shape: tuple[int, ...], corners: np.ndarray | None, scale: float) -> tuple[np.ndarray, ...] | None:
    """Masks of the static scene: around the canvas (its paint changes) and a thin band along its border
    (the border stays put and holds the strongest corners of a plain studio). None when the canvas is unknown."""
    if corners is None:
        return None
    quad = (np.asarray(corners, np.float64) + 0.5) * scale - 0.5
    centre = quad.mean(axis=0)

    def polygon(shrink: float) -> np.ndarray:
        mask = np.zeros(shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(centre + shrink * (quad - centre)).astype(np.int32)], 255)
        return mask

    outer, inner = polygon(1.02), polygon(0.97)
    return cv2.bitwise_not(outer), cv2.subtract(outer, inner)


def _to_frame(m: np.ndarray, scale: float) -> np.ndarray:
    """A transform between motion-resolution images expressed between full frames."""
    if scale == 1.0:
        return m
    s = np.array([[scale, 0, 0.5 * scale - 0.5], [0, scale, 0.5 * scale - 0.5], [0, 0, 1.0]])
    return np.linalg.inv(s) @ m @ s


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.hstack([pts, np.ones((len(pts), 1))]) @ m.T
    return p[:, :2] / p[:, 2:3]
