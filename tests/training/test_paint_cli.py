"""`inverse-painting paint`: what it may replace, how large it reads and writes, and one line for every bad input.

Every check here runs before a model is loaded (``--renderer`` names a folder that does not exist, so a
check that came too late would fail on the renderer instead), and none of them writes anything.
"""

from __future__ import annotations

import json
import os
import stat
import struct
import zlib
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.cli import main
from training.data.video_writer import write_mp4
from training.inference.cli import MARKER, check_out_folder, output_size, read_painting, write_outputs
from training.inference.paint import PaintConfig, PaintResult, PaintStep

_FIX = "choose an empty or new folder"


def _painting(height: int = 48, width: int = 80, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 255, np.uint8)
    image[: height // 2] = (40, 90, 200)
    image[height // 2 :] = rng.integers(0, 255, (height - height // 2, width, 3))
    return image


def _png(path: Path, image: np.ndarray | None = None) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(_painting() if image is None else image, cv2.COLOR_RGB2BGR))
    return path


def _png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that declares its size and holds no pixels: enough for a header read, fails any decode."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


def _paint(capsys, *args: str | Path, data_root: Path | None = None) -> tuple[int, list[str]]:
    """Run `paint` with a renderer folder that does not exist; the exit code and the lines on stderr."""
    capsys.readouterr()
    root = ["--data-root", str(data_root)] if data_root is not None else []
    code = main(["paint", *map(str, args), *root, "--renderer", "/nonexistent/renderer"])
    return code, capsys.readouterr().err.strip().splitlines()


def _tree(folder: Path) -> dict[str, tuple[bytes | None, int]]:
    """Every path under ``folder`` with its content (files) and mode: equal before and after means untouched."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None, p.stat().st_mode)
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """A data root as a user has it after a few runs: models, the MLflow store, videos, corrections."""
    root = tmp_path / "data"
    for name, content in {
        "mlflow.db": b"SQLite format 3\x00",
        "models/renderer/v1/model.safetensors": b"weights",
        "videos/my_painting.mp4": b"video",
        "label_corrections/history/0001.parquet": b"corrections",
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


# ------------------------------------------------------------------------------------------ --out
def test_out_refuses_a_folder_of_the_users_files_and_leaves_it_as_it_was(tmp_path: Path, data_root: Path, capsys):
    image = _png(tmp_path / "painting.png")
    mine = tmp_path / "holiday photos"
    (mine / "2019").mkdir(parents=True)
    (mine / "beach.jpg").write_bytes(b"precious")
    (mine / "2019" / "notes.txt").write_text("more")
    before = (mine.stat().st_mode, _tree(mine))
    code, err = _paint(capsys, image, "--out", mine, data_root=data_root)
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"error: --out {mine}: the folder is not empty and was not written by paint")
    assert err[0].endswith(_FIX)
    assert (mine.stat().st_mode, _tree(mine)) == before


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("data root", "is the data root"),
        ("above the data root", "contains the data root"),
        ("home", "is your home folder"),
        ("above home", "contains your home folder"),
        ("current folder", "is the current folder"),
        ("dot", "is the current folder"),
        ("filesystem root", "is the filesystem root"),
    ],
)
def test_out_is_never_the_data_root_home_cwd_or_filesystem_root_nor_a_folder_above_one(
    where: str, said: str, tmp_path: Path, data_root: Path, monkeypatch, capsys
):
    image = _png(tmp_path / "painting.png")
    home, work = tmp_path / "home" / "me", tmp_path / "work"
    home.mkdir(parents=True)
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    out = {
        "data root": data_root,
        "above the data root": tmp_path,
        "home": home,
        "above home": home.parent,
        "current folder": work,
        "dot": Path("."),
        "filesystem root": Path("/"),
    }[where]
    before = _tree(data_root)
    code, err = _paint(capsys, image, "--out", out, data_root=data_root)
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"error: --out {out}: {said}") and err[0].endswith(_FIX)
    assert _tree(data_root) == before


def test_the_default_data_root_is_protected_too(tmp_path: Path, monkeypatch, capsys):
    """Without --data-root the data root is $INVERSE_PAINTING_DATA_ROOT, else ./data: both are refused."""
    image = _png(tmp_path / "painting.png")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("INVERSE_PAINTING_DATA_ROOT", raising=False)
    code, err = _paint(capsys, image, "--out", "data")
    assert code == 2 and err[0].startswith("error: --out data: is the data root")
    monkeypatch.setenv("INVERSE_PAINTING_DATA_ROOT", str(tmp_path / "elsewhere"))
    code, err = _paint(capsys, image, "--out", tmp_path / "elsewhere")
    assert code == 2 and "is the data root" in err[0]


def test_out_refuses_a_file_and_a_sibling_it_would_delete(tmp_path: Path, capsys):
    image = _png(tmp_path / "painting.png")
    code, err = _paint(capsys, image, "--out", image)
    assert code == 2 and err == [f"error: --out {image}: is a file, not a folder; {_FIX}"]
    # replacing DIR moves it aside as .DIR.old, which storage.atomic_dir deletes: a user's .DIR.old is kept
    aside = tmp_path / ".result.old"
    aside.mkdir()
    (aside / "keep.txt").write_text("mine")
    code, err = _paint(capsys, image, "--out", tmp_path / "result")
    assert code == 2 and len(err) == 1 and str(aside) in err[0]
    assert (aside / "keep.txt").read_text() == "mine"


def test_checks_run_before_the_models_load_and_leave_nothing_behind(tmp_path: Path, capsys):
    image = _png(tmp_path / "painting.png")
    out = tmp_path / "new" / "result"
    code, err = _paint(capsys, image, "--out", out)
    # image and --out are fine: the run gets as far as the (missing) renderer, and has written nothing
    assert code == 2 and err == ["error: /nonexistent/renderer: no such model folder (a save_pretrained directory)"]
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["painting.png"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check_out_folder(empty) == empty.resolve()


def _result(steps: int, size: tuple[int, int] = (20, 12)) -> PaintResult:
    width, height = size
    result = PaintResult(stop_reason="max steps", start_distance=0.9, distance_name="test")
    for k in range(steps):
        image = np.full((height, width, 3), 60 * k, np.uint8)
        mask = np.zeros((height, width), bool)
        mask[: height // 2] = True
        result.steps.append(PaintStep(image, f"step {k}", mask, 0.2, 0.8 - 0.1 * k, 0.01))
    return result


def test_paint_marks_its_folder_replaces_it_on_a_rerun_and_writes_normal_permissions(tmp_path: Path):
    source = _png(tmp_path / "painting.png")
    out = tmp_path / "result"
    saved = os.umask(0o027)
    try:
        written = write_outputs(_result(3), (40, 24), out, source=source)
    finally:
        os.umask(saved)
    names = ["000.png", "001.png", "002.png", "003.png", "distance.png", "process.mp4", "steps.jpg"]
    assert [p.name for p in written] == names
    marker = json.loads((out / MARKER).read_text())
    assert marker["written_by"] == "inverse-painting paint" and marker["files"] == names
    assert marker["image"] == str(source.resolve()) and marker["version"] and marker["written_at"]
    assert marker["painting_size"] == [40, 24] and marker["output_size"] == [40, 24] and not marker["downscaled"]
    # the modes the umask asks for, not mkdtemp's 0700 / mkstemp's 0600
    assert stat.S_IMODE(out.stat().st_mode) == 0o750
    assert {stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {0o640}
    assert cv2.imread(str(out / "003.png")).shape == (24, 40, 3)

    # its own folder is replaced as a whole: no keyframe of the longer first run stays
    write_outputs(_result(1), (40, 24), out, source=source)
    assert sorted(p.name for p in out.iterdir()) == sorted(["000.png", "001.png", "distance.png", "process.mp4",
                                                             "steps.jpg", MARKER])  # fmt: skip
    assert not list(tmp_path.glob(".result*"))  # no temporary or old folder left beside it

    # a file the user put there since is not paint's: refused (even after painting), and kept
    (out / "my notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"holds files paint did not write \(my notes\.txt\).*" + _FIX):
        write_outputs(_result(1), (40, 24), out)
    assert (out / "my notes.txt").read_text() == "mine" and (out / "001.png").is_file()


def test_a_folder_with_a_foreign_or_broken_marker_is_not_paints(tmp_path: Path):
    out = tmp_path / "result"
    out.mkdir()
    (out / "photo.jpg").write_bytes(b"mine")
    for text in ("not json", json.dumps({"written_by": "someone else", "files": ["photo.jpg"]}), "[1, 2]"):
        (out / MARKER).write_text(text)
        with pytest.raises(ValueError, match="not empty and was not written by paint"):
            check_out_folder(out)
    assert (out / "photo.jpg").read_bytes() == b"mine"


# ------------------------------------------------------------------------------------------ sizes
def test_outputs_are_capped_at_2048_px_with_even_sides_and_say_so(tmp_path: Path):
    assert output_size((80, 48)) == (80, 48) and output_size((81, 49)) == (81, 49)  # small: the painting's own
    assert output_size((3000, 1999)) == (2048, 1364)  # 1364.6 -> 1365 -> even
    assert output_size((1000, 7000)) == (292, 2048)
    out = tmp_path / "big"
    write_outputs(_result(1), (3000, 1999), out)
    assert cv2.imread(str(out / "001.png")).shape == (1364, 2048, 3)
    marker = json.loads((out / MARKER).read_text())
    assert marker["painting_size"] == [3000, 1999] and marker["output_size"] == [2048, 1364] and marker["downscaled"]
    with av.open(str(out / "process.mp4")) as video:
        assert (video.streams.video[0].width, video.streams.video[0].height) == (2048, 1364)

    wide = _png(tmp_path / "wide.png", _painting(1001, 2100))
    pixels, size = read_painting(wide)
    assert size == (2100, 1001) and pixels.shape == (976, 2048, 3) and pixels.dtype == np.uint8


def test_an_image_over_the_decode_limit_is_refused_from_its_header(tmp_path: Path, capsys):
    # 12000x12000 declared, no pixel data: a decode would fail as truncated, so this message proves none ran
    huge = _png_header(tmp_path / "huge.png", 12000, 12000)
    code, err = _paint(capsys, huge, "--out", tmp_path / "out")
    assert code == 2 and err == [
        f"error: IMAGE {huge}: 12000x12000 is 144 megapixels, over the 50-megapixel limit; downscale it "
        "(the models paint at most 512 px on the long side) and retry"
    ]
    # beyond Pillow's own decompression-bomb limit (179 MP) the message is still ours
    code, err = _paint(capsys, _png_header(tmp_path / "huger.png", 30000, 20000), "--out", tmp_path / "out")
    assert code == 2 and "30000x20000 is 600 megapixels, over the 50-megapixel limit" in err[0]
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------ bad images
def _bad_image(kind: str, folder: Path) -> Path:
    good = _png(folder / "good.png")
    data = good.read_bytes()
    jpeg = cv2.imencode(".jpg", _painting())[1].tobytes()
    path = folder / {"folder": "a_folder", "jpeg": "cut.jpg", "jpeg header": "head.jpg"}.get(kind, f"{kind}.png")
    if kind == "folder":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("pair_id,correction\n0,sky\n")
    elif kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "jpeg":
        path.write_bytes(jpeg[: len(jpeg) // 2])
    elif kind == "jpeg header":
        path.write_bytes(jpeg[:60])
    elif kind == "narrow":
        _png(path, _painting(8, 600))
    return path


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("missing", "no such file; give the path of one painting as a PNG, JPEG"),
        ("folder", "is a folder, not an image file; give the path of one painting"),
        ("empty", "empty file (0 bytes), not an image; give the path of one painting"),
        ("text", "not a readable image; give the path of one painting as a PNG, JPEG"),
        ("truncated", "the PNG file is truncated or corrupt (image file is truncated); re-export or copy it again"),
        ("jpeg", "the JPEG file is truncated or corrupt"),
        ("jpeg header", "not a readable image"),
        ("narrow", "600x8 is too small or too narrow to paint (the models would see it at 512x7)"),
    ],
)
def test_a_bad_image_gets_one_line_naming_the_file(kind: str, said: str, tmp_path: Path, capsys):
    path = _bad_image(kind, tmp_path)
    code, err = _paint(capsys, path, "--out", tmp_path / "out")
    assert code == 2 and len(err) == 1 and err[0].startswith(f"error: IMAGE {path}: {said}")
    assert "re-materialize" not in err[0] and not (tmp_path / "out").exists()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fmt=st.sampled_from([".png", ".jpg"]),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=4),
)
def test_a_damaged_image_is_read_whole_or_refused_with_one_line(fmt, cut, flips, tmp_path: Path):
    data = bytearray(cv2.imencode(fmt, _painting(24, 32))[1].tobytes())
    for where, value in flips:
        data[min(int(where * len(data)), len(data) - 1)] = value
    path = tmp_path / f"damaged{fmt}"
    path.write_bytes(bytes(data[: int(cut * len(data))]))
    try:
        pixels, size = read_painting(path)
    except (ValueError, FileNotFoundError) as exc:
        message = str(exc)
        assert message.startswith(f"IMAGE {path}: ") and "\n" not in message
    else:
        assert pixels.dtype == np.uint8 and pixels.shape == (size[1], size[0], 3)


# ------------------------------------------------------------------------------------------ numbers
@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--steps", "0"),
        ("--steps", "-1"),
        ("--steps", "2.5"),
        ("--dt", "-5"),
        ("--dt", "0"),
        ("--dt", "nan"),
        ("--dt", "inf"),
        ("--dt", "1e9"),
        ("--max-updates", "0"),
        ("--max-updates", "-1"),
        ("--seed", "-1"),
    ],
)
def test_a_bad_number_is_a_usage_error_naming_the_option(option: str, value: str, tmp_path: Path, capsys):
    image = _png(tmp_path / "painting.png")
    with pytest.raises(SystemExit) as exit_info:
        main(["paint", str(image), "--out", str(tmp_path / "out"), option, value])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2
    assert err == ["usage: inverse-painting paint IMAGE --out DIR [options]", err[1]]
    assert err[1].startswith(f"inverse-painting paint: error: argument {option}: must be") and repr(value) in err[1]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "bad", [{"num_inference_steps": 0}, {"max_steps": -1}, {"dt_s": -5.0}, {"dt_s": float("nan")}, {"dt_s": 0.0}]
)
def test_paint_config_refuses_what_would_crash_or_mislead_the_loop(bad: dict):
    with pytest.raises(ValueError, match=next(iter(bad))):
        PaintConfig(**bad)


def test_write_mp4_reads_a_generator_one_frame_at_a_time(tmp_path: Path):
    made: list[int] = []

    def frames():
        for k in range(3):
            made.append(k)
            yield np.full((12, 18, 3), 80 * k, np.uint8)

    path = write_mp4(frames(), tmp_path / "v.mp4", fps=2.0, hold_last_s=1.0)
    with av.open(str(path)) as video:
        decoded = [f.to_ndarray(format="rgb24") for f in video.decode(video=0)]
    assert made == [0, 1, 2] and len(decoded) == 3 + 2  # the last frame held 1 s at 2 fps
    assert abs(int(decoded[-1].mean()) - 160) <= 3 and decoded[0].shape == (12, 18, 3)
    with pytest.raises(ValueError, match="no frames"):
        write_mp4(iter(()), tmp_path / "none.mp4")
