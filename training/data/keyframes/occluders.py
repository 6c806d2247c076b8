"""The weight-free occluder test: paint stays, hands and brushes leave.

For each frame, the canvas just before it is the per-pixel median of the previous few frames and the
canvas just after it the median of the next few (a hand that moves covers any one pixel in a minority
of them, so the medians show the canvas). Pixels that differ from both are transient: neither the old
canvas nor paint that is still there afterwards. Where the canvas after differs from the canvas before (paint
arrived), a colour that a neighbouring frame shows too, or that mixes the colours before and after (a time-lapse
cross-fade), is paint however large and fast it appeared. A frame is occluded when its transient pixels form a
blob that looks like an arm: it reaches the canvas edge (an arm always enters from outside the canvas,
while paint repainted within seconds, a cloud or a sun, sits inside it), it is compact (not a thin line
along a repainted passage), and it is skin-coloured or large.

Then three refinements:

* a second pass takes its medians only from frames the first pass found clean, so that a hand staying
  several frames at one spot, or one in a neighbour's window, does not leak into the medians;
* the ends of the video have one side only (see :func:`transient_mask`);
* next to an occluded frame, a smaller transient blob at the canvas edge where that frame's hand is
  counts too: the hand entering or leaving shows only fingertips or a brush.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .change import Blob, WorkFrames, blobs, change_mask, colour_change, consensus, skin_mask
from .config import DEFAULT_CONFIG, KeyframeConfig

START_FRAMES = 3  # at the start of a video: the nearest frames after a frame decide
SHORT_SIDE = 3  # fewer frames than this after a frame cannot outvote a hand that stays there

Verdict = tuple[bool, str]


def window_around(pool: list[int], index: int, count: int) -> tuple[list[int], list[int]]:
    """Up to ``count`` frames of ``pool`` (sorted indices) before and after ``index``, nearest first."""
    left = bisect.bisect_left(pool, index)
    right = bisect.bisect_right(pool, index)
    return pool[max(0, left - count) : left][::-1], pool[right : right + count]


def transient_mask(
    work: WorkFrames, index: int, before: list[int], after: list[int], config: KeyframeConfig, at_end: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Bool masks of the pixels of frame ``index`` that differ from the canvas before and after it: without the
    pixels where paint arrived (see below), and without only those that mix the colours before and after (a
    cross-fade under way): what fingertips at the edge are looked for in beside a hand, whose brush tip carries
    the colour that lands there.

    ``before`` and ``after`` are the frames around it, nearest first. At the end of the video (``at_end``:
    fewer than three frames follow) those few frames may all show the same hand, signing the finished
    painting, so the canvas before decides alone. At the start a median of the frames after would mix
    canvas states (paint arrives fast), so a pixel is transient only when none of the nearest frames
    after it shows its colour.
    """
    image = work.image(index)
    if at_end and before:
        past = consensus(image, [work.image(j) for j in before])
        change = colour_change(image, past, config.shift_px, match=False)
    elif not before and after:
        side = after[:START_FRAMES]
        change = np.minimum.reduce([colour_change(image, work.image(j), config.shift_px) for j in side])
    elif before and after:
        past = consensus(image, [work.image(j) for j in before])
        future = consensus(image, [work.image(j) for j in after])
        change = np.minimum(
            colour_change(image, past, config.shift_px, match=False),
            colour_change(image, future, config.shift_px, match=False),
        )
        # a hand leaves the canvas as it was. Where the canvas after differs from the canvas before, paint
        # arrived (a time-lapse shows a region change several times within seconds, too fast for the medians):
        # there the frame's colour is paint when a neighbouring frame shows it too (it stays), or when it lies
        # between the colours before and after (a cross-fade between two captures); a hand over it is neither
        arrived = colour_change(past, future, config.shift_px, match=False) >= config.occluder_threshold
        if arrived.any():
            neighbours = [work.image(j) for j in (before[0], after[0])]
            seen = np.minimum.reduce([colour_change(image, n, config.shift_px, match=False) for n in neighbours])
            off, weight = _off_blend(image, past, future)
            blend = off < config.occluder_threshold
            # seen again in a neighbour counts for paint, not for skin: a hand may rest over one spot for a while
            seen_paint = (seen < config.occluder_threshold) & ~skin_mask(image)
            lasting = arrived & (seen_paint | blend)
            if lasting.any():
                # a brush tip carries the colour that lands there (a mix all the way to the colour after): only
                # a true mix of the two is left out of the mask the edge is searched for fingertips in
                mixed = arrived & blend & (weight > MIX_RANGE[0]) & (weight < MIX_RANGE[1])
                threshold, opening = config.occluder_threshold, config.occluder_opening_px
                edge = change_mask(np.where(mixed, 0.0, change), threshold, opening)
                return change_mask(np.where(lasting, 0.0, change), threshold, opening), edge
    else:
        empty = np.zeros(image.shape[:2], bool)
        return empty, empty
    mask = change_mask(change, config.occluder_threshold, config.occluder_opening_px)
    return mask, mask


MIX_RANGE = (0.1, 0.9)  # weights of b that make a colour a true mix of a and b (a cross-fade under way)


def _off_blend(image: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: how far (largest channel) ``image`` lies from the nearest mix of ``a`` and ``b`` (float RGB), and
    the weight of ``b`` in that mix."""
    step = b - a
    weight = np.clip(((image - a) * step).sum(axis=2) / np.maximum((step * step).sum(axis=2), 1e-6), 0.0, 1.0)
    return np.abs(image - (a + weight[..., None] * step)).max(axis=2), weight


def occluder_blob(found: Sequence[Blob], config: KeyframeConfig, edge_band: bool = True) -> Blob | None:
    """The first (largest) transient blob that looks like an occluder, or None. ``edge_band=False`` leaves
    out the edge-band rule (at the end of a video, where the last strokes look transient too)."""
    for blob in found:
        thin = blob.thickness < config.occluder_thickness or blob.elongation > config.occluder_elongation
        if thin or not blob.touches_edge:
            continue  # a line along a repainted passage, or paint repainted inside the canvas
        if blob.area >= config.occluder_edge_area:
            return blob
        if blob.skin >= config.skin_fraction and blob.area >= config.occluder_min_area:
            return blob
        if edge_band and _at_edge_band(blob, config):
            return blob
    return None


EDGE_BAND_SHARE = 0.8  # share of a blob's pixels inside the border band for the edge-band rule


def _at_edge_band(blob: Blob, config: KeyframeConfig) -> bool:
    """A small compact blob along the border with some skin in it: a brush tip held by fingertips at the edge."""
    return blob.in_band >= EDGE_BAND_SHARE and blob.area >= config.edge_band_area and blob.skin >= config.edge_band_skin


def _describe(blob: Blob | None, total: float, found: Sequence[Blob], long_side: int) -> str:
    if blob is None:
        if not found:
            return "no transient change"
        return f"transient change over {100 * total:.1f} % of the canvas, none of it hand-like"
    where = "reaching the canvas edge" if blob.touches_edge else "inside the canvas"
    if blob.in_band >= EDGE_BAND_SHARE:
        where = "along the canvas edge: a brush tip or fingertips"
    return (
        f"hand-like change over {100 * total:.1f} % of the canvas (blob {100 * blob.area:.1f} %, "
        f"{blob.thickness * long_side:.0f} px thick at {long_side} px, elongation {blob.elongation:.1f}, "
        f"skin score {blob.skin:.2f}, {where})"
    )


@dataclass
class _Judged:
    verdict: Verdict
    hand: np.ndarray | None  # pixels of the occluder blob, when there is one


def _transient_blobs(
    work: WorkFrames, index: int, before: list[int], after: list[int], at_end: bool, config: KeyframeConfig
) -> tuple[list[Blob], np.ndarray, float, list[Blob], np.ndarray]:
    """Blobs and labels of the transient mask, its share of the canvas, and the blobs and labels of the mask
    with the pixels where paint arrived (the same when there are none)."""
    mask, raw = transient_mask(work, index, before, after, config, at_end)
    skin = skin_mask(work.image(index))
    found, labels = blobs(mask, skin, config.edge_band) if mask.any() else ([], np.zeros(mask.shape, np.int32))
    if raw is mask or not raw.any():
        return found, labels, float(mask.mean()), found, labels
    raw_found, raw_labels = blobs(raw, skin, config.edge_band)
    return found, labels, float(mask.mean()), raw_found, raw_labels


def _judge(
    work: WorkFrames,
    index: int,
    before: list[int],
    after: list[int],
    at_end: bool,
    config: KeyframeConfig,
    beside_hand: bool = False,
) -> _Judged:
    """``beside_hand``: a neighbouring frame shows a hand. Its brush tip, loaded with the paint that lands
    there, looks like paint arriving; so fingertips or a brush at the edge are then looked for without
    counting that paint as arrived."""
    found, labels, total, raw_found, raw_labels = _transient_blobs(work, index, before, after, at_end, config)
    if at_end and before and found:
        # the canvas before decides alone, so the last strokes or stage look transient too: a non-skin change still
        # there in every later frame is paint
        past = consensus(work.image(index), [work.image(j) for j in before])
        found = [
            b
            for b in found
            if b.skin >= config.skin_fraction or not _persists(work, index, labels == b.label, past, config)
        ]
    blob = occluder_blob(found, config, edge_band=not at_end)
    if blob is None and beside_hand and not at_end:
        blob = occluder_blob([b for b in raw_found if _at_edge_band(b, config)], config)
        labels = raw_labels if blob is not None else labels
    long_side = max(labels.shape)
    verdict = (blob is not None, _describe(blob, total, found, long_side))
    return _Judged(verdict, None if blob is None else labels == blob.label)


def _guard(
    work: WorkFrames,
    index: int,
    windows: tuple[list[int], list[int]],
    at_end: bool,
    hands: list[np.ndarray],
    config: KeyframeConfig,
) -> Verdict | None:
    """A frame next to occluded ones is occluded too when a transient blob of it reaches the canvas edge where
    their hands are (dilated): the same arm entering or leaving, however small, thin or sleeve-coloured, unless
    the blob's change is still there in every later frame (paint stays)."""
    found, labels, *_ = _transient_blobs(work, index, *windows, at_end, config)
    if not found:
        return None
    reach = max(1, round(config.guard_reach * max(labels.shape)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    near_hand = cv2.dilate(np.logical_or.reduce(hands).astype(np.uint8), kernel).astype(bool)
    past: np.ndarray | None = None  # the canvas before the frame, read once when a blob needs it
    for blob in found:
        pixels = labels == blob.label
        if not (blob.touches_edge and blob.area >= config.guard_area and near_hand[pixels].any()):
            continue
        if windows[0]:
            if past is None:
                past = consensus(work.image(index), [work.image(j) for j in windows[0]])
            if _persists(work, index, pixels, past, config):
                continue  # still there in every later frame: paint (the last strokes, a time-lapse stage), not a hand
        return (
            True,
            f"next to an occluded frame, with transient change at the canvas edge where its hand is "
            f"(blob {100 * blob.area:.2f} %): the hand entering or leaving",
        )
    return None


PERSIST_SHARE = 0.5  # share of a blob's pixels that must still show its change in a later frame


def _persists(work: WorkFrames, index: int, pixels: np.ndarray, past: np.ndarray, config: KeyframeConfig) -> bool:
    """True when the change of frame ``index`` over ``pixels`` (against ``past``, the canvas before it) shows in
    every later frame with a canvas up to the end of the video: paint stays, a hand leaves. Only asked of a few
    frames (small blobs next to a hand, the last frames), so reading to the end stays cheap."""
    later = [j for j in work.with_canvas if j > index]
    if not later:
        return True  # the last frame: nothing after it to tell a hand from paint, and the guard is a guess
    for j in later:
        changed = colour_change(work.image(j), past, config.shift_px) >= config.occluder_threshold
        if changed[pixels].mean() < PERSIST_SHARE:
            return False
    return True


def persistence_frames(work: WorkFrames, config: KeyframeConfig) -> int:
    """Frames on each side that span ``persistence_s`` at the video's sampling interval (the median step
    between canvas frames), rounded up so that a short window never becomes shorter than asked."""
    times = [work.t_ms[i] for i in work.with_canvas]
    if len(times) < 2:
        return 1
    step_s = max(float(np.median(np.diff(times))) / 1000.0, 1e-3)
    return max(1, math.ceil(config.persistence_s / step_s - 1e-6))


def occluder_verdicts(work: WorkFrames, config: KeyframeConfig) -> list[Verdict]:
    """Per frame of ``work``: (occluded, explanation). Frames without a canvas are (False, "no canvas")."""
    order = work.with_canvas
    k = persistence_frames(work, config)
    at_end = {index: len(order) - 1 - position < SHORT_SIDE for position, index in enumerate(order)}
    first = {index: _judge(work, index, *window_around(order, index, k), at_end[index], config) for index in order}
    flagged = {index for index in order if first[index].verdict[0]}
    clean = [index for index in order if index not in flagged]
    final: dict[int, _Judged] = {}
    windows: dict[int, tuple[list[int], list[int]]] = {}
    for index in order:
        before, after = window_around(order, index, k)
        clean_before, clean_after = window_around(clean, index, k)
        touched = flagged.intersection(before) or flagged.intersection(after)
        # medians without the flagged frames; a side left with no frame at all keeps the first verdict
        if touched and (clean_before or not before) and (clean_after or not after):
            beside = bool(flagged.intersection(before[: config.guard_frames] + after[: config.guard_frames]))
            final[index] = _judge(work, index, clean_before, clean_after, at_end[index], config, beside)
            windows[index] = (clean_before, clean_after)
        else:
            final[index] = first[index]
            windows[index] = (before, after)
    verdicts: list[Verdict] = [(False, "no canvas")] * len(work)
    for position, index in enumerate(order):
        verdict = final[index].verdict
        near = order[max(0, position - config.guard_frames) : position + config.guard_frames + 1]
        hands = [final[j].hand for j in near if j != index and final[j].hand is not None]
        if not verdict[0] and hands:
            verdict = _guard(work, index, windows[index], at_end[index], hands, config) or verdict
        verdicts[index] = verdict
    return verdicts


def detect_occluders_temporal(
    frames: Sequence[tuple[int, np.ndarray | None]] | WorkFrames, config: KeyframeConfig = DEFAULT_CONFIG
) -> list[Verdict]:
    """The weight-free per-frame occluder test: one (occluded, explanation) per input frame.

    ``frames`` are (t_ms, rectified RGB canvas or None) in time order, like :func:`select_keyframes` takes.
    """
    work = frames if isinstance(frames, WorkFrames) else WorkFrames(frames, config.work_long_side)
    return occluder_verdicts(work, config)
