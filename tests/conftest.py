"""Shared fixtures: tiny videos written with PyAV, an isolated Dagster instance and data root."""

from pathlib import Path

import av
import dagster as dg
import numpy as np
import pytest


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
