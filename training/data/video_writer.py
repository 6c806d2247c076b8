"""Writing a sequence of RGB frames as an H.264 MP4 (generated painting processes), atomically."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from training.data.storage import atomic_path


def write_mp4(frames: Iterable[np.ndarray], path: Path, fps: float = 2.0, hold_last_s: float = 1.0) -> Path:
    """Frames (uint8 RGB, any one size) as an MP4 at ``fps``; the last frame is held ``hold_last_s`` seconds.

    Sizes are rounded down to even numbers (yuv420p needs them); frames of another size are resized. The
    frames are read one at a time, so a generator keeps a long sequence of large frames out of memory.
    """
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError(f"{path}: no frames to write")
    height, width = (max(2, v - v % 2) for v in first.shape[:2])
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}

        def encode(index: int, image: np.ndarray) -> None:
            if image.shape[:2] != (height, width):
                image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))

        index, image = 0, first
        encode(index, image)
        for index, image in enumerate(frames, start=1):
            encode(index, image)
        for extra in range(1, round(hold_last_s * fps) + 1):
            encode(index + extra, image)
        container.mux(stream.encode(None))
    return path
