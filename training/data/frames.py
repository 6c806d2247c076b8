"""Sampling frames from a video at a fixed interval, streamed with PyAV (never the whole video in memory).

Two ways to reach the sample times: decode every frame in order, or seek to the keyframe before each sample
time and decode from there. Seeking only pays when the decoder would otherwise decode frames it throws away up
to the next useful keyframe, i.e. when the sample interval is much longer than the keyframe interval (GOP).
The default ``auto`` strategy reads the keyframe index once (demuxing only, no decoding) and seeks exactly when
a keyframe lies strictly between the decoder's position and the next sample time, so it decodes no more frames
than either pure strategy. Measured with ``benchmarks/canvas_accuracy.py --decode`` (2 busy cores), seconds for
sequential / seek per sample / auto: 60 s 640x480 studio video (keyframe every 10 s) sampled every 1 s:
1.3 / 6.9 / 1.1, every 20 s: 1.6 / 0.2 / 0.4; 300 s 1280x720 with a keyframe every 2 s, every 5 s: 23.6 / 5.1 / 3.6.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

from training.data.probe import VideoError

Strategy = Literal["auto", "sequential", "seek"]

# A seek costs a demuxer reposition and a decoder flush; skipping fewer frames than this is not worth it.
MIN_FRAMES_SKIPPED_BY_SEEK = 3


@dataclass(frozen=True)
class SampledFrame:
    t_ms: int  # presentation time of the decoded frame, from the start of the video stream
    image: np.ndarray  # RGB uint8 (H, W, 3)


def iter_sampled_frames(
    path: Path,
    every_s: float,
    start_s: float = 0.0,
    *,
    strategy: Strategy = "auto",
    strict: bool = True,
    threads: bool = True,
) -> Iterator[SampledFrame]:
    """Yield the first frame at or after each sample time ``start_s + k * every_s`` (k = 0, 1, ...).

    Streams: at most one decoded frame is held at a time. When several sample times fall on the same frame
    (``every_s`` shorter than the frame period) that frame is yielded once. ``strategy`` picks sequential
    decoding, seeking before every sample, or ``auto`` (seek only where it skips frames; see the module doc).
    ``strict`` makes bitstream errors fail instead of being concealed (FFmpeg would otherwise hand out frames
    patched from their neighbours, i.e. wrong training images, without a word).
    Raises ``VideoError`` naming the file when it cannot be opened, when decoding fails mid-stream and when
    the stream ends well before the duration its container declares (a truncated file).
    """
    path = Path(path)
    if not every_s > 0 or not math.isfinite(every_s):
        raise ValueError(f"every_s must be a positive number of seconds, got {every_s!r}")
    if start_s < 0 or not math.isfinite(start_s):
        raise ValueError(f"start_s must be >= 0 seconds, got {start_s!r}")
    if strategy not in ("auto", "sequential", "seek"):
        raise ValueError(f"strategy must be 'auto', 'sequential' or 'seek', got {strategy!r}")
    container = _open(path)
    with container:
        stream = container.streams.video[0]
        if threads:
            stream.thread_type = "AUTO"  # frame + slice threads: decoding is the bottleneck
        if strict:
            stream.codec_context.options = {"err_detect": "explode"}
        reader = _StreamReader(path, container, stream)
        keyframes = reader.keyframe_pts() if strategy == "auto" else None
        yield from reader.sample(every_s, start_s, strategy, keyframes)


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise VideoError(f"{path}: no such file. Check the videos folder.")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as err:
        raise VideoError(
            f"{path}: cannot be opened as a video ({err}). Re-encode it (e.g. ffmpeg -i in out.mp4) or remove it."
        ) from err
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: has no video stream. Remove it from the videos folder.")
    return container


class _StreamReader:
    """Decoding one video stream in presentation order, with seeks, in the stream's own time base."""

    def __init__(self, path: Path, container: av.container.InputContainer, stream: av.VideoStream) -> None:
        self.path = path
        self.container = container
        self.stream = stream
        self.time_base = stream.time_base or Fraction(1, av.time_base)
        self.start_pts = stream.start_time or 0
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.frame_period_s = float(1 / Fraction(rate)) if rate else 1 / 25

    def to_seconds(self, pts: int) -> float:
        return float((pts - self.start_pts) * self.time_base)

    def to_pts(self, seconds: float) -> int:
        return self.start_pts + math.ceil(Fraction(seconds).limit_denominator(10**6) / self.time_base)

    def keyframe_pts(self) -> list[int]:
        """Presentation times of the keyframes, from packet flags only (no decoding), then rewind."""
        keys: list[int] = []
        try:
            for packet in self.container.demux(self.stream):
                if packet.is_keyframe and packet.pts is not None:
                    keys.append(packet.pts)
            self.container.seek(self.start_pts, stream=self.stream, backward=True)
        except av.error.FFmpegError as err:
            raise VideoError(f"{self.path}: reading the packet index failed ({err}). Re-export or remux it.") from err
        return sorted(keys)

    def frames(self) -> Iterator[av.VideoFrame]:
        """Decoded frames from the current demuxer position; decoding errors name the file and the time."""
        last_s = None
        try:
            for packet in self.container.demux(self.stream):
                for frame in packet.decode():
                    if frame.pts is None:
                        continue  # a frame without a timestamp cannot be placed in time
                    last_s = self.to_seconds(frame.pts)
                    yield frame
        except av.error.FFmpegError as err:
            where = "before the first frame" if last_s is None else f"after {last_s:.2f} s"
            raise VideoError(
                f"{self.path}: decoding failed {where} ({err}); the file is corrupt. Re-export or re-encode it."
            ) from err

    def declared_end_s(self) -> tuple[float | None, float]:
        """The stream's duration when recorded (else the container's), and the slack allowed for it."""
        if self.stream.duration:
            return float(self.stream.duration * self.time_base), max(3 * self.frame_period_s, 0.5)
        if self.container.duration:
            # The container's duration covers all streams (audio may run longer): allow more slack.
            return self.container.duration / av.time_base, max(3 * self.frame_period_s, 1.5)
        return None, 0.0

    def sample(
        self, every_s: float, start_s: float, strategy: Strategy, keyframes: list[int] | None
    ) -> Iterator[SampledFrame]:
        k = 0
        target_s = start_s
        decoded_pts: int | None = None  # position of the decoder (last decoded frame)
        frames: Iterator[av.VideoFrame] | None = None
        last_seen_s: float | None = None
        while True:
            target_pts = self.to_pts(target_s)
            if frames is None or self._should_seek(strategy, keyframes, decoded_pts, target_pts):
                self._seek(target_pts)
                frames = self.frames()
            frame = None
            for candidate in frames:
                decoded_pts = candidate.pts
                last_seen_s = self.to_seconds(candidate.pts)
                if candidate.pts >= target_pts:
                    frame = candidate
                    break
            if frame is None:
                self._check_complete(last_seen_s, target_s)
                return
            t_s = self.to_seconds(frame.pts)
            yield SampledFrame(t_ms=round(t_s * 1000), image=frame.to_ndarray(format="rgb24"))
            # Skip sample times this frame already served (every_s shorter than a frame period).
            k = max(k + 1, math.floor((t_s - start_s) / every_s + 1e-9) + 1)
            target_s = start_s + k * every_s

    def _should_seek(
        self, strategy: Strategy, keyframes: list[int] | None, decoded_pts: int | None, target_pts: int
    ) -> bool:
        if strategy == "sequential":
            return False
        if strategy == "seek":
            return True
        assert keyframes is not None
        i = bisect.bisect_right(keyframes, target_pts) - 1
        if i < 0 or decoded_pts is None:
            return False
        frames_skipped = self.to_seconds(keyframes[i]) - self.to_seconds(decoded_pts)
        return frames_skipped > MIN_FRAMES_SKIPPED_BY_SEEK * self.frame_period_s

    def _seek(self, target_pts: int) -> None:
        try:
            self.container.seek(max(target_pts, self.start_pts), stream=self.stream, backward=True)
        except av.error.FFmpegError as err:
            raise VideoError(f"{self.path}: seeking failed ({err}). Remux it (ffmpeg -i in -c copy out.mp4).") from err

    def _check_complete(self, last_seen_s: float | None, target_s: float) -> None:
        """The stream ran out: fine past its declared end, a truncated file if it ends well before."""
        if last_seen_s is None:
            if target_s > 0:
                end_s, _ = self.declared_end_s()
                if end_s is not None and target_s >= end_s:
                    return  # start_s beyond the end: nothing to sample
            raise VideoError(f"{self.path}: no frame could be decoded; the file is corrupt or truncated. Re-export it.")
        end_s, slack = self.declared_end_s()
        if end_s is not None and last_seen_s + self.frame_period_s < end_s - slack:
            raise VideoError(
                f"{self.path}: the video stream ends at {last_seen_s:.2f} s but the container declares {end_s:.2f} s; "
                "the file is truncated or corrupt. Re-export it."
            )
