"""Procedural landscape design: which layers a painting has, where they are and what colours they aim for.

Every layer is described by a soft ``region`` (where the painter puts paint), a ``target`` colour field
(what the finished layer should look like) and brush ``passes`` (how it is painted). Detail layers
(flowers, birds) come with explicit strokes instead. Stroke planning lives in :mod:`.painting`.

Layer names follow what is drawn, as a person naming the layer from the picture would: "distant mountains"
for a hazy range (its mean colour within ``DISTANT_HAZE`` CIE Lab units of the sky at the horizon), else
"mountains"; "lake" for a narrow band of water (mean depth from horizon to shore under ``LAKE_DEPTH`` of the
canvas height), else "water"; "meadow" for light, sunlit grass (mean CIE L* above ``MEADOW_LIGHT``), else
"grass"; "pine trees" when every tree is a pine, else "trees"; "moon" at night, else "sun". Where a name was
once random its ``rng`` draw is still made and discarded, so the pixels of every video are unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from .brush import Stroke
from .palettes import Palette, random_palette
from .texture import noise_1d, smoothstep, value_noise

# Depth rank of every layer kind: a painting is painted back to front, so layers are ordered by rank.
KIND_RANK: dict[str, int] = {
    "sky": 0,
    "sun": 1,
    "clouds": 2,
    "mountains": 3,
    "hills": 4,
    "water": 5,
    "grass": 6,
    "trees": 7,  # after the grass: near trees are rooted in it
    "reflection": 8,  # after the trees: far trees are mirrored in the water
    "rocks": 9,
    "flowers": 9,
    "birds": 9,
}
# Names follow what is drawn (see the module docs). Mountains whose mean colour lies closer than DISTANT_HAZE
# (CIE Lab distance) to the sky at the horizon are hazy: "distant mountains" (about 30 % of ranges). A water
# band shallower than LAKE_DEPTH of the canvas height (mean horizon-to-shore distance) is a "lake" (about
# half). Grass lighter than MEADOW_LIGHT (mean CIE L*) is a sunlit "meadow" (about half: the day and golden
# palettes; the threshold lies in the gap between them and the overcast grass, so few fields are borderline).
DISTANT_HAZE = 23.0
LAKE_DEPTH = 0.24
MEADOW_LIGHT = 53.0
# Detail layers and the base layer they are painted on (always after it).
BASE_KIND: dict[str, str] = {
    "sun": "sky",
    "clouds": "sky",
    "birds": "sky",
    "reflection": "water",
    "flowers": "grass",
    "rocks": "grass",
}


@dataclass(eq=False)
class Pass:
    """One brush pass over a layer region; sizes are fractions of the canvas long side."""

    width: float
    length: float = 3.0  # stroke length / width
    spacing: float = 0.75  # stroke grid spacing / width
    coverage: float = 1.0  # fraction of grid points that get a stroke
    opacity: float = 0.9
    angle: float | np.ndarray | None = 0.0  # constant, per-pixel map (NaN = random) or None (random)
    angle_jitter: float = 0.2
    color_jitter: float = 6.0
    blur: float = 0.0  # blur of the target before colours are picked (base coats use mixed, flat colours)
    mix: float = 0.0  # wet-on-wet blending with the paint underneath


@dataclass(eq=False)
class LayerSpec:
    """What one semantic layer paints."""

    kind: str
    label: str
    region: np.ndarray | None = None  # float32 (H, W) in 0..1
    target: np.ndarray | None = None  # float32 (H, W, 3)
    passes: list[Pass] = field(default_factory=list)
    sweep: float = math.pi / 2  # direction in which the painter progresses (pi/2 = top to bottom)
    sweep_noise: float = 0.04  # raggedness of the progress front, fraction of the long side
    strokes: list[Stroke] | None = None  # explicit strokes (small details)


@dataclass(eq=False)
class Geometry:
    """Shared landscape geometry in canvas pixels."""

    width: int
    height: int
    horizon: float
    xx: np.ndarray
    yy: np.ndarray
    light_from_left: bool
    sun: tuple[float, float, float] | None = None  # x, y, radius
    mountain_ridge: np.ndarray | None = None
    hill_ridge: np.ndarray | None = None
    shore: np.ndarray | None = None  # bottom line of the water
    grass_top: np.ndarray | None = None
    far: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (region, target) seen in water
    near: np.ndarray | None = None  # foreground objects in front of the water (reflections must not cover them)

    @property
    def long_side(self) -> int:
        return max(self.width, self.height)


def _mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per-pixel blend of colours ``a`` -> ``b`` by ``t`` (H, W) -> (H, W, 3)."""
    a = np.asarray(a, np.float32)
    return a + (np.asarray(b, np.float32) - a) * np.asarray(t, np.float32)[..., None]


def _lab(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab (L* 0..100) of one RGB colour in 0..255."""
    pixel = np.clip(np.asarray(rgb, np.float32), 0, 255).reshape(1, 1, 3) / 255.0
    return cv2.cvtColor(pixel, cv2.COLOR_RGB2LAB).reshape(3)


def _lab_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(_lab(a) - _lab(b)))


def _colour_noise(rng: np.random.Generator, g: Geometry, cell: float, amount: float) -> np.ndarray:
    """Low-frequency luminance and hue variation, as in hand-mixed paint."""
    lum = value_noise(rng, (g.height, g.width), cell)
    hue = value_noise(rng, (g.height, g.width), cell * 1.5)
    return np.dstack([lum + 0.3 * hue, lum, lum - 0.3 * hue]) * amount


def _below(g: Geometry, line: np.ndarray, soft: float = 1.5) -> np.ndarray:
    """Soft mask of pixels below a per-column line."""
    return smoothstep(-soft, soft, g.yy - line[None, :]).astype(np.float32)


def _ragged(rng: np.random.Generator, g: Geometry, mask: np.ndarray, amount: float = 0.25) -> np.ndarray:
    """Fray a soft mask edge with fine noise, like the uneven edge of a brushed area."""
    n = value_noise(rng, (g.height, g.width), 3.0) * amount
    return np.clip((mask - 0.5) * 2.5 + 0.5 + n * (mask * (1 - mask) * 4), 0, 1).astype(np.float32)


def _choose_kinds(rng: np.random.Generator, palette: Palette) -> set[str]:
    night = palette.mood == "night"
    kinds = {"sky", "grass"}
    if rng.random() < 0.8:
        kinds.add("mountains")
    if rng.random() < 0.7 or "mountains" not in kinds:
        kinds.add("hills")
    if rng.random() < 0.7:
        kinds.add("water")
        if rng.random() < 0.85:
            kinds.add("reflection")
    optional = {
        "clouds": 0.5 if night else 0.8,
        "sun": 0.8 if night else 0.45,
        "trees": 0.85,
        "rocks": 0.5,
        "flowers": 0.15 if night else 0.55,
        "birds": 0.1 if night else 0.4,
    }
    for kind, p in optional.items():
        if rng.random() < p:
            kinds.add(kind)
    extra = [k for k in ("trees", "clouds", "rocks", "flowers", "birds", "sun") if k not in kinds]
    for kind in rng.permutation(extra):
        if len(kinds) >= 6:
            break
        kinds.add(str(kind))
    return kinds


def layer_order(rng: np.random.Generator, kinds: set[str]) -> list[str]:
    """Back-to-front order: by depth rank, equal ranks in random order."""
    tiebreak = {k: rng.random() for k in sorted(kinds)}
    return sorted(kinds, key=lambda k: (KIND_RANK[k], tiebreak[k]))


def _peaks_profile(rng: np.random.Generator, g: Geometry, n: int, hmin: float, hmax: float, sharp: bool):
    """Mountain-like height profile (per column) and the x/top of each peak."""
    x = np.arange(g.width, dtype=np.float32)
    prof = np.zeros(g.width, np.float32)
    owner = np.zeros(g.width, np.int32)
    peaks = []
    for i in range(n):
        px = rng.uniform(0.1, 0.9) * g.width
        ph = rng.uniform(hmin, hmax) * g.height * (1.0 if i == 0 else rng.uniform(0.55, 0.95))
        wl, wr = rng.uniform(0.18, 0.5, 2) * g.width
        p = rng.uniform(0.8, 1.3) if sharp else 2.0
        side = np.where(x < px, (px - x) / wl, (x - px) / wr)
        c = ph * np.clip(1 - side, 0, 1) ** p if sharp else ph * np.exp(-(side**2) * 2.0)  # peaks or rounded hills
        owner = np.where(c > prof, i, owner)
        prof = np.maximum(prof, c)
        peaks.append((px, ph))
    return prof, owner, peaks


def _sky(rng: np.random.Generator, g: Geometry, pal: Palette, bottom: np.ndarray) -> LayerSpec:
    t = np.clip(g.yy / max(float(bottom.mean()), 1.0), 0, 1)
    upper = _mix(pal["sky_top"], pal["sky_mid"], np.clip(t / 0.55, 0, 1))
    lower = _mix(pal["sky_mid"], pal["sky_horizon"], np.clip((t - 0.55) / 0.45, 0, 1))
    target = np.where((t < 0.55)[..., None], upper, lower)
    if g.sun is not None:
        sx, sy, r = g.sun
        d2 = (g.xx - sx) ** 2 + (g.yy - sy) ** 2
        glow = np.exp(-d2 / (2 * (4 * r) ** 2)) * 0.45
        target += (pal["sun"][None, None, :] - target) * glow[..., None]
    target += _colour_noise(rng, g, 0.15 * g.long_side, 6.0)
    region = 1.0 - _below(g, bottom + 0.01 * g.height * noise_1d(rng, g.width, 0.05 * g.width), 2.0)
    criss = np.where(rng.random((g.height, g.width)) < 0.5, 0.35, -0.35).astype(np.float32)
    passes = [
        Pass(0.05, 3.2, 0.7, opacity=0.92, angle=criss, angle_jitter=0.15, color_jitter=5, blur=0.03, mix=0.2),
        Pass(0.03, 3.0, 1.0, 0.6, opacity=0.7, angle=0.0, angle_jitter=0.3, color_jitter=7, mix=0.35),
    ]
    sweep = math.pi / 2 if rng.random() < 0.75 else float(rng.choice([0.0, math.pi]))
    return LayerSpec("sky", "sky", region, target.astype(np.float32), passes, sweep)


def _sun(rng: np.random.Generator, g: Geometry, pal: Palette) -> LayerSpec:
    assert g.sun is not None
    sx, sy, r = g.sun
    d = np.sqrt((g.xx - sx) ** 2 + (g.yy - sy) ** 2)
    region = smoothstep(1.7 * r, 0.9 * r, d).astype(np.float32)
    halo = smoothstep(0.95 * r, 1.7 * r, d)
    target = _mix(pal["sun"], pal["sun"] * 0.55 + pal["sky_horizon"] * 0.45, halo)
    if pal.mood == "night":  # moon craters
        target -= (
            18 * np.clip(value_noise(rng, (g.height, g.width), r * 0.4), 0, None)[..., None] * (halo < 0.5)[..., None]
        )
    tangent = (np.arctan2(g.yy - sy, g.xx - sx) + math.pi / 2).astype(np.float32)
    passes = [Pass(0.016, 2.2, 0.7, opacity=0.95, angle=tangent, angle_jitter=0.3, color_jitter=4, mix=0.15)]
    label = "moon" if pal.mood == "night" else "sun"
    return LayerSpec("sun", label, region, target.astype(np.float32), passes, math.pi / 2, 0.01)


def _clouds(rng: np.random.Generator, g: Geometry, pal: Palette) -> LayerSpec:
    mask_sum = np.zeros((g.height, g.width), np.float32)
    shade = np.zeros((g.height, g.width), np.float32)
    for _ in range(int(rng.integers(2, 7))):
        cw = rng.uniform(0.12, 0.35) * g.width
        ch = rng.uniform(0.035, 0.09) * g.height
        cx = rng.uniform(-0.05, 1.05) * g.width
        cy = rng.uniform(0.08, 0.75) * g.horizon
        m = np.zeros((g.height, g.width), np.uint8)
        for _ in range(int(rng.integers(5, 11))):
            ex = cx + rng.uniform(-0.5, 0.5) * cw
            ey = cy - abs(rng.normal(0, 0.35)) * ch
            axes = (max(2, int(rng.uniform(0.12, 0.3) * cw)), max(2, int(rng.uniform(0.35, 0.8) * ch)))
            cv2.ellipse(m, (int(ex), int(ey)), axes, 0, 0, 360, 1, -1)
        soft = cv2.GaussianBlur(m.astype(np.float32), (0, 0), 2.0) * (1 - smoothstep(cy, cy + 0.35 * ch, g.yy))
        top = cy - 1.2 * ch
        mask_sum = np.maximum(mask_sum, soft)
        shade = np.where(soft > 0.05, np.clip((g.yy - top) / (1.6 * ch), 0, 1), shade)
    region = _ragged(rng, g, mask_sum, 0.4)
    target = _mix(pal["cloud_light"], pal["cloud_shadow"], smoothstep(0.25, 1.0, shade))
    target += _colour_noise(rng, g, 0.04 * g.long_side, 7.0)
    passes = [
        Pass(0.028, 2.6, 0.7, opacity=0.85, angle=0.0, angle_jitter=0.3, color_jitter=6, blur=0.01, mix=0.3),
        Pass(0.016, 2.4, 1.0, 0.6, opacity=0.8, angle=0.0, angle_jitter=0.4, color_jitter=10, mix=0.25),
    ]
    return LayerSpec("clouds", "clouds", region, target.astype(np.float32), passes, float(rng.choice([0.0, math.pi])))


def _mountains(rng: np.random.Generator, g: Geometry, pal: Palette) -> LayerSpec:
    base = g.horizon + 0.015 * g.height
    prof, owner, peaks = _peaks_profile(rng, g, int(rng.integers(1, 4)), 0.16, 0.36, sharp=True)
    jag = noise_1d(rng, g.width, 0.05 * g.width) * 0.018 + noise_1d(rng, g.width, 0.012 * g.width) * 0.006
    prof = prof + jag * g.height * np.clip(prof / (0.05 * g.height), 0, 1)
    ridge = np.maximum(base - prof, 0.06 * g.height)
    g.mountain_ridge = ridge
    region = _below(g, ridge) * (1 - _below(g, np.full(g.width, base + 0.02 * g.height)))

    # faces: lit on the sun side of each peak's crooked ridge line
    lit = np.zeros((g.height, g.width), np.float32)
    crook = value_noise(rng, (g.height, g.width), 0.04 * g.long_side) * 0.025 * g.width
    for i, (px, ph) in enumerate(peaks):
        slant = rng.uniform(-0.4, 0.4)
        split = px + slant * (g.yy - (base - ph)) + crook
        side = (g.xx < split) if g.light_from_left else (g.xx > split)
        lit = np.where(owner[None, :] == i, side.astype(np.float32), lit)
    lit = cv2.GaussianBlur(lit, (0, 0), 1.5)
    target = _mix(pal["mountain_dark"], pal["mountain_light"], lit)
    max_h = max(ph for _, ph in peaks)
    snowline = base - rng.uniform(0.5, 0.75) * max_h
    snow_mask = smoothstep(
        2, -2, g.yy - snowline - value_noise(rng, (g.height, g.width), 0.03 * g.long_side) * 0.03 * g.height
    )
    snow = _mix(pal["snow"] * 0.7 + pal["mountain_dark"] * 0.3, pal["snow"], lit)
    if pal.mood not in ("night",):
        target += (snow - target) * snow_mask[..., None]
    haze = smoothstep(0.3, 1.0, (g.yy - ridge[None, :]) / np.maximum(base - ridge[None, :], 1)) * 0.55
    target += (pal["sky_horizon"][None, None, :] - target) * haze[..., None]
    target += _colour_noise(rng, g, 0.02 * g.long_side, 8.0)
    slope = np.gradient(cv2.GaussianBlur(ridge[None, :].astype(np.float32), (0, 0), 0.02 * g.width)[0])
    angle = np.broadcast_to(np.arctan(slope)[None, :], (g.height, g.width)).astype(np.float32)
    passes = [
        Pass(0.026, 2.8, 0.7, opacity=0.92, angle=angle, angle_jitter=0.25, color_jitter=5, blur=0.008, mix=0.15),
        Pass(0.014, 2.6, 1.0, 0.6, opacity=0.85, angle=angle, angle_jitter=0.4, color_jitter=10, mix=0.1),
    ]
    g.far.append((region, target.astype(np.float32)))
    rng.random()  # kept so every later draw (and so every pixel) stays as it was when this name was random
    hazy = _lab_distance(target[region > 0.5].mean(0), pal["sky_horizon"]) < DISTANT_HAZE
    label = "distant mountains" if hazy else "mountains"
    return LayerSpec("mountains", label, region, target.astype(np.float32), passes, math.pi / 2)


def _hills(rng: np.random.Generator, g: Geometry, pal: Palette) -> LayerSpec:
    base = g.horizon + 0.03 * g.height
    prof, _, _ = _peaks_profile(rng, g, int(rng.integers(2, 5)), 0.04, 0.14, sharp=False)
    prof += noise_1d(rng, g.width, 0.03 * g.width) * 0.004 * g.height
    ridge = g.horizon + 0.005 * g.height - np.maximum(prof, 0.01 * g.height)
    g.hill_ridge = ridge
    region = _below(g, ridge) * (1 - _below(g, np.full(g.width, base)))
    t = np.clip((g.yy - ridge[None, :]) / np.maximum(g.horizon - ridge[None, :], 1), 0, 1)
    target = _mix(pal["hill_light"], pal["hill_dark"], t**0.7)
    target += (pal["sky_horizon"] - target) * 0.18
    target += _colour_noise(rng, g, 0.05 * g.long_side, 10.0)
    slope = np.gradient(cv2.GaussianBlur(ridge[None, :].astype(np.float32), (0, 0), 0.03 * g.width)[0])
    angle = np.broadcast_to(np.arctan(slope)[None, :], (g.height, g.width)).astype(np.float32)
    passes = [
        Pass(0.03, 3.0, 0.7, opacity=0.92, angle=angle, angle_jitter=0.2, color_jitter=6, blur=0.01, mix=0.15),
        Pass(0.015, 2.5, 1.0, 0.5, opacity=0.85, angle=angle, angle_jitter=0.35, color_jitter=10, mix=0.1),
    ]
    g.far.append((region, target.astype(np.float32)))
    sweep = float(rng.choice([0.0, math.pi, math.pi / 2]))
    return LayerSpec("hills", "hills", region, target.astype(np.float32), passes, sweep)


def _water(rng: np.random.Generator, g: Geometry, pal: Palette) -> LayerSpec:
    assert g.shore is not None
    region = _below(g, np.full(g.width, g.horizon - 0.004 * g.height)) * (1 - _below(g, g.shore + 2))
    t = np.clip((g.yy - g.horizon) / np.maximum(g.shore[None, :] - g.horizon, 1), 0, 1)
    target = _mix(pal["water_light"] * 0.6 + pal["sky_horizon"] * 0.4, pal["water_dark"], t**0.8)
    streaks = value_noise(rng, (g.height, g.width), 0.25 * g.width, 0.006 * g.height)
    target += streaks[..., None] * 9 + _colour_noise(rng, g, 0.1 * g.long_side, 4)
    passes = [
        Pass(0.03, 4.0, 0.7, opacity=0.92, angle=0.0, angle_jitter=0.05, color_jitter=5, blur=0.01, mix=0.3),
        Pass(0.008, 6.0, 1.2, 0.35, opacity=0.8, angle=0.0, angle_jitter=0.03, color_jitter=16, mix=0.05),
    ]
    rng.random()  # kept so every later draw stays as it was when this name was random
    depth = float(np.mean(g.shore - g.horizon))
    label = "lake" if depth < LAKE_DEPTH * g.height else "water"
    return LayerSpec("water", label, region, target.astype(np.float32), passes, math.pi / 2)


def _tree_shape(rng: np.random.Generator, g: Geometry, x: float, base: float, h: float, pine: bool):
    """Canopy and trunk masks (uint8) and the canopy centre of one tree."""
    canopy = np.zeros((g.height, g.width), np.uint8)
    trunk = np.zeros_like(canopy)
    if pine:
        top = base - h
        wmax = h * rng.uniform(0.18, 0.3)
        ys = np.linspace(top, base - 0.08 * h, 40)
        f = (ys - top) / (0.92 * h)
        tiers = rng.uniform(4, 8)
        hw = wmax * f**0.9 * (0.72 + 0.28 * ((f * tiers) % 1.0)) + 0.5
        hw *= 1 + 0.12 * rng.standard_normal(len(ys))
        pts = np.concatenate([np.stack([x - hw, ys], 1), np.stack([x + hw, ys], 1)[::-1]])
        cv2.fillPoly(canopy, [np.round(pts * 4).astype(np.int32)], 1, cv2.LINE_8, 2)
        tw = max(1.0, 0.05 * wmax * 2)
        cv2.rectangle(trunk, (int(x - tw), int(base - 0.12 * h)), (int(x + tw), int(base)), 1, -1)
        return canopy, trunk, (x, top + 0.6 * h, wmax)
    radius = h * rng.uniform(0.28, 0.36)
    cy = base - h + radius
    tw = max(1.0, 0.1 * radius)
    cv2.rectangle(trunk, (int(x - tw), int(cy)), (int(x + tw), int(base)), 1, -1)
    for _ in range(int(rng.integers(6, 12))):
        a = rng.uniform(0, 2 * math.pi)
        d = rng.uniform(0, 0.55) * radius
        rr = rng.uniform(0.4, 0.65) * radius
        cv2.circle(canopy, (int(x + d * math.cos(a)), int(cy + 0.8 * d * math.sin(a))), max(1, int(rr)), 1, -1)
    return canopy, trunk, (x, cy, radius)


def _trees(rng: np.random.Generator, g: Geometry, pal: Palette) -> LayerSpec:
    pine_share = rng.uniform(0, 1)
    specs = []  # (x, base, height, pine, far)
    if g.mountain_ridge is not None or g.hill_ridge is not None or g.shore is not None:
        for _ in range(int(rng.integers(2, 4))):  # clusters on the far shore / hillside
            cx = rng.uniform(0.05, 0.95) * g.width
            for _ in range(int(rng.integers(2, 6))):
                x = cx + rng.normal(0, 0.04) * g.width
                specs.append(
                    (
                        x,
                        g.horizon + 0.008 * g.height,
                        rng.uniform(0.05, 0.13) * g.height,
                        rng.random() < pine_share,
                        True,
                    )
                )
    assert g.grass_top is not None
    for _ in range(int(rng.integers(0 if specs else 1, 4))):  # big trees in the foreground at the sides
        x = (rng.uniform(-0.02, 0.18) if rng.random() < 0.5 else rng.uniform(0.82, 1.02)) * g.width
        top = float(np.interp(x, np.arange(g.width), g.grass_top))
        base = top + rng.uniform(0.2, 0.8) * (g.height - top)
        specs.append((x, base, rng.uniform(0.3, 0.55) * g.height * base / g.height, rng.random() < pine_share, False))
    specs.sort(key=lambda s: s[1])  # far (higher base) first so nearer trees paint over them
    region = np.zeros((g.height, g.width), np.float32)
    target = np.zeros((g.height, g.width, 3), np.float32)
    far_region = np.zeros_like(region)
    near_region = np.zeros_like(region)
    angle = np.full((g.height, g.width), np.nan, np.float32)
    blotch = value_noise(rng, (g.height, g.width), 0.012 * g.long_side)
    sgn = -1.0 if g.light_from_left else 1.0
    for x, base, h, pine, far in specs:
        canopy, trunk, (cx, cy, rad) = _tree_shape(rng, g, x, base, h, pine)
        ys, xs = np.nonzero(canopy | trunk)
        if ys.size == 0:
            continue
        box = (
            slice(int(ys.min()), int(ys.max()) + 1),
            slice(int(xs.min()), int(xs.max()) + 1),
        )  # work on the tree only
        xx, yy = g.xx[box], g.yy[box]
        lit = np.clip(
            0.45 + sgn * 0.7 * (xx - cx) / max(rad, 1) - 0.25 * (yy - cy) / max(rad, 1) + 0.3 * blotch[box], 0, 1
        )
        col = _mix(pal["tree_dark"], pal["tree_light"], lit)
        if far:  # aerial perspective
            col += (pal["sky_horizon"] - col) * 0.25
        can, tru = canopy[box].astype(bool), trunk[box].astype(bool)
        for sel, c in ((tru, np.broadcast_to(pal["trunk"], col.shape)), (can, col)):
            target[box][sel] = c[sel]
            region[box][sel] = 1.0
            (far_region if far else near_region)[box][sel] = 1.0
        ang = angle[box]
        if pine:
            ang[can] = np.where(xx < cx, math.pi - 0.45, 0.45).astype(np.float32)[can]
        ang[tru & ~can] = math.pi / 2
    target += _colour_noise(rng, g, 0.02 * g.long_side, 6.0)
    region = cv2.GaussianBlur(region, (0, 0), 0.7)
    if far_region.any():
        g.far.append((cv2.GaussianBlur(far_region, (0, 0), 0.7), target))
    if near_region.any():
        g.near = np.clip(cv2.GaussianBlur(cv2.dilate(near_region, np.ones((5, 5), np.uint8)), (0, 0), 1.0) * 2, 0, 1)
    passes = [
        Pass(0.013, 2.0, 0.7, opacity=0.95, angle=angle, angle_jitter=0.25, color_jitter=8, blur=0.004),
        Pass(0.008, 2.0, 1.0, 0.6, opacity=0.9, angle=angle, angle_jitter=0.35, color_jitter=14),
    ]
    label = "pine trees" if all(s[3] for s in specs) else "trees"
    return LayerSpec("trees", label, region, target, passes, math.pi / 2, 0.01)


def _grass(rng: np.random.Generator, g: Geometry, pal: Palette) -> LayerSpec:
    assert g.grass_top is not None
    region = _ragged(rng, g, _below(g, g.grass_top, 2.0), 0.3)
    t = np.clip((g.yy - g.grass_top[None, :]) / np.maximum(g.height - g.grass_top[None, :], 1), 0, 1)
    target = _mix(pal["grass_far"], pal["grass_near"], t**0.8)
    patches = value_noise(rng, (g.height, g.width), 0.12 * g.long_side, 0.05 * g.long_side)
    target += (pal["grass_far"] * 1.1 - target) * np.clip(patches * 0.35, 0, 0.5)[..., None]
    target += _colour_noise(rng, g, 0.03 * g.long_side, 10.0)
    flick = np.full((g.height, g.width), -math.pi / 2, np.float32)  # upward flicks, like blades of grass
    passes = [
        Pass(0.035, 3.0, 0.7, opacity=0.92, angle=0.0, angle_jitter=0.25, color_jitter=6, blur=0.02, mix=0.15),
        Pass(0.01, 2.8, 1.0, 0.45, opacity=0.9, angle=flick, angle_jitter=0.3, color_jitter=18),
    ]
    rng.random()  # kept so every later draw stays as it was when this name was random
    sunlit = _lab(target[region > 0.5].mean(0))[0] > MEADOW_LIGHT
    label = "meadow" if sunlit else "grass"
    return LayerSpec("grass", label, region, target.astype(np.float32), passes, math.pi / 2)


def _reflection(rng: np.random.Generator, g: Geometry, pal: Palette, water: LayerSpec) -> LayerSpec:
    assert g.shore is not None and water.region is not None and water.target is not None
    far_col = np.zeros((g.height, g.width, 3), np.float32)
    far_mask = np.zeros((g.height, g.width), np.float32)
    for region, target in g.far:
        far_col += (target - far_col) * region[..., None]
        far_mask = np.maximum(far_mask, region)
    ripple = value_noise(rng, (g.height, g.width), 0.2 * g.width, 0.008 * g.height) * 0.006 * g.width
    map_x = (g.xx + ripple).astype(np.float32)
    map_y = (2 * g.horizon - g.yy).astype(np.float32)
    mirrored = cv2.remap(far_col, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    mirrored_mask = cv2.remap(far_mask, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    target = mirrored * 0.8 + water.target * 0.2
    target = target * 0.7 + water.target * 0.3
    depth = np.clip((g.yy - g.horizon) / np.maximum(g.shore[None, :] - g.horizon, 1), 0, 1)
    region = mirrored_mask * (1 - smoothstep(0.55, 0.95, depth))
    if g.sun is not None:  # glitter path under the sun
        sx, _, r = g.sun
        dashes = (value_noise(rng, (g.height, g.width), 0.05 * g.width, 0.004 * g.height) > 0.3).astype(np.float32)
        path = (
            smoothstep(1.8 * r + 2 * r * depth, 0.3 * r, np.abs(g.xx - sx)) * dashes * (1 - smoothstep(0.6, 1, depth))
        )
        target += (pal["sun"][None, None, :] * 0.8 + water.target * 0.2 - target) * path[..., None]
        region = np.maximum(region, path)
    if g.near is not None:
        region = region * (1 - g.near)
    region = (region * water.region * (region > 0.25)).astype(np.float32)
    passes = [
        Pass(0.018, 2.5, 0.75, opacity=0.85, angle=math.pi / 2, angle_jitter=0.1, color_jitter=6, blur=0.006, mix=0.35),
        Pass(0.007, 6.0, 1.2, 0.5, opacity=0.8, angle=0.0, angle_jitter=0.03, color_jitter=14, mix=0.1),
    ]
    return LayerSpec(
        "reflection", "reflection", region, target.astype(np.float32), passes, float(rng.choice([0.0, math.pi]))
    )


def _rocks(rng: np.random.Generator, g: Geometry, pal: Palette) -> LayerSpec:
    assert g.grass_top is not None
    mask = np.zeros((g.height, g.width), np.uint8)
    target = np.zeros((g.height, g.width, 3), np.float32)
    sgn = -1.0 if g.light_from_left else 1.0
    for _ in range(int(rng.integers(2, 7))):
        x = rng.uniform(0.03, 0.97) * g.width
        top = float(np.interp(x, np.arange(g.width), g.grass_top))
        y = top + (
            rng.uniform(-0.01, 0.05) * g.height
            if g.shore is not None and rng.random() < 0.7
            else rng.uniform(0.3, 0.95) * (g.height - top)
        )
        r = (0.02 + 0.05 * (y / g.height) ** 2) * g.long_side * rng.uniform(0.7, 1.3)
        n = int(rng.integers(9, 15))
        ang = np.sort(rng.uniform(0, 2 * math.pi, n))
        rad = r * rng.uniform(0.75, 1.1, n)
        pts = np.stack([x + rad * np.cos(ang), y + 0.65 * rad * np.minimum(np.sin(ang), 0.35)], 1)
        m = np.zeros_like(mask)
        cv2.fillPoly(m, [np.round(pts * 4).astype(np.int32)], 1, cv2.LINE_8, 2)
        sel = m.astype(bool)
        lit = np.clip(0.5 - 0.7 * (g.yy[sel] - y) / r + sgn * 0.4 * (g.xx[sel] - x) / r, 0, 1)
        target[sel] = _mix(pal["rock_dark"], pal["rock_light"], lit)
        mask |= m
    target += _colour_noise(rng, g, 0.01 * g.long_side, 10.0)
    region = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.8)
    passes = [Pass(0.012, 1.8, 0.7, opacity=0.95, angle=None, color_jitter=10, blur=0.002)]
    return LayerSpec("rocks", "rocks", region, target, passes, math.pi / 2, 0.01)


def _flowers(rng: np.random.Generator, g: Geometry, pal: Palette, solid: int) -> LayerSpec:
    assert g.grass_top is not None
    strokes = []
    for _ in range(int(rng.integers(40, 160))):
        x = rng.uniform(0.01, 0.99) * g.width
        top = float(np.interp(x, np.arange(g.width), g.grass_top))
        y = top + rng.uniform(0.3, 0.98) * (g.height - top)
        r = (0.0025 + 0.0065 * (y - top) / max(g.height - top, 1)) * g.long_side
        col = np.asarray(pal.flowers[int(rng.integers(len(pal.flowers)))], np.float64)
        if pal.mood in ("sunset", "night"):
            col = col * 0.6
        for _ in range(int(rng.integers(1, 4))):
            c = tuple(float(v) for v in np.clip(col + rng.normal(0, 12, 3), 0, 255))
            strokes.append(
                Stroke(
                    x + rng.normal(0, 0.4 * r),
                    y + rng.normal(0, 0.3 * r),
                    rng.uniform(0, math.pi),
                    2.2 * r,
                    1.8 * r,
                    c,
                    0.95,
                    solid,
                )
            )
    strokes.sort(key=lambda s: s.x + rng.normal(0, 0.05 * g.width))
    return LayerSpec("flowers", "flowers", strokes=strokes)


def _birds(rng: np.random.Generator, g: Geometry, pal: Palette, solid: int) -> LayerSpec:
    strokes = []
    cx, cy = rng.uniform(0.2, 0.8) * g.width, rng.uniform(0.15, 0.45) * g.horizon
    for _ in range(int(rng.integers(3, 9))):  # a loose flock
        x, y = cx + rng.normal(0, 0.12) * g.width, cy + rng.normal(0, 0.06) * g.height
        s = rng.uniform(0.012, 0.028) * g.long_side
        lift = rng.uniform(0.2, 0.6)
        col = tuple(float(v) for v in pal["bird"])
        for side in (-1, 1):
            wx, wy = x + side * s, y - lift * s
            ang = math.atan2(y - wy, x - wx)
            strokes.append(
                Stroke(
                    (x + wx) / 2,
                    (y + wy) / 2,
                    ang,
                    1.15 * math.hypot(x - wx, y - wy),
                    max(1.6, 0.14 * s),
                    col,
                    1.0,
                    solid,
                )
            )
    return LayerSpec("birds", "birds", strokes=strokes)


def design_landscape(
    rng: np.random.Generator, width: int, height: int, solid_stamp: int
) -> tuple[Palette, list[LayerSpec]]:
    """Design a random landscape painting and return its palette and layers, back to front."""
    pal = random_palette(rng)
    kinds = _choose_kinds(rng, pal)
    order = layer_order(rng, kinds)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    horizon = rng.uniform(0.46, 0.6) * height if "water" in kinds else rng.uniform(0.5, 0.66) * height
    g = Geometry(width, height, horizon, xx, yy, bool(rng.random() < 0.5))
    if "sun" in kinds:
        low = pal.mood in ("sunset", "golden")
        sy = horizon - (rng.uniform(0.07, 0.2) if low else rng.uniform(0.25, 0.55)) * horizon
        g.sun = (rng.uniform(0.15, 0.85) * width, sy, rng.uniform(0.035, 0.06) * g.long_side)
        g.light_from_left = g.sun[0] < width / 2
    if "water" in kinds:
        depth = rng.uniform(0.15, 0.3) * height
        slant = rng.uniform(-0.06, 0.06) * height * (np.arange(width) / width - 0.5)
        g.shore = np.minimum(
            horizon + depth + slant + noise_1d(rng, width, 0.25 * width, 2) * 0.008 * height, height * 0.93
        )
        g.grass_top = g.shore - 0.004 * height
    else:
        g.grass_top = horizon + noise_1d(rng, width, 0.25 * width, 2) * 0.008 * height
    sky_bottom = np.full(width, horizon + 0.02 * height)

    builders = {
        "sky": lambda: _sky(rng, g, pal, sky_bottom),
        "sun": lambda: _sun(rng, g, pal),
        "clouds": lambda: _clouds(rng, g, pal),
        "mountains": lambda: _mountains(rng, g, pal),
        "hills": lambda: _hills(rng, g, pal),
        "water": lambda: _water(rng, g, pal),
        "trees": lambda: _trees(rng, g, pal),
        "grass": lambda: _grass(rng, g, pal),
        "rocks": lambda: _rocks(rng, g, pal),
        "flowers": lambda: _flowers(rng, g, pal, solid_stamp),
        "birds": lambda: _birds(rng, g, pal, solid_stamp),
    }
    layers: list[LayerSpec] = []
    for kind in order:
        if kind == "reflection":
            water = next(layer for layer in layers if layer.kind == "water")
            layers.append(_reflection(rng, g, pal, water))
        else:
            layers.append(builders[kind]())
    return pal, layers
