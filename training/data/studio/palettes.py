"""Colour palettes of the procedural landscapes (RGB, 0..255)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Color = tuple[float, float, float]

# Hand-picked from acrylic landscape paintings: each mood is a consistent set of sky, land and water colours.
_MOODS: dict[str, dict[str, Color]] = {
    "day": {
        "sky_top": (38, 112, 196),
        "sky_mid": (86, 160, 220),
        "sky_horizon": (196, 222, 236),
        "cloud_light": (250, 248, 242),
        "cloud_shadow": (168, 180, 204),
        "sun": (255, 250, 225),
        "mountain_light": (150, 160, 190),
        "mountain_dark": (72, 82, 118),
        "snow": (244, 246, 252),
        "hill_light": (86, 150, 120),
        "hill_dark": (36, 92, 86),
        "water_light": (150, 200, 222),
        "water_dark": (24, 86, 130),
        "tree_light": (96, 150, 62),
        "tree_dark": (26, 66, 34),
        "trunk": (88, 60, 40),
        "grass_far": (168, 186, 84),
        "grass_near": (52, 112, 40),
        "rock_light": (178, 168, 150),
        "rock_dark": (82, 74, 66),
        "bird": (40, 40, 46),
    },
    "sunset": {
        "sky_top": (64, 52, 120),
        "sky_mid": (214, 96, 110),
        "sky_horizon": (252, 186, 90),
        "cloud_light": (255, 182, 130),
        "cloud_shadow": (120, 70, 110),
        "sun": (255, 236, 170),
        "mountain_light": (150, 92, 120),
        "mountain_dark": (62, 40, 80),
        "snow": (250, 214, 200),
        "hill_light": (96, 70, 96),
        "hill_dark": (40, 30, 56),
        "water_light": (240, 160, 110),
        "water_dark": (50, 40, 90),
        "tree_light": (70, 60, 60),
        "tree_dark": (22, 18, 30),
        "trunk": (40, 28, 30),
        "grass_far": (150, 110, 70),
        "grass_near": (46, 44, 36),
        "rock_light": (130, 100, 100),
        "rock_dark": (40, 30, 36),
        "bird": (28, 20, 30),
    },
    "golden": {
        "sky_top": (70, 130, 190),
        "sky_mid": (170, 190, 200),
        "sky_horizon": (250, 216, 150),
        "cloud_light": (255, 236, 200),
        "cloud_shadow": (170, 150, 160),
        "sun": (255, 244, 200),
        "mountain_light": (190, 150, 120),
        "mountain_dark": (96, 80, 96),
        "snow": (255, 240, 222),
        "hill_light": (150, 150, 80),
        "hill_dark": (70, 90, 60),
        "water_light": (220, 200, 160),
        "water_dark": (40, 80, 110),
        "tree_light": (150, 140, 50),
        "tree_dark": (40, 60, 30),
        "trunk": (90, 60, 36),
        "grass_far": (210, 180, 90),
        "grass_near": (100, 110, 40),
        "rock_light": (200, 170, 130),
        "rock_dark": (90, 70, 56),
        "bird": (50, 40, 36),
    },
    "night": {
        "sky_top": (10, 16, 48),
        "sky_mid": (28, 44, 96),
        "sky_horizon": (70, 90, 140),
        "cloud_light": (130, 140, 170),
        "cloud_shadow": (40, 46, 80),
        "sun": (246, 244, 220),
        "mountain_light": (70, 80, 120),
        "mountain_dark": (24, 28, 56),
        "snow": (190, 200, 230),
        "hill_light": (40, 60, 80),
        "hill_dark": (14, 26, 40),
        "water_light": (90, 110, 160),
        "water_dark": (10, 20, 50),
        "tree_light": (30, 50, 50),
        "tree_dark": (8, 16, 20),
        "trunk": (20, 18, 22),
        "grass_far": (40, 60, 60),
        "grass_near": (12, 26, 26),
        "rock_light": (80, 90, 110),
        "rock_dark": (20, 22, 34),
        "bird": (10, 10, 20),
    },
    "overcast": {
        "sky_top": (130, 146, 166),
        "sky_mid": (170, 180, 192),
        "sky_horizon": (214, 218, 220),
        "cloud_light": (236, 236, 236),
        "cloud_shadow": (120, 126, 140),
        "sun": (245, 240, 225),
        "mountain_light": (130, 140, 150),
        "mountain_dark": (70, 78, 90),
        "snow": (236, 240, 244),
        "hill_light": (110, 130, 110),
        "hill_dark": (56, 76, 66),
        "water_light": (170, 184, 190),
        "water_dark": (60, 80, 90),
        "tree_light": (90, 120, 80),
        "tree_dark": (30, 50, 40),
        "trunk": (70, 56, 46),
        "grass_far": (140, 150, 100),
        "grass_near": (60, 90, 50),
        "rock_light": (160, 156, 150),
        "rock_dark": (70, 68, 66),
        "bird": (36, 36, 40),
    },
}
MOOD_WEIGHTS = {"day": 0.35, "sunset": 0.2, "golden": 0.2, "night": 0.1, "overcast": 0.15}
FLOWER_COLORS: list[Color] = [
    (230, 40, 50),
    (250, 210, 40),
    (250, 250, 245),
    (240, 120, 170),
    (150, 80, 200),
    (250, 140, 30),
    (90, 120, 230),
]


@dataclass(frozen=True)
class Palette:
    """The colours of one painting."""

    mood: str
    colors: dict[str, Color]
    flowers: tuple[Color, ...]

    def __getitem__(self, name: str) -> np.ndarray:
        return np.asarray(self.colors[name], np.float32)


def random_palette(rng: np.random.Generator) -> Palette:
    """Pick a mood and jitter its colours a little so no two paintings share exact colours."""
    moods = list(MOOD_WEIGHTS)
    mood = moods[rng.choice(len(moods), p=np.array(list(MOOD_WEIGHTS.values())))]
    shift = rng.normal(0, 6, 3)  # a global colour cast of the painter's mixes
    colors = {
        name: tuple(float(v) for v in np.clip(np.asarray(c) + shift + rng.normal(0, 7, 3), 0, 255))
        for name, c in _MOODS[mood].items()
    }
    picks = rng.choice(len(FLOWER_COLORS), size=int(rng.integers(1, 4)), replace=False)
    return Palette(mood, colors, tuple(FLOWER_COLORS[int(i)] for i in picks))
