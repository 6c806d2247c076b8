"""Shared fixtures: tiny videos written with PyAV, an isolated Dagster instance and data root."""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import av
import dagster as dg
import numpy as np
import pytest

# every per-video asset of process_videos, in chain order (tests check each is materialized)
PER_VIDEO_ASSETS = [
    "source_video",
    "sampled_frames",
    "canvas_geometry",
    "canvas_frames",
    "keyframes",
    "frame_pairs",
    "difference_masks",
    "auto_labels",
    "instruction_labels",
]


def write_test_video(path: Path, seconds: float = 2.0, fps: int = 10, size: tuple[int, int] = (96, 64)) -> Path:
    """A small H.264 video whose frames change over time (a bar sweeping across a gradient)."""
    width, height = size
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        base = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None].repeat(height, 0).repeat(3, 2)
        n = round(seconds * fps)
        for i in range(n):
            image = base.copy()
            x = int(i / max(1, n - 1) * (width - 8))
            image[:, x : x + 8] = (255, 0, 0)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "videos").mkdir(parents=True)
    return root


@pytest.fixture
def instance(tmp_path: Path):
    with dg.instance_for_test() as inst:
        yield inst


@dataclass
class SmallDemo:
    data_root: Path
    dagster_home: Path
    args: list[str]  # the demo's --data-root/--dagster-home and reduced-mode options
    env: dict[str, str]
    done: subprocess.CompletedProcess


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> SmallDemo:
    """`inverse-painting demo` in a reduced mode (2 videos of 20 s, 320x240, models trained 2 steps), run once.

    20 s videos are the shortest for which keyframe filtering is meaningful (its persistence window is 5
    sampled frames on each side). Shared by tests/pipelines/test_demo.py (what the demo made) and the browser tests
    (the UIs on it), which run after it and only add runs.
    """
    work = tmp_path_factory.mktemp("small_demo")
    data_root, home = work / "data", work / "dagster_home"
    args = ["--data-root", str(data_root), "--dagster-home", str(home), "--count", "2", "--duration", "20"]
    args += ["--size", "320x240", "--fps", "10", "--train-steps", "2"]
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "INVERSE_PAINTING_DATA_ROOT")}
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "demo", *args], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return SmallDemo(data_root.resolve(), home.resolve(), args, env, done)
