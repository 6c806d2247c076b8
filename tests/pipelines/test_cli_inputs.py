"""Bad inputs to `curate` / `import-official` and bad numbers to every command get one clear line, early.

Issue 18 items 2 (import-official over a curated video), 7 (non-ASCII file names), 10 (short, tiny videos,
folders), 11 (numeric options) and 13 (Dagster's stack traces burying the summary).
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

import cv2
import dagster as dg
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.cli import build_parser, main
from pipelines.curate import (
    IMPORTED,
    check_import_names,
    curate,
    expand_inputs,
    import_official,
    link_into_videos,
)
from tests.conftest import write_test_video
from training.argtypes import int_in_range, positive_float
from training.data.official_release import read_official_layout
from training.data.probe import MIN_SAMPLED_FRAMES, VideoError, check_sampled_frames, probe_video


@pytest.fixture
def isolated(monkeypatch):
    """The commands point os.environ at their instance and data root; monkeypatch puts both back."""
    monkeypatch.setenv("DAGSTER_HOME", "")  # recorded by monkeypatch, so the value a command sets is undone
    monkeypatch.setenv("INVERSE_PAINTING_DATA_ROOT", "")


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


# --- item 7: file names -------------------------------------------------------------------------------------


def test_every_file_gets_its_own_answer_and_none_stops_the_others(tmp_path: Path, monkeypatch):
    inputs = tmp_path / "in"
    accented, japanese, plain = touch(inputs / "ééé.mp4"), touch(inputs / "日本.mp4"), touch(inputs / "plain.mov")
    clash = touch(tmp_path / "other" / "plain.mp4")  # same id as plain.mov
    unlinkable = touch(inputs / "unlinkable.mp4")
    notes = touch(inputs / "notes.txt")
    real_symlink = os.symlink

    def symlink(source, target):
        if Path(source).name == "unlinkable.mp4":
            raise PermissionError(13, "Permission denied", str(target))
        real_symlink(source, target)

    monkeypatch.setattr(os, "symlink", symlink)
    files = [accented, japanese, unlinkable, notes, inputs, tmp_path / "gone.mp4", plain, clash, accented]
    ids, problems = link_into_videos(files, tmp_path / "videos")

    assert ids[0] == "eee" and ids[-1] == "plain"  # each id once, though ééé.mp4 was passed twice
    assert len(ids) == 3 and ids[1].startswith("video_")
    assert sorted(p.name for p in (tmp_path / "videos").iterdir()) == sorted(["ééé.mp4", "日本.mp4", "plain.mov"])
    assert "Permission denied" in problems[str(unlinkable)]
    assert "not a video extension" in problems[str(notes)]
    assert problems[str(inputs)] == f"is a folder; pass the video files (e.g. {inputs}/*.mp4)"
    assert problems[str(tmp_path / "gone.mp4")] == "no such file"
    assert "video id 'plain' is taken by" in problems[str(clash)] and "rename the file" in problems[str(clash)]


def test_a_folder_stands_for_the_video_files_directly_inside_it(tmp_path: Path):
    folder = tmp_path / "footage"
    wanted = [touch(folder / "a.mp4"), touch(folder / "b.MOV")]
    touch(folder / "a.truth.json")
    touch(folder / ".partial.mp4")
    touch(folder / "masks" / "c.mp4")  # sub-folders are not searched
    (tmp_path / "empty").mkdir()
    single = touch(tmp_path / "single.mkv")

    inputs = expand_inputs([folder, tmp_path / "empty", single])
    assert inputs.files == [*wanted, single]
    assert inputs.folders == {folder: 2, tmp_path / "empty": 0}
    assert list(inputs.problems) == [str(tmp_path / "empty")]
    assert f"pass the video files (e.g. {tmp_path / 'empty'}/*.mp4)" in inputs.problems[str(tmp_path / "empty")]


# --- item 10: videos too small or too short -------------------------------------------------------------------


def test_a_tiny_video_is_refused_by_the_probe_with_the_size_needed(tmp_path: Path):
    path = write_test_video(tmp_path / "tiny.mp4", seconds=2.0, size=(16, 16))
    with pytest.raises(VideoError, match=r"tiny\.mp4: the video is 16x16 pixels; curating needs at least 64"):
        probe_video(path)
    probe_video(write_test_video(tmp_path / "small.mp4", seconds=2.0, size=(64, 64)))  # the minimum is accepted


def test_a_video_of_a_few_frames_is_refused_by_the_probe(tmp_path: Path):
    path = write_test_video(tmp_path / "still.mp4", seconds=0.2, fps=10)  # 2 frames
    with pytest.raises(VideoError, match=r"still\.mp4: the video has 2 frame\(s\).*at least 4.*paint IMAGE"):
        probe_video(path)


def test_sampling_a_short_video_too_sparsely_names_the_file_and_the_interval_that_works(tmp_path: Path):
    path = write_test_video(tmp_path / "one_second.mp4", seconds=1.0, fps=25)
    probe_video(path)  # 25 frames: usable, if sampled often enough
    with pytest.raises(VideoError) as caught:
        check_sampled_frames(path, 1, 2.0)
    message = str(caught.value)
    assert message.startswith(f"{path}: sampling one frame every 2 s gives 1 frame(s) of this 1.0-s video")
    assert "Sample every 0.32 s or less (curate --sample-every" in message and "\n" not in message
    # 0.32 s really gives the frames needed: times 0, 0.32, 0.64, 0.96 all reach a frame of this video
    assert 3 * 0.32 <= 1.0 - 1 / 25
    with pytest.raises(VideoError, match="no frame could be sampled"):
        check_sampled_frames(path, 0, 2.0)
    check_sampled_frames(path, MIN_SAMPLED_FRAMES, 0.32)


# --- items 7, 10, 13 through the command: one batch, each file its own line, no stack traces ------------------


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """`inverse-painting curate FOLDER EMPTY_FOLDER` on a good video with a non-ASCII name, a tiny, a short
    and a corrupt one; Dagster's console output captured at the file-descriptor level."""
    work = tmp_path_factory.mktemp("batch")
    folder = work / "footage"
    write_test_video(folder / "ééé.mp4", seconds=4.0, fps=5)
    write_test_video(folder / "tiny.mp4", seconds=2.0, size=(16, 16))
    write_test_video(folder / "short.mp4", seconds=1.0, fps=25)  # one frame at --sample-every 1
    (folder / "broken.mp4").write_bytes(b"\x00" * 2000)
    (work / "empty").mkdir()
    data_root, home = work / "data", work / "home"
    argv = ["curate", str(folder), str(work / "empty"), "--data-root", str(data_root), "--dagster-home", str(home)]
    return {"argv": argv, "root": data_root, "home": home, "folder": folder, "work": work}


def test_curate_runs_the_good_video_and_prints_one_line_per_bad_input(batch, isolated, capfd):
    code = main([*batch["argv"], "--sample-every", "1"])
    out, err = capfd.readouterr()
    assert code == 1
    assert f"{batch['folder']}: a folder; curating the 4 video file(s) directly inside it" in out
    assert "source_video: 2 partitions materialized" in out  # ééé.mp4 and short.mp4
    assert "sampled_frames: 1 partitions materialized" in out  # ééé.mp4, as partition "eee"
    assert (batch["root"] / "sampled_frames" / "eee.parquet").is_file()
    failed = {line.split(": ", 1)[0]: line for line in out.splitlines() if line.startswith("FAILED ")}
    assert "tiny.mp4: the video is 16x16 pixels; curating needs at least 64" in failed["FAILED tiny/source_video"]
    assert "broken.mp4" in failed["FAILED broken/source_video"]
    # too short for the sampling: refused by sampled_frames, the step that knows the interval, with one that works
    assert "short.mp4: sampling one frame every 1 s gives 1 frame(s)" in failed["FAILED short/sampled_frames"]
    assert "Sample every 0.32 s or less" in failed["FAILED short/sampled_frames"]
    assert not (batch["root"] / "sampled_frames" / "short").exists()
    assert "pass the video files" in failed[f"FAILED {batch['work'] / 'empty'}/link"]
    assert all("\n" not in line and "Traceback" not in line for line in failed.values())
    # Dagster's console logger prints nothing (it printed ~9 KB of stack traces per bad video) ...
    assert "Stack Trace" not in err + out and "STEP_FAILURE" not in err and len(err) < 2000
    # ... and the summary says where the full logs are: the failed runs, kept complete in the instance.
    assert "Full logs and stack traces of the failed runs" in out and f"DAGSTER_HOME={batch['home']}" in out
    with dg.DagsterInstance.from_config(str(batch["home"])) as instance:
        runs = {run.tags["dagster/partition"]: run.run_id for run in instance.get_runs()}
        assert f"tiny: {runs['tiny']}" in out
        failures = [e for e in instance.all_logs(runs["tiny"]) if e.dagster_event and e.dagster_event.is_step_failure]
        assert "probe.py" in failures[0].dagster_event.step_failure_data.error.to_string()  # the stack trace


def test_verbose_shows_dagsters_logs_again(batch, isolated, capfd):
    data_root, home = batch["work"] / "verbose-data", batch["work"] / "verbose-home"
    tiny = str(batch["folder"] / "tiny.mp4")
    code = main(["curate", tiny, "--data-root", str(data_root), "--dagster-home", str(home), "--verbose"])
    _, err = capfd.readouterr()
    assert code == 1 and "STEP_FAILURE" in err and "16x16" in err


# --- item 11: numbers, refused while parsing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "option", "allowed"),
    [
        (["curate", "v.mp4", "--sample-every", "-1"], "--sample-every", "> 0"),
        (["curate", "v.mp4", "--sample-every", "0"], "--sample-every", "> 0"),
        (["curate", "v.mp4", "--sample-every", "nan"], "--sample-every", "> 0"),
        (["curate", "v.mp4", "--sample-every", "inf"], "--sample-every", "> 0"),
        (["curate", "v.mp4", "--keyframes-per-video", "0"], "--keyframes-per-video", ">= 1"),
        (["curate", "v.mp4", "--keyframes-per-video", "-1"], "--keyframes-per-video", ">= 1"),
        (["curate", "v.mp4", "--keyframes-per-video", "nan"], "--keyframes-per-video", ">= 1"),
        (["synth", "out", "--count", "0"], "--count", ">= 1"),
        (["synth", "out", "--duration", "nan"], "--duration", "> 0"),
        (["synth", "out", "--duration", "-5"], "--duration", "> 0"),
        (["synth", "out", "--pace", "inf"], "--pace", "> 0"),
        (["synth", "out", "--fps", "0"], "--fps", "from 1 to 120"),
        (["synth", "out", "--seed", "-1"], "--seed", ">= 0"),
        (["synth", "out", "--size", "8192x64"], "--size", "at most 4096"),
        (["demo", "--train-steps", "0"], "--train-steps", ">= 1"),
        (["demo", "--duration", "0"], "--duration", "> 0"),
        (["benchmark", "--sampler-steps", "0"], "--sampler-steps", ">= 1"),
        (["benchmark", "--gt", "g", "--baselines", "--dt", "nan"], "--dt", "> 0"),
        (["benchmark", "--gt", "g", "--baselines", "--duration", "inf"], "--duration", "> 0"),
        (["benchmark", "--gt", "g", "--baselines", "--steps", "0"], "--steps", ">= 1"),
        (["benchmark", "--gt", "g", "--baselines", "--long-side", "8"], "--long-side", ">= 16"),
        (["benchmark", "--gt", "g", "--baselines", "--seed", "-2"], "--seed", ">= 0"),
    ],
)
def test_bad_numbers_are_refused_while_parsing_naming_the_option_and_the_range(argv, option, allowed, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--data-root", str(tmp_path / "data")] if argv[0] != "synth" else argv)
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument {option}: " in error and allowed in error, error
    assert not (tmp_path / "data").exists()  # nothing was started


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_seconds_are_finite_and_positive_whatever_the_float(value: float):
    parse = positive_float()
    if math.isfinite(value) and value > 0:
        assert parse(repr(value)) == value
    else:
        with pytest.raises(argparse.ArgumentTypeError, match=r"> 0"):
            parse(repr(value))


@given(st.integers(-1000, 1000) | st.text(max_size=5))
def test_whole_numbers_in_range_whatever_the_text(value):
    parse = int_in_range(1, 120)
    text = str(value)
    try:
        number = int(text)
    except ValueError:
        number = None
    if number is not None and 1 <= number <= 120:
        assert parse(text) == number
    else:
        with pytest.raises(argparse.ArgumentTypeError, match="from 1 to 120"):
            parse(text)


def test_good_numbers_parse():
    args = build_parser().parse_args(["curate", "v.mp4", "--sample-every", "0.5", "--keyframes-per-video", "12"])
    assert (args.sample_every, args.keyframes_per_video) == (0.5, 12)


# --- item 2: import-official never replaces a curated video's keyframes -------------------------------------


def release(root: Path, name: str, seconds: list[int]) -> Path:
    """A sequence in the paper's released layout: rgb/<name>/<index>_<m:ss>.jpg + the order file."""
    folder = root / "rgb" / name
    folder.mkdir(parents=True)
    rng = np.random.default_rng(len(seconds))
    stems = [f"{index}_0:{second:02d}" for index, second in enumerate(seconds, start=1)]
    for k, stem in enumerate(stems):
        image = np.full((64, 96, 3), 255, np.uint8)
        image[:, : 12 * (k + 1)] = rng.integers(0, 255, 3)
        cv2.imwrite(str(folder / f"{stem}.jpg"), image)
    (folder / "last_aligned_frame_inv.json").write_text(json.dumps({stems[-1]: stems[:-1]}))
    return root


def test_import_official_refuses_the_name_of_a_curated_video_before_writing_anything(tmp_path, isolated, capsys):
    data_root = tmp_path / "data"
    touch(data_root / "videos" / "painting.mp4")
    layout = release(tmp_path / "release", "painting", [3, 7, 11])
    argv = ["import-official", str(layout), "--data-root", str(data_root), "--dagster-home", str(tmp_path / "h")]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0
    assert error.startswith(f"error: {layout / 'rgb' / 'painting'}: sequence 'painting' has the id of the curated ")
    assert f"video {data_root / 'videos' / 'painting.mp4'}" in error
    assert "Rename the folder (e.g. to painting-official) and import again." in error
    assert not (data_root / "keyframes").exists()


def test_a_partition_curated_from_a_video_that_is_gone_is_refused_too(tmp_path, instance):
    sequences = read_official_layout(release(tmp_path / "release", "gone", [3, 7]))
    instance.add_dynamic_partitions("videos", ["gone"])
    check_import_names(sequences, tmp_path / "videos", instance)  # never written: fine
    for backend, refused in ((IMPORTED, False), ("temporal+border", True)):
        event = dg.AssetMaterialization("keyframes", partition="gone", metadata={"occluder_backend": backend})
        instance.report_runless_asset_event(event)
        if refused:
            with pytest.raises(ValueError, match=r"partition 'gone' holds keyframes curated from a video"):
                check_import_names(sequences, tmp_path / "videos", instance)
        else:
            check_import_names(sequences, tmp_path / "videos", instance)


def test_reimporting_a_sequence_replaces_its_own_import_and_curate_keeps_off_it(tmp_path, isolated):
    data_root, home = tmp_path / "data", tmp_path / "home"
    first = release(tmp_path / "v1", "seq", [3, 7, 11, 15])
    assert not import_official(first, data_root, home).failures
    second = release(tmp_path / "v2", "seq", [4, 9, 13])
    report = import_official(second, data_root, home)
    assert not report.failures, report.failures
    assert [vid for vid, _ in report.outputs["frame_pairs"]] == ["seq"]
    assert json.loads((second / "rgb" / "seq" / "last_aligned_frame_inv.json").read_text())  # inputs untouched
    table = (data_root / "keyframes" / "seq.parquet").read_bytes()

    # a video named like the imported sequence would replace its keyframes: refused, nothing runs
    video = touch(tmp_path / "elsewhere" / "seq.mp4")
    report = curate([video], data_root, home)
    assert not report.runs
    assert "is the name of a sequence imported with import-official" in report.failures[f"{video}/link"]
    assert "Rename the file" in report.failures[f"{video}/link"]
    assert (data_root / "keyframes" / "seq.parquet").read_bytes() == table
    assert not (data_root / "videos" / "seq.mp4").exists()
