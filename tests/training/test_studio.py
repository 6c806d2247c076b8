"""Tests of the synthetic studio: determinism, and that the ground truth matches the pixels."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from training.data.studio import (
    BASE_KIND,
    KIND_RANK,
    Studio,
    StudioConfig,
    SyntheticVideo,
    generate_studio,
    generate_video,
    studio_video_ids,
)

CFG = StudioConfig(duration_s=8.0, size=(320, 240), fps=10, canvas_long_side=256)
SEED = 20240611


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[SyntheticVideo]]:
    out = tmp_path_factory.mktemp("studio")
    return out, generate_studio(out, 2, SEED, CFG)


@pytest.fixture(scope="module")
def video(generated: tuple[Path, list[SyntheticVideo]]) -> SyntheticVideo:
    return generated[1][0]


@pytest.fixture(scope="module")
def truth(video: SyntheticVideo) -> dict:
    return json.loads(video.truth_path.read_text())


@pytest.fixture(scope="module")
def studio(video: SyntheticVideo, truth: dict) -> Studio:
    return Studio(video.video_id, truth["seed"], CFG)


def _quad_mask(corners: list | np.ndarray, size: tuple[int, int], grow: int = 0) -> np.ndarray:
    """Pixels inside the canvas quad, grown (grow > 0) or shrunk (grow < 0) by ``|grow|`` pixels."""
    m = np.zeros((size[1], size[0]), np.uint8)
    cv2.fillPoly(m, [np.round(np.asarray(corners) * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    if grow:
        k = np.ones((2 * abs(grow) + 1, 2 * abs(grow) + 1), np.uint8)
        m = cv2.dilate(m, k) if grow > 0 else cv2.erode(m, k)
    return m.astype(bool)


def _rectify(frame: np.ndarray, corners: list | np.ndarray, canvas_size: tuple[int, int]) -> np.ndarray:
    w, h = canvas_size
    dst = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]], np.float32)
    m = cv2.getPerspectiveTransform(np.asarray(corners, np.float32), dst)
    return cv2.warpPerspective(frame, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _gain_matched_error(a: np.ndarray, b: np.ndarray, border: int = 6) -> float:
    """Mean abs error of ``a`` vs ``b`` after a per-channel gain (exposure, white balance, studio light)."""
    a = a[border:-border, border:-border].astype(np.float64)
    b = b[border:-border, border:-border].astype(np.float64)
    gain = (a * b).sum(axis=(0, 1)) / np.maximum((b * b).sum(axis=(0, 1)), 1)
    return float(np.abs(a - b * gain).mean())


# ----------------------------------------------------------------------------- files and determinism


def test_files_are_complete_and_atomic(generated: tuple[Path, list[SyntheticVideo]], truth: dict) -> None:
    out, videos = generated
    assert [v.video_id for v in videos] == studio_video_ids(2, SEED)
    for v in videos:
        assert v.video_path.stat().st_size > 10_000
        assert v.final_path.is_file() and v.truth_path.is_file() and v.masks_dir.is_dir()
    assert not [p for p in out.rglob("*") if "tmp" in p.name], "temporary files left behind"
    assert truth["generator"] == "inverse-painting synthetic studio v2"
    assert truth["size"] == [320, 240] and truth["fps"] == 10
    assert len(truth["frames"]) == CFG.n_frames == 80
    final = cv2.imread(str(out / truth["final"]))
    assert final.shape[:2][::-1] == tuple(truth["canvas_size"]) and max(truth["canvas_size"]) == 256
    for layer in truth["layers"]:
        assert (out / layer["mask"]).is_file()


def test_per_video_seeds_come_from_seed_sequence(truth: dict) -> None:
    expected = int(np.random.SeedSequence(SEED).spawn(2)[0].generate_state(1)[0])
    assert truth["seed"] == expected


def test_same_seed_gives_identical_outputs(tmp_path: Path, video: SyntheticVideo, truth: dict) -> None:
    again = generate_video(tmp_path, video.video_id, truth["seed"], CFG)
    assert again.truth_path.read_bytes() == video.truth_path.read_bytes()
    assert again.final_path.read_bytes() == video.final_path.read_bytes()
    masks = sorted(p.name for p in video.masks_dir.iterdir())
    assert masks == sorted(p.name for p in again.masks_dir.iterdir())
    for name in masks:
        assert (again.masks_dir / name).read_bytes() == (video.masks_dir / name).read_bytes()
    assert again.video_path.read_bytes() == video.video_path.read_bytes()


def test_render_is_deterministic_in_any_order(studio: Studio, truth: dict) -> None:
    fresh = Studio(studio.video_id, truth["seed"], CFG)
    late, early = studio.n_frames - 3, 20
    a_late, a_early = studio.render(late), studio.render(early)  # backwards: restores a checkpoint
    assert np.array_equal(fresh.render(early), a_early)
    assert np.array_equal(fresh.render(late), a_late)
    assert np.array_equal(fresh.canvas_at(40), studio.canvas_at(40))


def test_different_seeds_differ(generated: tuple[Path, list[SyntheticVideo]], truth: dict) -> None:
    other = json.loads(generated[1][1].truth_path.read_text())
    assert other["seed"] != truth["seed"]
    assert other["frames"][0]["corners"] != truth["frames"][0]["corners"]
    a = Studio("a", 1, CFG)
    b = Studio("a", 2, CFG)
    assert not np.array_equal(a.final(), b.final()) and not np.array_equal(a.render(0), b.render(0))


# ----------------------------------------------------------------------------- geometry


def test_corners_bound_the_painted_canvas(studio: Studio, truth: dict) -> None:
    i = studio.n_frames - 2
    corners = np.asarray(truth["frames"][i]["corners"])
    frame = studio.render(i, occluders=False)
    canvas = studio.canvas_at(i)
    err = _gain_matched_error(_rectify(frame, corners, studio.canvas_size), canvas)
    assert err < 6.0
    center = corners.mean(axis=0)
    outward = (corners - center) / np.linalg.norm(corners - center, axis=1, keepdims=True)
    shifts = (np.array([3.0, 0.0]), np.array([0.0, 3.0]), 4 * outward, -4 * outward)
    for wrong in (corners + shift for shift in shifts):
        assert _gain_matched_error(_rectify(frame, wrong, studio.canvas_size), canvas) > 1.5 * err

    plate = studio.render(i, canvas=False)
    outside = ~_quad_mask(corners, studio.size, 2)
    inside = _quad_mask(corners, studio.size, -2)
    assert np.array_equal(frame[outside], plate[outside]), "the canvas leaks outside its quad"
    assert (np.abs(frame.astype(int) - plate).max(axis=2)[inside] > 0).mean() > 0.9


def test_canvas_placement_has_perspective() -> None:
    for seed in range(6):
        s = Studio("p", seed, StudioConfig(duration_s=2, size=(320, 240), fps=5, canvas_long_side=128))
        c = s.corners(0)
        x, y = c[:, 0], c[:, 1]
        area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / (320 * 240)
        assert 0.3 <= area <= 0.72
        assert (c >= 0).all() and (c[:, 0] <= 320).all() and (c[:, 1] <= 240).all()
        top, bottom = np.linalg.norm(c[1] - c[0]), np.linalg.norm(c[2] - c[3])
        left, right = np.linalg.norm(c[3] - c[0]), np.linalg.norm(c[2] - c[1])
        assert max(abs(top - bottom) / top, abs(left - right) / left) > 0.02, "no perspective skew"
        assert c[0, 0] < c[1, 0] and c[0, 1] < c[3, 1], "corners not in TL, TR, BR, BL order"


def test_camera_drifts_slowly(truth: dict) -> None:
    corners = np.array([f["corners"] for f in truth["frames"]])
    step = np.abs(np.diff(corners, axis=0)).max()
    assert step < 2.0, "camera jumps between frames"
    assert np.abs(corners - corners[0]).max() < 20


# ----------------------------------------------------------------------------- hand / occlusion


def test_occlusion_flags_match_pixels(studio: Studio, truth: dict) -> None:
    for i, f in enumerate(truth["frames"]):
        diff = np.abs(studio.render(i).astype(int) - studio.render(i, occluders=False)).max(axis=2) > 0
        if f["occluded"]:
            assert diff[_quad_mask(f["corners"], studio.size, 2)].any(), f"frame {i}: flagged but no hand on canvas"
        else:
            assert not diff[_quad_mask(f["corners"], studio.size, -2)].any(), f"frame {i}: hand on canvas not flagged"


def test_hand_fraction_and_episodes(truth: dict) -> None:
    flags = np.array([f["occluded"] for f in truth["frames"]])
    assert 0.15 <= flags.mean() <= 0.40
    starts = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(int)])) == 1)
    assert 1 <= len(starts) <= len(flags) // 8, "hand flickers instead of contiguous episodes"


def test_hand_is_near_current_strokes() -> None:
    s = Studio("h", 5, StudioConfig(duration_s=20, size=(320, 240), fps=10, canvas_long_side=256))
    dists = []
    for i in np.flatnonzero(s.occluded):
        tip, stroke = s.hand_tip(i), s.last_stroke_xy(i)
        layer = s.layer_at(i)
        if tip is None or stroke is None or layer is None:
            continue
        p = cv2.perspectiveTransform(np.array([[stroke]], np.float64), s.canvas_to_image(i))[0, 0]
        dists.append(np.hypot(*(np.asarray(tip) - p)))
    diag = np.hypot(*(s.corners(0)[2] - s.corners(0)[0]))
    assert len(dists) > 10 and np.median(dists) < 0.2 * diag


def test_mp4_matches_rendered_frames(studio: Studio, video: SyntheticVideo) -> None:
    with av.open(str(video.video_path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.codec_context.width, stream.codec_context.height) == (320, 240)
        assert stream.average_rate == 10
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(frames) == studio.n_frames
    for i in range(0, studio.n_frames, 7):
        mse = np.mean((frames[i].astype(np.float64) - studio.render(i)) ** 2)
        assert 10 * np.log10(255**2 / max(mse, 1e-9)) > 28, f"frame {i}"


# ----------------------------------------------------------------------------- layers and timeline


def test_layers_are_painted_back_to_front(truth: dict) -> None:
    layers = truth["layers"]
    assert len(layers) >= 6 and layers[0]["kind"] == "sky"
    assert [la["start_ms"] for la in layers] == sorted(la["start_ms"] for la in layers)
    assert all(a["end_ms"] <= b["start_ms"] for a, b in itertools.pairwise(layers))
    ranks = [KIND_RANK[la["kind"]] for la in layers]
    assert ranks == sorted(ranks)
    kinds = [la["kind"] for la in layers]
    for k, kind in enumerate(kinds):
        if kind in BASE_KIND:
            assert BASE_KIND[kind] in kinds[:k], f"{kind} painted before its base layer"
    for la in layers:
        assert la["label"] == la["label"].lower() and 1 <= len(la["label"].split()) <= 2
    assert layers[0]["start_ms"] == truth["painting_start_ms"]
    assert layers[-1]["end_ms"] == truth["painting_end_ms"]


def test_many_layer_kinds_across_videos() -> None:
    kinds: set[str] = set()
    for seed in range(10):
        s = Studio("k", seed, StudioConfig(duration_s=2, size=(160, 120), fps=5, canvas_long_side=96))
        assert len(s.layers) >= 6
        kinds |= {la.kind for la in s.layers}
    assert len(kinds) >= 8


def test_masks_and_layering(generated: tuple[Path, list[SyntheticVideo]], studio: Studio, truth: dict) -> None:
    out = generated[0]
    masks = [cv2.imread(str(out / la["mask"]), cv2.IMREAD_GRAYSCALE) > 0 for la in truth["layers"]]
    assert all(m.sum() > 5 for m in masks), "empty layer mask"
    assert all(np.array_equal(m, s > 0) for m, s in zip(masks, studio.layer_masks(), strict=True))
    final = cv2.cvtColor(cv2.imread(str(out / truth["final"])), cv2.COLOR_BGR2RGB)
    assert np.array_equal(final, studio.final())
    overlaps = sum(bool((masks[j] & masks[k]).any()) for k in range(len(masks)) for j in range(k))
    assert overlaps > 0, "later layers never paint over earlier ones"
    for k, mask in enumerate(masks):
        later = np.any(masks[k + 1 :], axis=0) if k + 1 < len(masks) else np.zeros_like(mask)
        own = mask & ~later
        if own.sum() > 30:  # where no later layer painted, the final shows this layer's paint
            err = np.abs(final.astype(int) - studio.canvas_after_layer(k))[own].mean()
            assert err < 4.0, f"layer {k}"
        before = studio.canvas_after_layer(k - 1) if k else studio.canvas_at(0)
        changed = np.abs(studio.canvas_after_layer(k).astype(int) - before).max(axis=2) > 10
        assert np.array_equal(changed, mask)


def test_frame_layers_follow_time_spans(studio: Studio, truth: dict) -> None:
    spans = [(la["start_ms"], la["end_ms"], la["kind"]) for la in truth["layers"]]
    for f in truth["frames"]:
        inside = [kind for start, end, kind in spans if start <= f["t_ms"] <= end]
        assert f["layer"] == (inside[0] if inside else None)
    duration = CFG.duration_s * 1000
    assert 0.025 * duration <= truth["painting_start_ms"] <= 0.085 * duration
    assert 0.895 * duration <= truth["painting_end_ms"] <= 0.955 * duration
    assert any(f["layer"] is None for f in truth["frames"] if f["t_ms"] > truth["painting_end_ms"])


def test_canvas_is_blank_before_painting(studio: Studio, truth: dict) -> None:
    blank = [i for i, f in enumerate(truth["frames"]) if f["t_ms"] < truth["painting_start_ms"]]
    assert blank
    for i in blank:
        canvas = studio.canvas_at(i)
        assert np.array_equal(canvas, studio.canvas_at(0))
        assert canvas.mean() > 215 and np.ptp(canvas.mean(axis=(0, 1))) < 15
        seen = _rectify(studio.render(i, occluders=False), truth["frames"][i]["corners"], studio.canvas_size)
        assert seen[8:-8, 8:-8].mean() > 170
    assert not np.array_equal(studio.canvas_at(studio.n_frames - 1), studio.canvas_at(0))


def test_strokes_progress_locally() -> None:
    s = Studio("l", 3, StudioConfig(duration_s=40, size=(320, 240), fps=25, canvas_long_side=256))
    fractions, inside = [], []
    masks = s.layer_masks()
    for i in range(0, s.n_frames - 5, 5):
        layer = s.layer_at(i)
        if layer is None or s.layer_at(i + 5) is not layer:
            continue
        changed = np.abs(s.canvas_at(i + 5).astype(int) - s.canvas_at(i)).max(axis=2) > 10
        fractions.append(changed.mean())
        if changed.sum() > 20:
            inside.append((changed & (masks[layer.index] > 0)).sum() / changed.sum())
    assert len(fractions) > 60
    assert np.median(fractions) < 0.03, "five frames should only change a small part of the canvas"
    assert np.median(inside) > 0.95


def test_a_paced_painter_takes_longer_over_a_busier_painting(tmp_path: Path) -> None:
    config = StudioConfig(size=(96, 72), fps=2, canvas_long_side=64, strokes_per_s=40.0)
    lasted = {}
    for seed in (3, 4):
        video = generate_video(tmp_path, f"paced-{seed}", seed, config)
        truth = json.loads(video.truth_path.read_text())
        strokes = sum(layer["strokes"] for layer in truth["layers"])
        lasted[strokes] = truth["n_frames"] / config.fps
        assert lasted[strokes] == pytest.approx(strokes / 40.0, abs=0.6)  # its strokes at the pace, to a frame
    assert len(lasted) == 2  # two paintings of different sizes: two durations
    assert StudioConfig(duration_s=60.0).paced(5000).duration_s == 60.0  # no pace: the set duration
    with pytest.raises(ValueError, match="positive"):
        StudioConfig(strokes_per_s=0.0).paced(10)


TIMELAPSE = StudioConfig(duration_s=30.0, size=(160, 120), fps=5, canvas_long_side=96, style="timelapse")


def test_timelapse_shows_captures_that_cross_fade_and_holds_the_finished_painting() -> None:
    studio = Studio("tl", 7, TIMELAPSE)
    captures = studio.captures
    assert len(captures) >= 2 and [c for _, c in captures] == sorted({c for _, c in captures})  # each adds paint
    assert captures[-1][1] == len(studio.paint.strokes)  # the last capture shows the finished painting
    fade = studio.fade_ms
    for t_capture, count in captures:
        # fully shown once faded in, until the next capture: many strokes appear at once, not stroke by stroke
        shown = next(i for i in range(studio.n_frames) if studio.frame_ms(i) >= t_capture + fade)
        assert np.array_equal(studio.canvas_at(shown), studio.paint.at(count))
    middle = next(i for i in range(studio.n_frames) if 0 < studio.visible_counts(i)[2] < 1)
    before, after, alpha = studio.visible_counts(middle)
    mix = (1 - alpha) * studio.paint.at(before).astype(float) + alpha * studio.paint.at(after).astype(float)
    assert np.abs(studio.canvas_at(middle).astype(float) - mix).max() <= 1.0  # a cross-fade of the two captures
    tail_s = (studio.n_frames / TIMELAPSE.fps) - (captures[-1][0] + fade) / 1000
    assert tail_s >= 0.08 * TIMELAPSE.duration_s  # the finished painting stays in view for the last seconds
    truth = studio.truth()
    assert truth["style"] == "timelapse" and len(truth["stages"]) == len(captures)
    assert truth["stages"][-1]["shown_ms"] == captures[-1][0] + fade
    # the stroke style is unchanged by the new option: same painting, canvas as it is at each frame
    strokes = Studio("tl", 7, replace(TIMELAPSE, style="strokes"))
    assert strokes.captures == [] and len(strokes.paint.strokes) == len(studio.paint.strokes)
    with pytest.raises(ValueError, match="style"):
        StudioConfig(style="oil")  # type: ignore[arg-type]


def test_given_stages_are_filmed_in_order_as_a_timelapse(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    stages = []
    image = np.full((60, 80, 3), 235, np.uint8)
    for k in range(4):  # a painting in progress: a new band per stage, as photographs of it would show
        image = image.copy()
        image[15 * k : 15 * (k + 1)] = rng.integers(0, 200, 3)
        stages.append(image)
    config = replace(TIMELAPSE, hand_fraction=(0.1, 0.2))
    video = generate_video(tmp_path, "photos", 3, config, stages=stages)
    truth = json.loads(video.truth_path.read_text())
    assert [s["strokes"] for s in truth["stages"]] == [1, 2, 3, 4]
    assert [layer["label"] for layer in truth["layers"]] == ["stage 1", "stage 2", "stage 3", "stage 4"]
    studio = Studio("photos", 3, config, stages)
    assert studio.canvas_size == (96, 72)  # the stages' aspect at the canvas long side
    final = cv2.resize(stages[-1], (96, 72), interpolation=cv2.INTER_AREA)
    assert np.array_equal(studio.final(), final) and np.array_equal(studio.canvas_at(studio.n_frames - 1), final)
    assert studio.canvas_at(0).mean() > 200  # a blank canvas first
    with pytest.raises(ValueError, match="at least one image"):
        Studio("none", 1, config, stages=[])
