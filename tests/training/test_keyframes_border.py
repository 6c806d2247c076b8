"""The arm test: a hand barely on the canvas is seen by the arm that crosses the canvas border.

Each frame is a small studio scene (a textured wall, a canvas on it), rectified twice through the pipeline's
own geometry: the canvas (``rectify``) and the canvas with its surround (``rectify_surround``).
"""

from collections.abc import Sequence

import cv2
import numpy as np
import pytest

from training.data.canvas.geometry import enlarge_quad, rectify, rectify_surround
from training.data.keyframes import KeyframeConfig, Surrounds, detect_occluders_temporal, select_keyframes
from training.data.keyframes.border import border_verdicts

FRAME = (320, 240)  # world image (width, height)
CANVAS = (120, 90)  # rectified canvas size
X0, Y0 = 100, 60  # canvas top-left corner in the world image
CORNERS = np.array([[X0, Y0], [X0 + 120, Y0], [X0 + 120, Y0 + 90], [X0, Y0 + 90]], np.float32)
MARGIN = 0.2
AROUND = (144, 108)  # surround size: the canvas scaled by 1 + 2 * MARGIN
SKIN, SLEEVE, BRUSH = (224, 172, 138), (40, 48, 70), (180, 30, 30)
EVERY = KeyframeConfig(min_interval_s=0.0, min_change=0.01)


def wall(seed: int) -> np.ndarray:
    """A textured wall (the same in every frame) with a little sensor noise that changes per frame."""
    texture = cv2.resize(np.random.default_rng(7).uniform(90, 170, (24, 32, 3)), FRAME, interpolation=cv2.INTER_CUBIC)
    noise = np.random.default_rng(seed).normal(0, 1.5, texture.shape)
    return np.clip(texture + noise, 0, 255).astype(np.uint8)


def scene(frame: int, blocks: int, arm_to: int | None = None, jar: bool = False) -> np.ndarray:
    """The world image: ``blocks`` paint blocks on the canvas; an arm from the bottom of the frame up to row
    ``arm_to``, or up to the canvas's bottom edge (Y0 + 90) with the brush tip going on to ``arm_to``; a jar
    beside the canvas."""
    image = wall(frame)
    image[Y0 : Y0 + 90, X0 : X0 + 120] = 200
    for k in range(blocks):
        x, y = X0 + 8 + 18 * k, Y0 + 6 + 12 * k
        image[y : y + 18, x : x + 18] = (40 + 40 * k, 90, 160 - 20 * k)
    if arm_to is not None:
        hand = max(arm_to, Y0 + 90)
        cv2.rectangle(image, (X0 + 60, hand), (X0 + 72, FRAME[1]), SKIN, -1)
        cv2.rectangle(image, (X0 + 56, hand + 14), (X0 + 76, FRAME[1]), SLEEVE, -1)
        image[arm_to:hand, X0 + 65 : X0 + 68] = BRUSH
    if jar:
        cv2.rectangle(image, (X0 + 124, Y0 + 50), (X0 + 140, Y0 + 90), (60, 120, 70), -1)
    return image


def clip(
    arm_at: dict[int, int] | None = None, jar_from: int | None = None
) -> tuple[list[tuple[int, np.ndarray]], Surrounds]:
    """12 frames a second apart; a new block at each of frames 2-6; ``arm_at`` maps frame -> arm_to."""
    arm_at = arm_at or {}
    counts = [0, 0, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5]
    worlds = [scene(i, c, arm_at.get(i), jar=jar_from is not None and i >= jar_from) for i, c in enumerate(counts)]
    frames = [(1000 * (i + 1), rectify(w, CORNERS, CANVAS)) for i, w in enumerate(worlds)]
    return frames, Surrounds([rectify_surround(w, CORNERS, AROUND, MARGIN) for w in worlds], MARGIN)


def arms(surrounds: Surrounds) -> list[tuple[bool, str]]:
    """The arm test on a clip (frames a second apart, three on each side)."""
    return border_verdicts(surrounds, [1000 * (i + 1) for i in range(len(surrounds.images))], 3, EVERY)


def test_the_surround_shows_the_canvas_in_its_middle():
    world = scene(0, 2)
    around = rectify_surround(world, CORNERS, AROUND, MARGIN)
    assert np.allclose(enlarge_quad(CORNERS, MARGIN)[0], [X0 - 24, Y0 - 18])
    middle = around[18:90, 24:120]  # MARGIN / (1 + 2 MARGIN) of each side
    canvas = cv2.resize(rectify(world, CORNERS, CANVAS), (96, 72), interpolation=cv2.INTER_AREA)
    assert np.abs(middle.astype(int) - canvas).mean() < 4


def test_a_fingertip_too_small_for_the_canvas_test_is_seen_by_its_arm_and_the_frame_is_not_kept():
    frames, surrounds = clip({4: Y0 + 89})  # at frame 4, where a block is new, the brush tip is 1 px on the canvas
    canvas_only = detect_occluders_temporal(frames, EVERY)
    assert not canvas_only[4][0]  # the case this test exists for: a brush tip is too small a change on the canvas
    without = select_keyframes(frames, EVERY)
    assert without.backend == "temporal"
    assert without.decisions[4].kept  # so the canvas test alone keeps it, brush tip and all

    selection = select_keyframes(frames, EVERY, surrounds=surrounds)
    assert selection.backend == "temporal+border"
    assert selection.decisions[4].reason == "occluded"
    assert "arm crosses the canvas border" in selection.decisions[4].detail
    assert "bottom edge" in selection.decisions[4].detail
    assert selection.decisions[5].kept  # its paint comes with the next keyframe
    others = [i for i in range(len(frames)) if i != 4]
    assert [selection.decisions[i].kept for i in others] == [without.decisions[i].kept for i in others]


def test_an_arm_beside_the_canvas_that_does_not_reach_it_is_no_occluder():
    frames, surrounds = clip({4: Y0 + 90 + 9})  # stops 9 px short of the canvas edge
    verdicts = arms(surrounds)
    assert not any(flag for flag, _ in verdicts)
    assert select_keyframes(frames, EVERY, surrounds=surrounds).decisions[4].kept


def test_something_set_down_beside_the_canvas_that_stays_is_no_occluder():
    _, surrounds = clip(jar_from=5)  # a jar against the right edge from frame 5 on
    assert not any(flag for flag, _ in arms(surrounds))


def test_an_arm_resting_over_several_frames_is_seen_in_each_but_not_around_it():
    _, surrounds = clip({5: Y0 + 60, 6: Y0 + 60})  # two frames: a minority of each window
    flags = [flag for flag, _ in arms(surrounds)]
    assert flags == [i in (5, 6) for i in range(12)]


class CountingImages(Sequence):
    def __init__(self, images: list[np.ndarray | None]) -> None:
        self.images, self.reads = images, 0

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index):  # type: ignore[override]
        self.reads += 1
        return self.images[index]


def test_surrounds_are_read_once_frames_without_canvas_are_skipped_and_the_answer_is_the_same():
    _, surrounds = clip({6: Y0 + 89})
    images = list(surrounds.images)
    images[2] = None  # a frame where no canvas was found
    lazy = CountingImages(images)
    verdicts = arms(Surrounds(lazy, MARGIN))
    assert lazy.reads == len(images)
    assert verdicts == arms(Surrounds(images, MARGIN))
    assert verdicts[2] == (False, "no canvas") and verdicts[6][0]


def test_bad_surrounds_are_rejected_with_a_message_that_names_the_problem():
    frames, surrounds = clip()
    with pytest.raises(ValueError, match="margin"):
        Surrounds(surrounds.images, 0.0)
    with pytest.raises(ValueError, match="11 surrounds for 12 frames"):
        select_keyframes(frames, EVERY, surrounds=Surrounds(list(surrounds.images)[:11], MARGIN))
    mixed = list(surrounds.images)
    mixed[4] = cv2.resize(mixed[4], (100, 75))
    with pytest.raises(ValueError, match=r"frame 4 .* is 100x75"):
        arms(Surrounds(mixed, MARGIN))
