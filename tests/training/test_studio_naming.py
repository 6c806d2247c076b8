"""Studio layer names follow what is drawn (hazy mountains, a narrow band of water, sunlit grass), not a coin flip."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from training.data.studio import landscape
from training.data.studio.landscape import Geometry, _grass, _mountains, _water, design_landscape
from training.data.studio.palettes import _MOODS, Palette

W, H = 96, 64


def _geometry(horizon: float = 0.5, shore: float | None = None) -> Geometry:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    g = Geometry(W, H, horizon * H, xx, yy, light_from_left=True)
    g.grass_top = np.full(W, (shore if shore is not None else horizon) * H, np.float32)
    if shore is not None:
        g.shore = np.full(W, shore * H, np.float32)
    return g


def _palette(**colours: tuple[float, float, float]) -> Palette:
    return Palette("day", {**_MOODS["day"], **colours}, ((250, 210, 40),))


def _named(build, palette: Palette, geometry: Geometry, seed: int = 3) -> tuple[str, dict]:
    rng = np.random.default_rng(seed)
    label = build(rng, geometry, palette).label
    return label, rng.bit_generator.state


def test_hazy_mountains_are_distant_and_the_name_draws_no_extra_random_numbers():
    sky = _MOODS["day"]["sky_horizon"]
    hazy = _palette(mountain_light=sky, mountain_dark=sky, snow=sky)
    clear = _palette(mountain_light=(70, 60, 90), mountain_dark=(30, 30, 60), snow=(60, 60, 80))
    hazy_label, hazy_state = _named(_mountains, hazy, _geometry())
    clear_label, clear_state = _named(_mountains, clear, _geometry())
    assert (hazy_label, clear_label) == ("distant mountains", "mountains")
    assert hazy_state == clear_state  # every later draw (and so every pixel) is the same whichever name


def test_a_narrow_band_of_water_is_a_lake():
    lake, lake_state = _named(_water, _palette(), _geometry(0.5, shore=0.6))
    water, water_state = _named(_water, _palette(), _geometry(0.5, shore=0.9))
    assert (lake, water) == ("lake", "water")
    assert lake_state == water_state


def test_light_sunlit_grass_is_a_meadow():
    light = _palette(grass_far=(200, 225, 140), grass_near=(170, 210, 110))
    dark = _palette(grass_far=(40, 70, 40), grass_near=(20, 50, 20))
    meadow, meadow_state = _named(_grass, light, _geometry())
    grass, grass_state = _named(_grass, dark, _geometry())
    assert (meadow, grass) == ("meadow", "grass")
    assert meadow_state == grass_state


def _designs(seeds: range) -> list[list]:
    return [design_landscape(np.random.default_rng(seed), 64, 48, solid_stamp=5)[1] for seed in seeds]


def test_random_paintings_use_both_names_of_each_kind():
    names: dict[str, set[str]] = defaultdict(set)
    for layers in _designs(range(40)):
        for layer in layers:
            names[layer.kind].add(layer.label)
    assert names["mountains"] == {"mountains", "distant mountains"}
    assert names["water"] == {"water", "lake"}
    assert names["grass"] == {"grass", "meadow"}


def test_names_never_change_pixels(monkeypatch: pytest.MonkeyPatch):
    """Flip every name-deciding threshold: names change, regions, colours and strokes stay bit-identical."""
    seeds = range(8)
    before = _designs(seeds)
    monkeypatch.setattr(landscape, "DISTANT_HAZE", -1.0)
    monkeypatch.setattr(landscape, "LAKE_DEPTH", 2.0)
    monkeypatch.setattr(landscape, "MEADOW_LIGHT", 101.0)
    after = _designs(seeds)
    renamed = 0
    for old_layers, new_layers in zip(before, after, strict=True):
        for old, new in zip(old_layers, new_layers, strict=True):
            renamed += old.label != new.label
            assert old.kind == new.kind
            for a, b in ((old.region, new.region), (old.target, new.target)):
                assert (a is None and b is None) or np.array_equal(a, b)
            assert (old.strokes or []) == (new.strokes or [])  # frozen dataclasses compare by value
    assert renamed >= 3
