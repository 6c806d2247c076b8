"""Features of a pair's changed region (binary M_t mask + the images), for the `nearest` labeller.

Per pair: colour (CIE Lab of what was painted and of how it changed), the target painting I_T inside the
mask and relative to the top and bottom of I_T (so a mood's colour cast cancels), robust position
(percentiles of the mask's columns and rows, which stray specks do not move) and the extent of its solid
core, size, shape (coverage, fill, fragments), texture (gradient energy, uniform-LBP histogram), small
specks in I_T (flowers, rocks), the visible attributes people name synonyms by (how far the region's I_T
colour lies from the sky just above it, how deep the region reaches below its top edge, how ragged that edge
is), the same for the largest connected piece of the change alone (a pair spanning several layers is named for
the one that changed most, usually its largest piece), the same again for the larger of two colour parts of
the change (k-means over I_t's Lab colour and the row, which splits a mask that straddles two layers, say the
hills above and the water below, where connected pieces do not), progress (share of the canvas still blank before and
after the pair, and of the mask painted on blank canvas) and the pair's place in the video's time line
(painters go back to front).
Computed on copies downscaled to `WORK_SIDE` px (specks at `SPECK_SIDE`) so every video weighs the same.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from skimage.feature import local_binary_pattern

from training.data.images import read_gray, read_rgb

WORK_SIDE = 128  # long side of the working copy
SPECK_SIDE = 256  # long side for specks: flowers are 1-5 px at this size, gone at WORK_SIDE
LBP_P, LBP_R = 8, 1
BLANK_LAB = 12.0  # CIE Lab distance under which a pixel still looks like the blank canvas
SPECK_LAB = 20.0  # CIE Lab distance of a pixel from its 7x7 median that makes it a speck
LAB_SCALE = 50.0  # CIE Lab distances and colours are divided by this, so they sit near the other features' range
PART_K = 2  # colour parts of a change: a pair shows its main layer and what lies beside it
PART_ROW = 1.0  # weight of the row (fraction of the height) beside Lab / LAB_SCALE in the parts' clustering
PART_ITERATIONS = 8
BESIDE = 5  # rows of I_T above / below a region's edge that stand for what lies beside it (at WORK_SIDE)

FEATURE_GROUPS: dict[str, list[str]] = {
    "colour": ["L", "a", "b", "L_std", "a_std", "b_std", "dL", "da", "db"],
    "target": ["tL", "ta", "tb", "tL_std", "ta_std", "tb_std"],
    "relative": ["top_dL", "top_da", "top_db", "bottom_dL", "bottom_da", "bottom_db"],
    "position": ["x05", "x50", "x95", "y05", "y25", "y50", "y75", "y95"],
    "core": ["core_y02", "core_y50", "core_y98", "solid"],
    "size": ["area"],
    "shape": ["columns", "rows", "fill", "fragments"],
    "texture": ["grad", *(f"lbp{i}" for i in range(LBP_P + 2))],
    "specks": ["specks", "colour_specks", "detail"],
    "haze": ["sky_dist", "below_dist", "top_dist"],
    "extent": ["depth", "edge_std", "edge_rough", "edge_range", "top_edge", "bottom_edge", "width"],
    "component": [
        *(f"comp_{name}" for name in ("sky_dist", "below_dist", "top_dist")),
        *(f"comp_{name}" for name in ("depth", "edge_std", "edge_rough", "edge_range", "top_edge", "bottom_edge")),
        *(f"comp_{name}" for name in ("width", "tL", "ta", "tb", "L", "a", "b", "share", "area")),
    ],
    "part": [
        *(f"part_{name}" for name in ("sky_dist", "below_dist", "top_dist")),
        *(f"part_{name}" for name in ("depth", "edge_std", "edge_rough", "edge_range", "top_edge", "bottom_edge")),
        *(f"part_{name}" for name in ("width", "tL", "ta", "tb", "L", "a", "b", "share", "run")),
    ],
    "progress": ["painted_before", "on_blank", "painted_after"],
    "time": ["t_prev", "t_next"],
}
FEATURE_NAMES: list[str] = [name for names in FEATURE_GROUPS.values() for name in names]


def _resize(image: np.ndarray, size: tuple[int, int], nearest: bool = False) -> np.ndarray:
    return cv2.resize(image, size, interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)


def _lab(rgb: np.ndarray) -> np.ndarray:
    # OpenCV's float Lab: L in [0, 100], a/b roughly [-127, 127]
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def _size(shape: tuple[int, ...], side: int) -> tuple[int, int]:
    h, w = shape[:2]
    scale = side / max(h, w)
    return max(1, round(w * scale)), max(1, round(h * scale))


def timeline_position(prev_t_ms: float, next_t_ms: float, first_ms: float, last_ms: float) -> tuple[float, float]:
    """Where a pair lies in its video: (prev, next) time as fractions in [0, 1] of the keyframes' span."""
    span = max(float(last_ms) - float(first_ms), 1.0)
    return (
        float(np.clip((prev_t_ms - first_ms) / span, 0.0, 1.0)),
        float(np.clip((next_t_ms - first_ms) / span, 0.0, 1.0)),
    )


def _specks(target_rgb: np.ndarray, mask: np.ndarray) -> list[float]:
    """Share of I_T pixels in the mask that stand out from their neighbourhood (any / by colour), mean contrast."""
    size = _size(mask.shape, SPECK_SIDE)
    m = _resize((mask > 0).astype(np.uint8), size, nearest=True).astype(bool)
    region = m if m.any() else np.ones_like(m)
    small = _resize(target_rgb, size)
    lab, median = _lab(small), _lab(cv2.medianBlur(small, 7))
    contrast = np.sqrt(((lab - median) ** 2).sum(-1))[region]
    chroma = np.abs(lab[..., 1:] - median[..., 1:]).sum(-1)[region]
    return [
        float((contrast > SPECK_LAB).mean()),
        float((chroma > SPECK_LAB).mean()),
        float(contrast.mean()) / SPECK_LAB,
    ]


def _outline(
    region: np.ndarray, tgt: np.ndarray, top_band: np.ndarray, bottom_band: np.ndarray
) -> tuple[list[float], list[float]]:
    """What a region looks like against its surroundings in I_T (`tgt`, Lab), and its vertical extent.

    Returns (haze, extent): the CIE Lab distance of the region's mean I_T colour from I_T just above its top
    edge (the sky behind a mountain range), just below its bottom edge and from I_T's top fifth (`top_band`, the
    mean Lab colour; `bottom_band` stands in below a region touching the bottom edge); then, per
    column the region touches, its depth (top to bottom edge), the spread, raggedness and range of its top
    edge, the median top and bottom edge, all as fractions of the canvas height, and the share of columns.
    """
    hh, ww = region.shape
    cols = np.nonzero(region.any(0))[0]
    tops = region.argmax(0)[cols]
    bottoms = hh - 1 - region[::-1].argmax(0)[cols]
    above = [tgt[max(0, t - BESIDE - 1) : t - 1, c] for c, t in zip(cols, tops, strict=True) if t >= 2]
    below = [tgt[b + 2 : b + BESIDE + 2, c] for c, b in zip(cols, bottoms, strict=True) if b < hh - 2]
    colour = tgt[region].mean(0)
    sky = np.concatenate(above).mean(0) if above else top_band  # a region touching the top edge: the top band
    ground = np.concatenate(below).mean(0) if below else bottom_band
    haze = [float(np.linalg.norm(colour - ref)) / LAB_SCALE for ref in (sky, ground, top_band)]
    extent = [
        float(np.median(bottoms - tops + 1)) / hh,
        float(tops.std()) / hh,
        float(np.abs(np.diff(tops)).mean()) / hh if len(tops) > 1 else 0.0,
        float(np.ptp(tops)) / hh,
        float(np.median(tops)) / hh,
        float(np.median(bottoms)) / hh,
        len(cols) / ww,
    ]
    return haze, extent


def _largest_piece(region: np.ndarray, core: np.ndarray) -> np.ndarray:
    """The largest connected piece of the region's solid core (of the region when it has no core)."""
    solid = core if core.any() else region
    _, labels, stats, _ = cv2.connectedComponentsWithStats(solid.astype(np.uint8))
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def _main_part(region: np.ndarray, nxt: np.ndarray) -> np.ndarray:
    """The larger of PART_K k-means clusters of the region's pixels by I_t colour (`nxt`, Lab) and row.

    Deterministic: the centres start at quantiles along the pixels' first principal axis. Specks are opened
    away unless nothing would be left.
    """
    ys, xs = np.nonzero(region)
    if len(ys) < 4 * PART_K:
        return region
    points = np.concatenate([nxt[region] / LAB_SCALE, (PART_ROW * ys / region.shape[0])[:, None]], 1)
    centred = points - points.mean(0)
    axis = np.linalg.svd(centred[:: max(1, len(points) // 500)], full_matrices=False)[2][0]
    order = np.argsort(centred @ axis)
    centres = points[order[(np.linspace(0.2, 0.8, PART_K) * (len(points) - 1)).astype(int)]]
    for _ in range(PART_ITERATIONS):
        assign = ((points[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
        centres = np.stack([points[assign == c].mean(0) if (assign == c).any() else centres[c] for c in range(PART_K)])
    largest = assign == np.bincount(assign, minlength=PART_K).argmax()
    part = np.zeros_like(region)
    part[ys[largest], xs[largest]] = True
    opened = cv2.morphologyEx(part.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
    return opened if opened.any() else part


def _longest_run(part: np.ndarray) -> float:
    """Median, over the columns the part touches, of its longest vertical run, as a fraction of the height."""
    steps = np.diff(np.pad(part, ((1, 1), (0, 0))).astype(np.int8), axis=0)
    runs = []
    for c in np.nonzero(part.any(0))[0]:
        starts, ends = np.nonzero(steps[:, c] == 1)[0], np.nonzero(steps[:, c] == -1)[0]
        runs.append(int((ends - starts).max()))
    return float(np.median(runs)) / part.shape[0]


def region_features(
    prev_rgb: np.ndarray,
    next_rgb: np.ndarray,
    mask: np.ndarray,
    target_rgb: np.ndarray,
    blank_rgb: np.ndarray,
    timeline: tuple[float, float],
) -> np.ndarray:
    """One feature vector (order: FEATURE_NAMES) for the change prev -> next inside `mask` (HxW, nonzero = changed).

    `target_rgb` is the finished painting I_T, `blank_rgb` the video's first keyframe (the canvas before
    painting), `timeline` the pair's `timeline_position`. An empty mask gives the whole-image statistics with
    area 0, so such pairs still get a label.
    """
    shapes = {"prev": prev_rgb.shape, "next": next_rgb.shape, "target": target_rgb.shape, "blank": blank_rgb.shape}
    if len(set(shapes.values())) != 1 or mask.shape[:2] != next_rgb.shape[:2]:
        raise ValueError(f"images {shapes} and mask {mask.shape} must share height and width (rectified keyframes)")
    size = _size(mask.shape, WORK_SIDE)
    m = _resize((mask > 0).astype(np.uint8), size, nearest=True).astype(bool)
    nxt, prv = _lab(_resize(next_rgb, size)), _lab(_resize(prev_rgb, size))
    tgt, blank = _lab(_resize(target_rgb, size)), _lab(_resize(blank_rgb, size))
    area = float(m.mean())
    region = m if m.any() else np.ones_like(m)
    hh, ww = region.shape
    ys, xs = np.nonzero(region)

    inside, change, target = nxt[region], (nxt - prv)[region], tgt[region]
    colour = [*inside.mean(0), *inside.std(0), *change.mean(0)]
    target_colour = [*target.mean(0), *target.std(0)]
    fifth = max(1, hh // 5)
    top, bottom = tgt[:fifth].reshape(-1, 3).mean(0), tgt[-fifth:].reshape(-1, 3).mean(0)
    relative = [*(inside.mean(0) - top), *(inside.mean(0) - bottom)]
    position = [*(np.percentile(xs, [5, 50, 95]) / ww), *(np.percentile(ys, [5, 25, 50, 75, 95]) / hh)]

    # the solid core: what is left after removing specks and thin strokes
    core = cv2.morphologyEx(region.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
    solid = float(core.sum()) / len(ys)
    core_ys = np.nonzero(core)[0] if core.any() else ys
    core_features = [*(np.percentile(core_ys, [2, 50, 98]) / hh), solid]

    haze, extent = _outline(region, tgt, top, bottom)
    piece = _largest_piece(region, core)
    piece_haze, piece_extent = _outline(piece, tgt, top, bottom)
    component = [
        *piece_haze,
        *piece_extent,
        *(tgt[piece].mean(0) / LAB_SCALE),
        *(nxt[piece].mean(0) / LAB_SCALE),
        float(piece.sum()) / len(ys),
        float(piece.mean()),
    ]

    part = _main_part(region, nxt)
    part_haze, part_extent = _outline(part, tgt, top, bottom)
    part_features = [
        *part_haze,
        *part_extent,
        *(tgt[part].mean(0) / LAB_SCALE),
        *(nxt[part].mean(0) / LAB_SCALE),
        float(part.sum()) / len(ys),
        _longest_run(part),
    ]

    fragments = cv2.connectedComponents(region.astype(np.uint8))[0] - 1
    box = (np.ptp(xs) + 1) * (np.ptp(ys) + 1)
    shape = [
        float(region.any(0).mean()),
        float(region.any(1).mean()),
        len(ys) / box,
        min(float(np.log1p(fragments)) / 5.0, 1.0),
    ]

    grey = cv2.cvtColor(_resize(next_rgb, size), cv2.COLOR_RGB2GRAY)
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    grad = float(np.sqrt(gx**2 + gy**2)[region].mean()) / 255.0
    lbp = local_binary_pattern(grey, LBP_P, LBP_R, method="uniform")[region]
    hist = np.bincount(lbp.astype(int), minlength=LBP_P + 2)[: LBP_P + 2] / len(lbp)

    blank_before = np.sqrt(((prv - blank) ** 2).sum(-1)) < BLANK_LAB
    blank_after = np.sqrt(((nxt - blank) ** 2).sum(-1)) < BLANK_LAB
    progress = [1.0 - float(blank_before.mean()), float(blank_before[region].mean()), 1.0 - float(blank_after.mean())]

    vector = np.array(
        [
            *colour,
            *target_colour,
            *relative,
            *position,
            *core_features,
            area,
            *shape,
            grad,
            *hist,
            *_specks(target_rgb, mask),
            *haze,
            *extent,
            *component,
            *part_features,
            *progress,
            *timeline,
        ],
        np.float64,
    )
    assert vector.shape == (len(FEATURE_NAMES),)
    return vector


def pair_features(
    prev_path: Path | str,
    next_path: Path | str,
    mask_path: Path | str,
    target_path: Path | str,
    blank_path: Path | str,
    timeline: tuple[float, float],
) -> np.ndarray:
    """`region_features` from the files of one pair: I_{t-1}, I_t, the binary M_t mask PNG, I_T, the first keyframe."""
    prev, nxt, target, blank = (read_rgb(p) for p in (prev_path, next_path, target_path, blank_path))
    return region_features(prev, nxt, read_gray(mask_path), target, blank, timeline)
