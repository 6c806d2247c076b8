"""The studio around the canvas: wall, easel, table, palette with paint, jars and picture frames."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .texture import value_noise

WALLS = [(226, 221, 210), (200, 201, 198), (214, 200, 178), (172, 186, 196), (182, 192, 170), (150, 128, 108)]
WOODS = [(156, 112, 74), (118, 84, 58), (186, 152, 112), (92, 72, 58), (212, 210, 204)]
EASEL_WOODS = [(196, 156, 108), (160, 118, 76), (120, 86, 56), (60, 56, 54)]


def _poly(img: np.ndarray, pts: np.ndarray, color: np.ndarray) -> None:
    cv2.fillPoly(img, [np.round(np.asarray(pts) * 16).astype(np.int32)], tuple(float(c) for c in color), cv2.LINE_AA, 4)


def _free(mask: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """True when ``box`` (x0, y0, x1, y1) does not touch ``mask`` (the canvas area) and is mostly inside."""
    h, w = mask.shape
    x0, y0, x1, y1 = box
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if cx1 - cx0 < 0.6 * (x1 - x0) or cy1 - cy0 < 0.6 * (y1 - y0):
        return False
    return not mask[cy0:cy1, cx0:cx1].any()


def _wall(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    base = np.asarray(WALLS[int(rng.integers(len(WALLS)))], np.float32) + rng.normal(0, 6, 3).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    lx, ly = rng.uniform(-0.3, 1.3) * w, rng.uniform(-0.5, 0.3) * h
    dist = np.sqrt((xx - lx) ** 2 + (yy - ly) ** 2) / math.hypot(w, h)
    light = 1.08 - rng.uniform(0.2, 0.45) * dist**1.3
    tex = (
        1.0
        + 0.025 * value_noise(rng, (h, w), 60)
        + 0.012 * value_noise(rng, (h, w), 8)
        + 0.006 * rng.standard_normal((h, w)).astype(np.float32)
    )
    return base[None, None, :] * (light * tex)[..., None]


def _picture_frames(rng: np.random.Generator, img: np.ndarray, quad_mask: np.ndarray) -> None:
    """Other rectangles on the wall: hard negatives for canvas detection."""
    h, w = img.shape[:2]
    for _ in range(int(rng.integers(0, 3))):
        fw, fh = rng.uniform(0.12, 0.3) * w, rng.uniform(0.12, 0.3) * h
        for _attempt in range(20):
            x0, y0 = rng.uniform(-0.1, 0.95) * w, rng.uniform(-0.1, 0.6) * h
            box = (int(x0), int(y0), int(x0 + fw), int(y0 + fh))
            if _free(quad_mask, box):
                break
        else:
            continue
        frame_col = np.asarray(WOODS[int(rng.integers(len(WOODS)))], np.float32)
        cv2.rectangle(img, box[:2], box[2:], tuple(float(c) for c in frame_col * 0.8), -1)
        b = max(3, int(0.08 * min(fw, fh)))
        inner = (box[0] + b, box[1] + b, box[2] - b, box[3] - b)
        sub = img[max(inner[1], 0) : max(inner[3], 0), max(inner[0], 0) : max(inner[2], 0)]
        if sub.size:
            a, c2 = rng.uniform(40, 230, 3), rng.uniform(40, 230, 3)
            t = np.linspace(0, 1, sub.shape[0], dtype=np.float32)[:, None, None]
            sub[:] = a * (1 - t) + c2 * t + 12 * value_noise(rng, sub.shape[:2], 10)[..., None]


def _easel(rng: np.random.Generator, img: np.ndarray, corners: np.ndarray) -> None:
    tl, tr, br, bl = corners
    wood = np.asarray(EASEL_WOODS[int(rng.integers(len(EASEL_WOODS)))], np.float32)
    cw = float(np.linalg.norm(tr - tl))
    ch = float(np.linalg.norm(bl - tl))
    bar = 0.05 * cw
    top_mid, bot_mid = (tl + tr) / 2, (bl + br) / 2
    up = (top_mid - bot_mid) / max(np.linalg.norm(top_mid - bot_mid), 1e-6)
    # mast behind the canvas, sticking out above it
    mast_top = top_mid + up * 3 * ch
    side = np.array([-up[1], up[0]]) * bar / 2
    _poly(img, np.array([mast_top - side, mast_top + side, bot_mid + side, bot_mid - side]), wood * 0.9)
    clamp = top_mid + up * 0.05 * ch
    _poly(
        img,
        np.array(
            [
                clamp - 1.6 * side - up * 0.07 * ch,
                clamp + 1.6 * side - up * 0.07 * ch,
                clamp + 1.6 * side + up * 0.03 * ch,
                clamp - 1.6 * side + up * 0.03 * ch,
            ]
        ),
        wood * 0.75,
    )
    # ledge the canvas stands on, and the legs
    ext = (br - bl) * 0.06
    down = -up * 0.045 * ch
    _poly(img, np.array([bl - ext, br + ext, br + ext + down, bl - ext + down]), wood)
    _poly(img, np.array([bl - ext + down, br + ext + down, br + ext + 1.4 * down, bl - ext + 1.4 * down]), wood * 0.6)
    for foot, start in (
        (bl - (br - bl) * 0.35 - up * 3 * ch, bl + (br - bl) * 0.1),
        (br + (br - bl) * 0.35 - up * 3 * ch, br - (br - bl) * 0.1),
    ):
        d = foot - start
        n = np.array([-d[1], d[0]]) / max(np.linalg.norm(d), 1e-6) * bar / 2
        _poly(img, np.array([start - n, start + n, foot + n, foot - n]), wood * 0.85)


def _table(rng: np.random.Generator, img: np.ndarray) -> float:
    h, w = img.shape[:2]
    top = rng.uniform(0.62, 0.9) * h
    tilt = rng.uniform(-0.04, 0.04) * h
    wood = np.asarray(WOODS[int(rng.integers(len(WOODS)))], np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    edge = top + tilt * (xx / w - 0.5)
    inside = np.clip(yy - edge, 0, 1)
    grain = 1.0 + 0.06 * value_noise(rng, (h, w), 0.5 * w, 3.0) + 0.03 * value_noise(rng, (h, w), 30, 2)
    shade = 0.85 + 0.2 * np.clip((yy - edge) / max(h - top, 1), 0, 1)
    table = wood[None, None, :] * (grain * shade)[..., None]
    img[:] = img * (1 - inside[..., None]) + table * inside[..., None]
    lip = (np.abs(yy - edge - 2) < 2.5).astype(np.float32)
    img[:] = img * (1 - 0.25 * lip[..., None])
    return float(top + abs(tilt))


def _palette(
    rng: np.random.Generator, img: np.ndarray, quad_mask: np.ndarray, table_y: float, paints: list[np.ndarray]
) -> None:
    h, w = img.shape[:2]
    a, b = rng.uniform(0.1, 0.16) * w, rng.uniform(0.05, 0.08) * h
    for _ in range(40):
        cx, cy = rng.uniform(0.0, 1.0) * w, rng.uniform(table_y + b * 0.5, h + b * 0.3)
        if _free(quad_mask, (int(cx - a), int(cy - b), int(cx + a), int(cy + b))):
            break
    else:
        return
    base = np.asarray(WOODS[int(rng.integers(len(WOODS)))] if rng.random() < 0.5 else (236, 234, 228), np.float32)
    ang = rng.uniform(-20, 20)
    cv2.ellipse(
        img,
        (int(cx + 4), int(cy + 5)),
        (int(a), int(b)),
        ang,
        0,
        360,
        tuple(float(c) for c in base * 0.5),
        -1,
        cv2.LINE_AA,
    )
    cv2.ellipse(img, (int(cx), int(cy)), (int(a), int(b)), ang, 0, 360, tuple(float(c) for c in base), -1, cv2.LINE_AA)
    cv2.ellipse(
        img,
        (int(cx + 0.6 * a), int(cy + 0.2 * b)),
        (int(0.12 * a), int(0.2 * b)),
        ang,
        0,
        360,
        tuple(float(c) for c in img[min(h - 1, int(table_y + 5)), 0]),
        -1,
        cv2.LINE_AA,
    )
    for k, col in enumerate(paints):  # blobs around the rim, smears of mixed paint in the middle
        t = math.radians(ang) + 2 * math.pi * (k + rng.uniform(-0.2, 0.2)) / max(len(paints), 1)
        px, py = cx + 0.75 * a * math.cos(t), cy + 0.7 * b * math.sin(t)
        r = max(2, int(rng.uniform(0.06, 0.1) * a))
        cv2.circle(img, (int(px), int(py)), r, tuple(float(c) for c in col), -1, cv2.LINE_AA)
        cv2.circle(
            img,
            (int(px - r / 3), int(py - r / 3)),
            max(1, r // 3),
            tuple(float(min(255, c + 40)) for c in col),
            -1,
            cv2.LINE_AA,
        )
        if rng.random() < 0.6:
            sx, sy = cx + rng.uniform(-0.4, 0.4) * a, cy + rng.uniform(-0.4, 0.4) * b
            cv2.ellipse(
                img,
                (int(sx), int(sy)),
                (int(rng.uniform(0.1, 0.25) * a), max(2, int(0.12 * b))),
                rng.uniform(0, 180),
                0,
                360,
                tuple(float(c) for c in col * 0.9 + base * 0.1),
                -1,
                cv2.LINE_AA,
            )


def _jar(rng: np.random.Generator, img: np.ndarray, quad_mask: np.ndarray, table_y: float) -> None:
    h, w = img.shape[:2]
    jw, jh = rng.uniform(0.04, 0.07) * w, rng.uniform(0.08, 0.14) * h
    for _ in range(40):
        cx, bottom = rng.uniform(0.0, 1.0) * w, rng.uniform(table_y + 0.02 * h, h + 0.02 * h)
        box = (int(cx - jw), int(bottom - jh - 0.25 * h), int(cx + jw), int(bottom))
        if _free(quad_mask, box):
            break
    else:
        return
    for _ in range(int(rng.integers(2, 6))):  # brushes standing in the jar
        tip = (cx + rng.uniform(-1.5, 1.5) * jw, bottom - jh - rng.uniform(0.08, 0.22) * h)
        col = tuple(float(c) for c in rng.uniform(20, 200, 3))
        cv2.line(
            img,
            (int(cx + rng.uniform(-0.5, 0.5) * jw), int(bottom - jh * 0.5)),
            (int(tip[0]), int(tip[1])),
            col,
            max(2, int(0.012 * w)),
            cv2.LINE_AA,
        )
    water = np.asarray(rng.uniform(90, 190, 3), np.float32)
    x0, x1, y0 = int(cx - jw / 2), int(cx + jw / 2), int(bottom - jh)
    sub = img[max(y0, 0) : min(int(bottom), h), max(x0, 0) : min(x1, w)]
    if sub.size:
        sub[:] = sub * 0.45 + water * 0.55
        sub[:, : max(1, sub.shape[1] // 6)] += 30
    cv2.ellipse(img, (int(cx), y0), (int(jw / 2), max(2, int(jw / 6))), 0, 0, 360, (225, 230, 230), 1, cv2.LINE_AA)


def build_background(
    rng: np.random.Generator, size: tuple[int, int], margin: int, corners: np.ndarray, paints: list[np.ndarray]
) -> np.ndarray:
    """Studio plate (uint8 RGB) covering the frame plus ``margin`` pixels on every side.

    ``corners`` are the canvas corners in frame coordinates; objects in front of the canvas (palette,
    jar) are placed where they do not overlap it, the easel and the canvas's shadow are built around it.
    """
    fw, fh = size
    w, h = fw + 2 * margin, fh + 2 * margin
    quad = corners + margin
    quad_mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(quad_mask, [np.round(quad).astype(np.int32)], 1)
    quad_mask = cv2.dilate(quad_mask, np.ones((15, 15), np.uint8))

    img = _wall(rng, h, w)
    _picture_frames(rng, img, quad_mask)
    shadow = np.zeros((h, w), np.float32)
    off = rng.uniform(-0.03, 0.03, 2) * np.array([w, h]) + np.array([0, 0.015 * h])
    cv2.fillPoly(shadow, [np.round((quad + off) * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 0.02 * w)
    img *= (1 - rng.uniform(0.2, 0.4) * shadow)[..., None]
    _easel(rng, img, quad)
    table_y = _table(rng, img)
    _palette(rng, img, quad_mask, table_y, paints)
    if rng.random() < 0.7:
        _jar(rng, img, quad_mask, table_y)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
    img *= (1 - rng.uniform(0.1, 0.25) * r2 / 2)[..., None]  # lens vignetting
    img = cv2.GaussianBlur(img, (0, 0), 0.7)  # the background is slightly out of focus
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)
