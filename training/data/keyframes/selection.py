"""Choosing the keyframes of one video: clean frames with enough new paint, then the target I_T.

Paper Sec. 4: frames "showing hands, paint strokes, or minimal changes were excluded". In order:

1. occluders: each frame is tested (weight-free temporal test on the canvas and, given the frames' surrounds,
   on the margin around it, or flags from a detector such as Grounding DINO); occluded frames never become
   keyframes nor references;
2. completion: the finished painting is the median of the clean frames among the last few; the completion time
   is the first clean frame that shows it, and the target I_T the clearest view of it: the one nearest the median
   of the last frames from the completion on, the latest on a tie (paint stays: a later clean frame that differs
   again shows a hand the occluder test missed, e.g. one resting). When the finished painting is seen only in the
   last frames beside an arm (the painter stepping away; the canvas test finds the canvas clear), those count;
   when I_T shows something that came after one of the last keyframes and is gone in the last frame of the
   video (a hand withdrawing slowly, or resting so long that it was kept as paint), the last clean frame
   before it without that, that keyframe at the earliest, is I_T, and the keyframes after it are dropped;
3. new paint: walking the clean frames before completion, a frame is kept when it shows at least
   ``min_change`` of new paint since the last keyframe and ``min_interval_s`` have passed; otherwise it is
   "unchanged". A frame due to be kept waits for the faint end of its passage (the following clean frames
   that add less than ``min_change``), so a pair holds a whole passage. The last clean frame before a burst
   of new paint is kept too (see ``burst_keep_change``, ``burst_interval_fraction``), and so is the last clean
   frame before the paint moves to another region, away from all the paint since the last keyframe (a region
   switch, often a new layer: see ``switch_step``), so that each pair carries one region's paint. A due frame
   is not deferred into a new region either. A frame to be kept whose new paint has a patch reaching the canvas
   edge that is gone in the next two clean frames carried a missed hand: an earlier frame with (nearly) its
   lasting paint, or else the next clean frame, is kept instead.
   The last keyframe before I_T is dropped when I_T adds (almost) nothing to it or comes sooner than
   ``min_interval_s`` after it.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from .border import Surrounds, border_verdicts
from .change import WorkFrames, blobs, change_mask, colour_change, consensus, skin_mask
from .config import DEFAULT_CONFIG, FrameDecision, KeyframeConfig, KeyframeSelection, OcclusionFn
from .occluders import occluder_blob, occluder_verdicts, persistence_frames

ONSET_SHARE = 0.1  # a region switch starts at the first frame with this share of ``switch_step`` in the new region
MOVE_SHARE = 0.03  # a due frame is not deferred to a frame with this share of ``switch_step`` in a new region
VIEW_NOISE = 0.00025  # differences between two clean views of one canvas (camera noise, jitter): 0.025 %
HAND_REFERENCES = 3  # keyframes before I_T that a hand gone by the end of the video is looked for against
SWITCH_LOOKBACK = 64  # walked frames a region switch looks back over: bounds time and memory on a static canvas


def paint_mask(image: np.ndarray, reference: np.ndarray, config: KeyframeConfig) -> np.ndarray:
    """Where ``image`` shows new paint compared with ``reference`` (work copies): a bool mask."""
    return change_mask(colour_change(image, reference, config.shift_px), config.pixel_threshold, config.opening_px)


def changed_fraction(image: np.ndarray, reference: np.ndarray, config: KeyframeConfig) -> float:
    """Fraction of the canvas where ``image`` shows new paint compared with ``reference`` (work copies)."""
    return float(paint_mask(image, reference, config).mean())


def looks_blank(image: np.ndarray, config: KeyframeConfig) -> bool:
    """True for an unpainted canvas: less than ``min_change`` of it clearly differs from its median colour.

    "Clearly" uses the occluder threshold and opening, not the new-paint ones: the weave of a bare canvas
    and uneven light on it are low-contrast, paint on a white canvas is not.
    """
    ground = np.median(image.reshape(-1, 3), axis=0)
    flat = np.broadcast_to(ground, image.shape).astype(np.float32)
    change = colour_change(image, flat, config.shift_px, match=False)
    mask = change_mask(change, config.occluder_threshold, config.occluder_opening_px)
    return float(mask.mean()) < max(config.min_change, 1e-9)


@dataclass(frozen=True)
class Completion:
    """Where the painting is finished, in positions of the clean-frame list."""

    completion: int  # first clean position showing the finished painting
    target: int  # last clean position showing it (I_T)
    residual: list[float]  # per clean position: fraction still differing from the finished painting


def find_completion(work: WorkFrames, clean: list[int], config: KeyframeConfig) -> Completion:
    """Completion and target positions among the ``clean`` frame indices (time order)."""
    # the last clean frames among the last few frames of the video: when a hand covers the end, the last
    # clean frame alone (an older one may predate the last strokes)
    first_of_tail = work.with_canvas[-min(config.final_frames, len(work.with_canvas))]
    tail = [i for i in clean[::-1] if i >= first_of_tail] or [clean[-1]]
    final = consensus(work.image(clean[-1]), [work.image(i) for i in tail])
    residual = [changed_fraction(work.image(i), final, config) for i in clean]
    tol = config.completion_tolerance
    settled = [p for p, r in enumerate(residual) if r <= tol]
    if not settled:  # the painting still changes in the last clean frame: the video ends unfinished
        return Completion(len(clean) - 1, len(clean) - 1, residual)
    # the first clean frame showing the finished painting is the completion: paint stays, so a later clean frame
    # that differs from the finished painting again shows something that comes and goes, a hand resting at one
    # spot for longer than the occluder test's window (or one the test missed), not paint. Clean frames after the
    # last one showing it differ from what most of the last frames show: a moving hand, likewise
    # (a single settled frame between differing ones may be a coincidence of the measure: two in a row are asked).
    # Before it, a position is still in progress when it and its predecessor both differ; one differing frame
    # alone is an outlier
    target = settled[-1]
    steady = [p for p in settled if p == target or p + 1 in settled]
    unsettled = [p for p in range(target) if residual[p] > tol and (p == 0 or residual[p - 1] > tol)]
    completion = min(steady[0], unsettled[-1] + 1 if unsettled else 0)
    return Completion(completion, target, residual)


def occlusion_flags(frames: Sequence[tuple[int, np.ndarray | None]], detector: OcclusionFn) -> list[bool]:
    """One flag per frame from a per-frame detector (e.g. Grounding DINO), for ``select_keyframes(occluded=)``.

    Frames are read one at a time; frames without a canvas get False (they are dropped as "no_canvas").
    """
    return [False if image is None else bool(detector(int(t_ms), image)) for t_ms, image in frames]


def _percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def select_keyframes(
    frames: Sequence[tuple[int, np.ndarray | None]],
    config: KeyframeConfig = DEFAULT_CONFIG,
    occluded: Sequence[bool] | None = None,
    surrounds: Surrounds | None = None,
) -> KeyframeSelection:
    """Keyframes of one video: clean frames with new paint, the last being the target I_T.

    ``frames``: (t_ms, rectified RGB canvas, or None when no canvas was found) in time order, all of one
    size; a lazy sequence is read once. When ``occluded`` is given (e.g. from the Grounding DINO
    "hand. paintbrush." backend, one flag per frame), it replaces the weight-free occluder test and
    ``backend`` is "grounding_dino"; otherwise the weight-free "temporal" test is used: a change that does
    not persist over the following frames is an occluder, not paint, when it enters from the canvas edge
    and is compact, with a skin-colour cue (see :mod:`.occluders`). With ``surrounds`` (one per frame), that
    test also drops a frame whose surround shows an arm crossing the canvas border, and ``backend`` is
    "temporal+border" (see :mod:`.border`).
    """
    work = WorkFrames(frames, config.work_long_side)
    if len(work) == 0:
        raise ValueError("select_keyframes got no frames; sample the video first (sampled_frames, canvas_frames)")
    verdicts, backend, arm_only = _occlusion(work, config, occluded, surrounds)
    clean = [i for i in work.with_canvas if not verdicts[i][0]]
    if not clean:
        raise ValueError(
            f"no clean canvas frame among {len(work)} frames ({len(work.with_canvas)} show the canvas, all of them "
            "occluded); check the canvas_frames preview, sample more often, or use the other occluder backend"
        )
    seen, completion, target, residual = _finished_view(work, clean, arm_only, config)
    first_target = target
    t_completion = work.t_ms[completion]
    decisions = _dropped_outright(work, verdicts, t_completion, target)
    risky = _next_to_occluded(work, verdicts)
    walked = [i for i in clean if work.t_ms[i] < t_completion]
    kept = _walk_new_paint(work, walked, completion, config, decisions, risky)
    held = _target_without_hand(work, seen, target, kept, config)
    was_kept = False
    state = f"differs from the final state on {_percent(residual)}"
    if target in arm_only:
        state += "; seen only while an arm shows beside the canvas, whose own test finds it clear"
    if held != target:  # the finished painting was held by a hand the occluder test missed: an earlier I_T
        decisions[target] = FrameDecision(
            work.t_ms[target],
            False,
            "occluded",
            "shows something that is gone in the last frame of the video (paint stays: a hand withdrawing slowly, "
            f"missed by the occluder test); the target I_T is the frame at {work.t_ms[held]} ms",
        )
        target = held
        t_completion = min(t_completion, work.t_ms[held])
        for i in kept[bisect.bisect_right(kept, held) :]:  # keyframes with that hand in them
            decisions[i] = FrameDecision(
                work.t_ms[i],
                False,
                "occluded",
                f"shows a hand that is gone in the last frame of the video, like "
                f"the frame at {work.t_ms[first_target]} ms; the target I_T is the frame at {work.t_ms[held]} ms",
            )
        was_kept = held in kept  # a keyframe becomes I_T: its pair with the keyframe before it stands as walked
        kept = kept[: bisect.bisect_left(kept, held)]
        # the final state of find_completion showed the hand; the last frame of the video does not
        residual = changed_fraction(work.image(target), work.image(work.with_canvas[-1]), config)
        state = f"differs from the last frame of the video on {_percent(residual)}"
    decisions[target] = FrameDecision(work.t_ms[target], True, None, f"target I_T: the finished painting ({state})")
    if not was_kept:
        _drop_last_if_redundant(work, kept, target, config, decisions)
    return KeyframeSelection(
        decisions=[decisions[i] for i in range(len(work))],
        target_t_ms=work.t_ms[target],
        completion_t_ms=t_completion,
        backend=backend,
    )


def _target_without_hand(
    work: WorkFrames, clean: list[int], target: int, kept: list[int], config: KeyframeConfig
) -> int:
    """The target I_T, or the last clean frame before it that shows nothing gone in the last frame of the video,
    when I_T does: a largest patch of ``occluder_min_area`` that differs from a keyframe in I_T and not in the last
    frame (whatever its occluder verdict) came after that keyframe and left again: a hand, not paint, which stays.
    The last few keyframes serve as references, latest first, because a hand resting long enough may already be
    in the later ones; I_T goes back to the reference at the earliest."""
    final = work.image(work.with_canvas[-1])
    held = target
    for reference in reversed(kept[-HAND_REFERENCES:]):
        if reference >= held:
            continue
        before = work.image(reference)
        lasting = paint_mask(final, before, config)
        if _gone(work.image(held), before, lasting, config) < config.occluder_min_area:
            continue
        for i in reversed(clean[clean.index(reference) : clean.index(held)]):
            if i == reference or _gone(work.image(i), before, lasting, config) < config.occluder_min_area:
                held = i
                break
    return held


def _gone(image: np.ndarray, before: np.ndarray, lasting: np.ndarray, config: KeyframeConfig) -> float:
    """Largest hand-like patch of ``image`` differing from ``before`` where the ``lasting`` paint (the last
    frame's) does not."""
    return _hand_patch(paint_mask(image, before, config) & ~lasting, image, config, at_edge=False)


def _hand_patch(mask: np.ndarray, image: np.ndarray, config: KeyframeConfig, at_edge: bool = True) -> float:
    """Area (share of the canvas) of the largest patch of ``mask`` that the occluder test would call a hand in
    ``image``: after its opening, compact, and skin-coloured or large, reaching the canvas edge (``at_edge``; else
    anywhere: what is left of a hand withdrawing past the edge); 0 when there is none.

    A change that comes and goes is not always a hand: photographs of a painting in progress differ in light
    from one to the next (a brighter sky in one of them), and a time-lapse shows such patches for seconds."""
    opened = change_mask(mask.astype(np.float32), 0.5, config.occluder_opening_px)
    if not opened.any():
        return 0.0
    found, _ = blobs(opened, skin_mask(image), config.edge_band)
    if not at_edge:
        found = [dataclasses.replace(blob, touches_edge=True) for blob in found]
    blob = occluder_blob(found, config)
    return 0.0 if blob is None else blob.area


def _occlusion(
    work: WorkFrames, config: KeyframeConfig, occluded: Sequence[bool] | None, surrounds: Surrounds | None
) -> tuple[list[tuple[bool, str]], str, set[int]]:
    """Per-frame (occluded, explanation), the backend that decided, and the frames occluded only by the arm test
    (the canvas test found the canvas itself clear)."""
    if occluded is None:
        verdicts = occluder_verdicts(work, config)
        if surrounds is None:
            return verdicts, "temporal", set()
        window = persistence_frames(work, config)
        arms = border_verdicts(surrounds, work.t_ms, window, config)
        arm_only = {i for i, (v, arm) in enumerate(zip(verdicts, arms, strict=True)) if arm[0] and not v[0]}
        merged = [arm if i in arm_only else v for i, (v, arm) in enumerate(zip(verdicts, arms, strict=True))]
        return merged, "temporal+border", arm_only
    if len(occluded) != len(work):
        raise ValueError(f"occluded has {len(occluded)} flags for {len(work)} frames; pass exactly one flag per frame")
    detail = "occluder detector: hand or paintbrush over the canvas"
    return [(bool(flag), detail if flag else "") for flag in occluded], "grounding_dino", set()


def _finished_view(
    work: WorkFrames, clean: list[int], arm_only: set[int], config: KeyframeConfig
) -> tuple[list[int], int, int, float]:
    """(the frames the finished painting is looked for in, the completion frame, the target I_T, how much I_T differs
    from the finished state).

    The clean frames, and the last frames seen beside an arm (the painter stepping away at the end, the canvas test
    finding the canvas clear): when these show paint that no clean frame shows (``min_change`` over the last clean
    view of the finished state), the finished painting is only seen in them. Frames the canvas test flagged never
    count. Among the views of the finished painting, I_T is the clearest: the one nearest the per-pixel median of
    the video's last frames from the completion on (a hand moving at the end, signing or withdrawing, is in few
    of them; fingertips count, however small), the latest of those within ``VIEW_NOISE`` of the best; so a hand
    the tests missed in one late frame does not become part of the target."""
    done = find_completion(work, clean, config)
    completion, target, residual = clean[done.completion], clean[done.target], done.residual[done.target]
    later = sorted(i for i in arm_only if i > completion)
    seen = sorted({*clean, *later})
    if later:
        widened = find_completion(work, seen, config)
        candidate = seen[widened.target]
        shows_more = candidate in arm_only and (
            changed_fraction(work.image(candidate), work.image(target), config) >= config.min_change
        )
        if shows_more:
            completion, target, residual = seen[widened.completion], candidate, widened.residual[widened.target]
    views = [i for i in seen if completion <= i and (i in clean or i >= target)]
    if len(views) > 1:
        end = [i for i in work.with_canvas if i >= completion][-(2 * config.final_frames - 1) :][::-1]
        final = consensus(work.image(end[0]), [work.image(i) for i in end])
        # high-contrast change with no opening: fingertips the occluder tests missed count against a view
        scores = {
            i: float((colour_change(work.image(i), final, config.shift_px) > config.occluder_threshold).mean())
            for i in views
        }
        best = min(scores.values())
        clearest = max(i for i in views if scores[i] <= best + VIEW_NOISE)  # the latest of (nearly) equals
        if clearest != target and scores[clearest] < scores[target]:
            target, residual = clearest, changed_fraction(work.image(clearest), final, config)
    return seen, completion, target, residual


def _dropped_outright(
    work: WorkFrames, verdicts: list[tuple[bool, str]], t_completion: int, target: int
) -> dict[int, FrameDecision]:
    """Decisions that need no comparison of paint: no canvas, after completion, occluded."""
    decisions: dict[int, FrameDecision] = {}
    for i, t in enumerate(work.t_ms):
        occluded, why = verdicts[i]
        if not work.has_canvas(i):
            decisions[i] = FrameDecision(t, False, "no_canvas", "no canvas found in this frame")
        elif t >= t_completion and i != target:
            extra = f"; {why}" if occluded else ""
            decisions[i] = FrameDecision(
                t, False, "after_completion", f"completed at {t_completion} ms: no new paint from here on{extra}"
            )
        elif occluded:
            decisions[i] = FrameDecision(t, False, "occluded", why)
    return decisions


def _next_to_occluded(work: WorkFrames, verdicts: list[tuple[bool, str]]) -> set[int]:
    """Clean frames whose previous or next canvas frame is occluded."""
    order = work.with_canvas
    flagged = [verdicts[i][0] for i in order]
    return {
        i
        for p, i in enumerate(order)
        if not flagged[p] and ((p > 0 and flagged[p - 1]) or (p + 1 < len(order) and flagged[p + 1]))
    }


@dataclass
class _Due:
    """A frame due to be kept, waiting for the end of its passage."""

    index: int  # the frame that would be kept now
    first: int  # the frame that qualified first
    change: float  # new paint of ``first`` since the last keyframe
    detail: str


@dataclass
class _Walk:
    """State of the greedy pass over the clean frames before completion."""

    work: WorkFrames
    config: KeyframeConfig
    risky: set[int]  # clean frames next to an occluded frame: the hand may be entering or leaving
    decisions: dict[int, FrameDecision]
    order: list[int] = field(default_factory=list)  # the clean frames walked, then the completion frame
    kept: list[int] = field(default_factory=list)
    reference: np.ndarray | None = None  # canvas at the last keyframe; None = the white canvas I_0
    last_kept_ms: int = 0  # the white canvas I_0 sits at t = 0
    pending: tuple[int, float] | None = None  # last clean frame not kept: (index, new paint since the keyframe)
    safe_pending: tuple[int, float] | None = None  # the same, among frames that are not risky
    due: _Due | None = None
    seen: list[int] = field(default_factory=list)  # clean frames walked so far
    since: list[int] = field(default_factory=list)  # clean frames walked and not kept since the last keyframe
    _masks: dict[int, np.ndarray] = field(default_factory=dict)  # new-paint masks against ``reference``
    _reach: dict[int, np.ndarray] = field(default_factory=dict)  # the same, dilated by ``switch_reach``

    def keep(self, i: int, detail: str) -> None:
        self.decisions[i] = FrameDecision(self.work.t_ms[i], True, None, detail)
        self.kept.append(i)
        self.reference, self.last_kept_ms = self.work.image(i), self.work.t_ms[i]
        self.pending = self.safe_pending = self.due = None
        self.since, self._masks, self._reach = [], {}, {}

    def skip(self, i: int, detail: str, change: float) -> None:
        self.decisions[i] = FrameDecision(self.work.t_ms[i], False, "unchanged", detail)
        self.pending = (i, change)
        if i not in self.risky:
            self.safe_pending = (i, change)
        if i not in self.since:
            self.since.append(i)
            if len(self.since) > SWITCH_LOOKBACK:
                old = self.since.pop(0)
                self._masks.pop(old, None)
                self._reach.pop(old, None)

    def new_paint(self, i: int) -> np.ndarray:
        """Mask of the new paint of frame ``i`` since the last keyframe (which must not be the white canvas)."""
        mask = self._masks.get(i)
        if mask is None:
            assert self.reference is not None
            mask = paint_mask(self.work.image(i), self.reference, self.config)
            self._masks[i] = mask
        return mask

    def near_paint(self, i: int) -> np.ndarray:
        """Where new paint continues the new paint of frame ``i``: its mask dilated by ``switch_reach``."""
        near = self._reach.get(i)
        if near is None:
            mask = self.new_paint(i)
            radius = max(1, round(self.config.switch_reach * max(mask.shape)))
            disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
            near = cv2.dilate(mask.astype(np.uint8), disc).astype(bool)
            self._reach[i] = near
        return near

    def change(self, i: int) -> float:
        """New paint of frame ``i`` since the last keyframe (1 when that is the white canvas)."""
        return 1.0 if self.reference is None else float(self.new_paint(i).mean())

    def later(self, i: int) -> tuple[int, int] | None:
        """The two clean frames after ``i`` (the last one twice near the end; None when ``i`` is the last)."""
        p = self.order.index(i) + 1
        if p >= len(self.order):
            return None
        return self.order[p], self.order[min(p + 1, len(self.order) - 1)]

    def fleeting(self, i: int) -> float:
        """Largest hand-like area (share of the canvas, see :func:`_hand_patch`) where frame ``i`` shows new paint
        that is gone in the next two clean frames. Paint stays, so this is a hand or brush the occluder test missed;
        a layer painted over the earlier one leaves specks that match the last keyframe's colours again, mostly
        inside the canvas."""
        later = self.later(i)
        if later is None or self.reference is None:
            return 0.0
        gone = self.new_paint(i) & ~self.new_paint(later[0]) & ~self.new_paint(later[1])
        return _hand_patch(gone, self.work.image(i), self.config)

    def commit(self) -> bool:
        """Keep the frame due to be kept, or an earlier frame with nearly its paint when it shows something that
        is gone in the next clean frames (paint stays: a hand the occluder test missed); False: nothing kept."""
        due = self.due
        assert due is not None
        index = due.index
        if self.fleeting(index) >= self.config.occluder_min_area:
            index = self.lasting_stand_in(index)
            if index is None:
                return False
        if index == due.first == due.index:
            self.keep(index, due.detail)
            return True
        image = self.work.image(index)
        change = 1.0 if self.reference is None else changed_fraction(image, self.reference, self.config)
        why = (
            f"the end of the passage that qualified at {self.work.t_ms[due.first]} ms"
            if index == due.index
            else f"stands in for the frame at {self.work.t_ms[due.index]} ms, which shows something gone afterwards"
        )
        self.keep(index, f"new paint over {_percent(change)} since the last keyframe; {why}")
        return True

    def lasting_stand_in(self, i: int, wait_ms: float | None = None) -> int | None:
        """The last walked frame before ``i`` whose new paint lasts, that has (nearly) the paint of ``i`` that
        stays, and comes ``wait_ms`` (default ``min_interval_s``) after the last keyframe; None when there is none."""
        later = self.later(i)
        if later is None or i not in self.since:
            return None
        staying = self.new_paint(i) & (self.new_paint(later[0]) | self.new_paint(later[1]))
        earliest = self.last_kept_ms + (1000.0 * self.config.min_interval_s if wait_ms is None else wait_ms)
        return _stand_in(self, i, lambda f: self.fleeting(f) < self.config.occluder_min_area, staying, earliest)


def _walk_new_paint(
    work: WorkFrames,
    candidates: list[int],
    completion: int,
    config: KeyframeConfig,
    decisions: dict[int, FrameDecision],
    risky: set[int],
) -> list[int]:
    """Greedy pass over the clean frames before ``completion``; fills ``decisions``, returns the kept indices.

    A frame due to be kept waits for the end of its passage: while each following clean frame adds less than
    ``min_change`` to it, and all of them together less than ``min_change`` to the frame that qualified (the
    passage tailing off in faint detail), the later frame is kept instead. A due frame right next
    to an occluded frame gives way to the following clean frame when that one adds less than ``min_change``
    (a hand entering or leaving may still show at the canvas edge of the first, too little for the occluder
    test), and a frame next to an occluded one never takes over from one that is not.
    """
    walk = _Walk(work, config, risky, decisions, order=[*candidates, completion])
    position = 0
    while position < len(candidates):
        i = candidates[position]
        position += 1
        t = work.t_ms[i]
        image = work.image(i)
        if position == 1 and looks_blank(image, config):
            walk.reference = image
            decisions[i] = FrameDecision(t, False, "unchanged", "blank canvas: no paint yet")
            continue
        if t <= 0:
            decisions[i] = FrameDecision(t, False, "unchanged", "at t = 0 ms, the time of the white canvas I_0")
            continue
        following = candidates[position] if position < len(candidates) else completion
        switched = _keep_before_switch(walk, i, following)
        if switched is not None:  # walk the frames after the new keyframe again, against it
            position = candidates.index(switched) + 1
            walk.seen = walk.seen[: walk.seen.index(switched) + 1]
            continue
        walk.seen.append(i)
        if walk.due is not None and _extend_due(walk, i):
            continue
        _keep_before_burst(walk, i)
        change = walk.change(i)
        waited = (t - walk.last_kept_ms) / 1000.0
        if change < config.min_change:
            walk.skip(
                i,
                f"new paint over {_percent(change)} since the last keyframe (min_change {_percent(config.min_change)})",
                change,
            )
        elif waited < config.min_interval_s:
            walk.skip(
                i,
                f"only {waited:.1f} s after the last keyframe (min_interval_s {config.min_interval_s:g}); "
                f"new paint over {_percent(change)}",
                change,
            )
        else:
            walk.skip(i, "", change)
            walk.due = _Due(i, i, change, f"new paint over {_percent(change)} since the last keyframe")
    if walk.due is not None:
        walk.commit()
    _keep_before_burst(walk, completion)  # the last strokes may be a burst of their own
    return walk.kept


def _extend_due(walk: _Walk, i: int) -> bool:
    """Let clean frame ``i`` take over from the due frame, or keep the due frame; True if ``i`` is decided."""
    due, config, work = walk.due, walk.config, walk.work
    assert due is not None
    step = changed_fraction(work.image(i), work.image(due.index), config)
    deferred = (work.t_ms[i] - work.t_ms[due.first]) / 1000.0 > config.max_defer_s
    if deferred or step >= config.min_change or _moves_away(walk, due.index, i):  # the passage ended at the due frame
        if walk.commit():
            return False
        walk.decisions[due.index] = FrameDecision(
            work.t_ms[due.index],
            False,
            "unchanged",
            f"{due.detail}, but it shows something that is gone in the next clean frames (a hand the occluder "
            "test missed) and no earlier frame has its paint: the next clean frame is kept instead",
        )
        walk.skip(i, "", due.change)
        due.index = i
        return True
    due_risky, risky = due.index in walk.risky, i in walk.risky
    if risky and not due_risky:  # wait on: the hand may still show at the edge of this one
        walk.skip(i, f"next to an occluded frame; adds {_percent(step)} to the frame due to be kept", due.change)
        return True
    if not due_risky:
        tail = step if due.index == due.first else changed_fraction(work.image(i), work.image(due.first), config)
        if tail >= config.min_change:  # the tail has become a passage of its own
            walk.commit()
            return False
    t_due = work.t_ms[due.index]
    why = "next to an occluded frame" if due_risky else "the passage goes on faintly"
    walk.decisions[due.index] = FrameDecision(
        t_due,
        False,
        "unchanged",
        f"{due.detail}, but {why}: the next clean frame, {_percent(step)} later, is kept instead",
    )
    walk.skip(i, "", due.change)
    due.index = i
    return True


def _keep_before_switch(walk: _Walk, i: int, following: int) -> int | None:
    """Keep the last clean frame before the paint moved to another region; return it (None: no switch at ``i``).

    The new paint of ``i`` since an earlier frame q, where it is still there in the ``following`` clean frame
    (paint stays, a hand leaves), is a new region when it reaches ``switch_step`` and borders the paint of q since
    the last keyframe on at most ``switch_overlap`` of its area. The frame before the switch is then the last
    walked frame before the first one that shows paint in that region, or the last one before it that is not next
    to an occluded frame.
    """
    config = walk.config
    if config.switch_step <= 0 or walk.reference is None or not walk.since:
        return None
    present = walk.new_paint(i) & walk.new_paint(following)
    found: tuple[int, float, np.ndarray] | None = None
    for q in walk.since:
        before = walk.new_paint(q)
        if before.mean() < config.switch_keep_change:
            continue
        new = present & ~before
        if new.mean() < config.switch_step:
            continue
        bordering = float((new & walk.near_paint(q)).sum()) / float(new.sum())
        if bordering <= config.switch_overlap and (found is None or bordering <= found[1]):
            found = (q, bordering, new)
    if found is None:
        return None
    q, bordering, region = found
    # the region's first strokes: the frame before the first walked frame showing some of its paint
    onset = config.switch_step * ONSET_SHARE
    later = walk.since[walk.since.index(q) :]
    previous = q
    for f in later[1:]:
        if float((walk.new_paint(f) & region).mean()) >= onset:
            break
        previous = f
    earliest = walk.last_kept_ms + 1000.0 * config.switch_interval_fraction * config.min_interval_s
    if previous in walk.risky:  # the hand may show in it: an earlier frame with (nearly) the same paint is safer
        paint = walk.new_paint(previous)
        safe = _stand_in(walk, previous, lambda f: f not in walk.risky, paint, earliest)
        previous = previous if safe is None else safe
    if _fleeting(walk, previous, (i, following)) >= config.guard_area:
        # something in it is gone after the switch: a hand the occluder test missed; the same paint, earlier?
        staying = walk.new_paint(previous) & (walk.new_paint(i) | walk.new_paint(following))

        def lasting(f: int) -> bool:
            return _fleeting(walk, f, (i, following)) < config.guard_area

        stand_in = _stand_in(walk, previous, lasting, staying, earliest)
        if stand_in is None:
            return None
        previous = stand_in
    change = walk.change(previous)
    if walk.work.t_ms[previous] < earliest or change < config.switch_keep_change:
        return None
    if looks_blank(walk.work.image(previous), config):  # noise on a bare canvas is no region to switch from
        return None
    walk.keep(
        previous,
        f"new paint over {_percent(change)} since the last keyframe; last clean frame before the paint moved to "
        f"another region ({_percent(float(region.mean()))} of new paint by {walk.work.t_ms[i]} ms, "
        f"{_percent(bordering)} of it next to the earlier paint)",
    )
    return previous


def _fleeting(walk: _Walk, frame: int, later: tuple[int, int]) -> float:
    """Share of the canvas where ``frame`` shows new paint (against the last keyframe) that neither of the two
    ``later`` frames shows: paint stays, so this is a hand or brush that has left."""
    gone = walk.new_paint(frame) & ~walk.new_paint(later[0]) & ~walk.new_paint(later[1])
    return float(gone.mean())


def _stand_in(walk: _Walk, frame: int, usable: Callable[[int], bool], paint: np.ndarray, earliest: float) -> int | None:
    """The last walked frame before ``frame`` that is ``usable``, comes at ``earliest`` ms or later, and lacks
    less than ``switch_keep_change`` of ``paint`` (the paint of ``frame`` it must also show: what it lacks is
    too little to tell from a few strokes), or None."""
    tolerance = walk.config.switch_keep_change
    walked = walk.since[: walk.since.index(frame)]
    for f in reversed(walked):
        if walk.work.t_ms[f] < earliest:
            return None
        if usable(f) and float((paint & ~walk.new_paint(f)).mean()) < tolerance:
            return f
    return None


def _moves_away(walk: _Walk, previous: int, i: int) -> bool:
    """True when the paint that clean frame ``i`` adds to ``previous`` starts another region: at least
    ``MOVE_SHARE`` of ``switch_step``, bordering the paint since the last keyframe on at most
    ``switch_overlap`` of its area."""
    config = walk.config
    if config.switch_step <= 0 or walk.reference is None:
        return False
    new = walk.new_paint(i) & ~walk.new_paint(previous)
    if new.mean() < config.switch_step * MOVE_SHARE:
        return False
    return float((new & walk.near_paint(previous)).sum()) <= config.switch_overlap * float(new.sum())


def _keep_before_burst(walk: _Walk, i: int) -> None:
    """Keep the previous clean frame when frame ``i`` starts a burst of new paint (often a new layer).

    Otherwise the end of one passage (low-contrast detail that never reaches ``min_change`` on its own)
    would only be represented by a keyframe inside the next passage, mixing two layers in one pair. When
    that frame is next to an occluded frame, the last earlier one that is not is preferred.
    """
    config = walk.config
    if walk.pending is None or walk.reference is None:
        return
    chosen = walk.pending
    if chosen[0] in walk.risky and walk.safe_pending is not None:
        chosen = walk.safe_pending
    previous, change = chosen
    t_previous = walk.work.t_ms[previous]
    if change < config.burst_keep_change:
        return
    waited = (t_previous - walk.last_kept_ms) / 1000.0
    if waited < config.burst_interval_fraction * config.min_interval_s:
        return
    if waited < config.min_interval_s and not _quiet_before(walk, previous):
        return  # paint was arriving fast before it too: the same passage going on, not a new one
    burst = changed_fraction(walk.work.image(i), walk.work.image(walk.pending[0]), config)
    if burst < config.min_change:
        return
    if walk.fleeting(previous) >= config.occluder_min_area:  # a missed hand in it: the same paint, earlier?
        stand_in = walk.lasting_stand_in(previous, 1000.0 * config.burst_interval_fraction * config.min_interval_s)
        if stand_in is None:
            return
        previous, change = stand_in, walk.change(stand_in)
    walk.keep(
        previous,
        f"new paint over {_percent(change)} since the last keyframe; last clean frame before a burst of new paint "
        f"({_percent(burst)} in one step)",
    )


def _quiet_before(walk: _Walk, i: int) -> bool:
    """True when clean frame ``i`` added less than ``min_change`` to the clean frame before it."""
    position = walk.seen.index(i) if i in walk.seen else 0
    if position == 0:
        return False
    before = walk.seen[position - 1]
    return changed_fraction(walk.work.image(i), walk.work.image(before), walk.config) < walk.config.min_change


def _drop_last_if_redundant(
    work: WorkFrames, kept: list[int], target: int, config: KeyframeConfig, decisions: dict[int, FrameDecision]
) -> None:
    """The target follows the last keyframe; that keyframe goes when the pair would break the rules."""
    if not kept:
        return
    last = kept[-1]
    t, t_target = work.t_ms[last], work.t_ms[target]
    change = changed_fraction(work.image(target), work.image(last), config)
    gap = (t_target - t) / 1000.0
    if change < config.burst_keep_change:
        why = f"the target I_T adds only {_percent(change)} of new paint to it"
    elif gap < config.min_interval_s:
        why = f"only {gap:.1f} s before the target I_T (min_interval_s {config.min_interval_s:g})"
    else:
        return
    decisions[last] = FrameDecision(t, False, "unchanged", why)
