"""The benchmark command: one external sequence or the baselines against one painting of the released layout."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from evaluation.baselines import BASELINES
from evaluation.cli import add_benchmark_parser
from training.data.images import write_image

KEYS = {"distance_colour_structure", "iou", "ddc", "dts", "fid", "distance_backend", "fid_backend", "fid_reason"}


def frames() -> list[np.ndarray]:
    out = []
    for k in range(1, 4):
        image = np.full((48, 64, 3), 255, np.uint8)
        image[: 16 * k] = (40 * k, 100, 200 - 40 * k)  # a band painted downwards, one third per keyframe
        out.append(image)
    return out


@pytest.fixture
def gt_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rgb" / "painting"
    folder.mkdir(parents=True)
    for name, image in zip(("1_0:20", "2_0:40", "3_1:00"), frames(), strict=True):
        write_image(folder / f"{name}.png", image)
    return folder


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="inverse-painting")
    add_benchmark_parser(parser.add_subparsers())
    args = parser.parse_args(["benchmark", *argv])
    code = args.func(args)
    out = capsys.readouterr()
    return code, out.out, out.err


COMMON = ["--distance", "colour-structure", "--fid-weights", "none"]


def test_identical_sequence_scores_perfectly_as_json(gt_dir, tmp_path, capsys):
    gen = tmp_path / "generated"
    gen.mkdir()
    for k, image in enumerate(frames(), start=1):
        write_image(gen / f"{k}.png", image)
    code, out, _ = run(["--gt", str(gt_dir), "--frames", str(gen), "--dt", "20", "--json", *COMMON], capsys)
    assert code == 0
    result = json.loads(out)
    assert set(result) >= KEYS
    assert (result["distance_colour_structure"], result["iou"], result["ddc"], result["dts"]) == (0.0, 1.0, 0.0, 0.0)
    assert "lpips" not in result and "distance" not in result  # the number goes by its backend, never as LPIPS
    assert result["distance_backend"] == "colour-structure-v1"
    assert result["fid"] is None and "disabled" in result["fid_reason"]
    code, out, _ = run(["--gt", str(gt_dir), "--frames", str(gen), "--dt", "30", "--json", *COMMON], capsys)
    assert json.loads(out)["dts"] == pytest.approx(0.5)  # 90 s instead of 60 s


def test_baselines_table_and_json(gt_dir, capsys):
    code, out, _ = run(["--gt", str(gt_dir), "--baselines", "--dt", "20", "--steps", "3", "--json", *COMMON], capsys)
    assert code == 0
    result = json.loads(out)
    assert result["painting"] == "painting" and result["baseline_steps"] == 3
    assert [m["method"] for m in result["methods"]] == list(BASELINES)
    for m in result["methods"]:
        assert set(m) >= KEYS and m["n_generated"] == 3 and m["dts"] == 0.0
        assert 0 <= m["iou"] <= 1 and m["distance_colour_structure"] >= 0 and "lpips" not in m
    code, out, _ = run(["--gt", str(gt_dir), "--baselines", "--duration", "100", *COMMON], capsys)
    assert code == 0 and "segment-reveal" in out and "colour-structure-v1" in out and "FID: unavailable" in out
    assert "baselines: K = 5 steps = 100 s / Δt 20 s" in out
    header = out.splitlines()[1].split()  # after the painting line
    assert header[:2] == ["method", "D"] and "lpips" not in header  # a colour-structure distance is not LPIPS


def test_baselines_take_the_papers_training_duration_never_the_ground_truths(gt_dir, tmp_path, capsys):
    longer = tmp_path / "rgb" / "longer"
    longer.mkdir(parents=True)
    for name, image in zip(("1_1:00", "2_3:00", "3_9:00"), frames(), strict=True):  # 9 minutes instead of 1
        write_image(longer / f"{name}.png", image)
    generated = []
    for folder in (gt_dir, longer):
        code, out, _ = run(["--gt", str(folder), "--baselines", "--json", *COMMON], capsys)
        assert code == 0
        result = json.loads(out)
        assert "561" in result["steps_from"]  # the paper's mean training video duration, over Δt = 20 s
        generated.append({m["n_generated"] for m in result["methods"]})
    assert generated == [{28}, {28}]
    code, _, err = run(["--gt", str(gt_dir), "--frames", str(gt_dir), "--dt", "20", "--steps", "3", *COMMON], capsys)
    assert code == 2 and "--steps" in err
    with pytest.raises(SystemExit):
        run(["--gt", str(gt_dir), "--baselines", "--steps", "3", "--duration", "100"], capsys)
    with pytest.raises(SystemExit):
        run(["--gt", str(gt_dir), "--baselines", "--steps", "0"], capsys)


def test_bad_input_exits_2_naming_the_path(gt_dir, tmp_path, capsys):
    missing = tmp_path / "missing"
    code, _, err = run(["--gt", str(missing), "--baselines", *COMMON], capsys)
    assert code == 2 and str(missing) in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(["--gt", str(gt_dir), "--frames", str(empty), "--dt", "20", *COMMON], capsys)
    assert code == 2 and str(empty) in err and "no frames" in err
    code, _, err = run(["--gt", str(gt_dir), "--frames", str(empty), *COMMON], capsys)
    assert code == 2 and "--dt" in err
    bad = tmp_path / "badnames"
    bad.mkdir()
    write_image(bad / "final.png", frames()[0])
    code, _, err = run(["--gt", str(bad), "--baselines", *COMMON], capsys)
    assert code == 2 and str(bad) in err and "<index>_<m:ss>" in err
    with pytest.raises(SystemExit):
        run(["--gt", str(gt_dir), "--baselines", "--dt", "-1"], capsys)


def test_ground_truth_loader_times_white_start_and_resolution(gt_dir, tmp_path):
    from evaluation.sequences import load_ground_truth

    gt = load_ground_truth(gt_dir, long_side=32)
    assert gt.times_s == [0.0, 20.0, 40.0, 60.0] and gt.implied_start
    assert gt.size == (32, 24) and (gt.frames[0] == 255).all() and len(gt.recorded()) == 3
    assert load_ground_truth(gt_dir, long_side=None).size == (64, 48)  # never enlarged, cap only
    started = tmp_path / "started"
    started.mkdir()
    for name, image in zip(("1_0:00", "2_0:30"), frames(), strict=False):
        write_image(started / f"{name}.png", image)
    seq = load_ground_truth(started)
    # a keyframe at 0:00 is the start canvas itself: no white frame is added before it
    assert seq.times_s == [0.0, 30.0] and not seq.implied_start and len(seq.recorded()) == 2
