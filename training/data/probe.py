"""Reading a video's container facts with PyAV, with errors that name the file."""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av


class VideoError(RuntimeError):
    """A video file that cannot be used; the message names the file and the fix."""


# The least a video must give the chain, refused with a message before any frame is written.
#
# Frames: sampled_frames takes the first frame at or after each of t = 0, s, 2s, ... (s = sample_every_s, 2 s by
# default); the white canvas I_0 sits at t = 0, so no keyframe can come from the first sampled frame
# (make_pairs), the keyframe filter tells paint from hands by comparing a frame with the canvas before and
# after it, and the finished painting I_T is a median over the last `final_frames` (3) clean frames. Below
# 1 + 3 sampled frames nothing is left to keep: studio clips of 2 and 3 sampled frames failed in keyframes
# (every frame "occluded"), of 1 in frame_pairs (the only keyframe at t = 0); 4 gave 2 keyframes. A video with
# fewer frames than that fails at any sampling (probe_video); a longer one sampled too sparsely fails in
# sampled_frames (check_sampled_frames), the first step that knows the sampling interval.
MIN_SAMPLED_FRAMES = 4
# Size: the contour canvas detector looks for the canvas's straight edges at half resolution and refuses frames
# under 32 px (training/data/canvas/contour.py); at 64x64 the studio canvas is still found on 5 of 6 frames,
# and 64 is the smallest video `synth --size` writes. Grounding DINO would only upscale a smaller frame.
MIN_SIDE_PX = 64


@dataclass(frozen=True)
class VideoProbe:
    path: str
    duration_s: float
    fps: float
    width: int
    height: int
    codec: str
    frame_count: int | None
    size_bytes: int
    sha256: str

    def as_dict(self) -> dict:
        return asdict(self)


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def probe_video(path: Path) -> VideoProbe:
    """Duration, frame rate, size and codec of the first video stream.

    The container's duration is used when present; otherwise the stream's. A file whose first
    frame cannot be decoded is rejected here, so later stages never see it.
    """
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as err:
        raise VideoError(
            f"{path}: cannot be opened as a video ({err}). Re-encode it (e.g. ffmpeg -i in out.mp4) or remove it."
        ) from err
    with container:
        if not container.streams.video:
            raise VideoError(f"{path}: has no video stream. Remove it from the videos folder.")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.base_rate or stream.guessed_rate
        if not rate:
            raise VideoError(f"{path}: the video stream has no frame rate. Re-encode it with a constant frame rate.")
        duration = _duration_s(container, stream)
        if duration is None:
            raise VideoError(f"{path}: the container records no duration. Remux it (ffmpeg -i in -c copy out.mp4).")
        try:
            next(container.decode(stream))
        except av.error.DecoderNotFoundError as err:
            raise VideoError(
                f"{path}: no decoder for its video codec is available here. "
                "Re-encode it to H.264 (ffmpeg -i in -c:v libx264 out.mp4)."
            ) from err
        except (av.error.FFmpegError, StopIteration) as err:
            raise VideoError(
                f"{path}: no frame could be decoded ({err!r}); the file is corrupt or truncated. Re-export it."
            ) from err
        # Only now: an undecodable stream reports no size, which is not the problem to name.
        width, height = stream.codec_context.width, stream.codec_context.height
        if min(width, height) < MIN_SIDE_PX:
            raise VideoError(
                f"{path}: the video is {width}x{height} pixels; curating needs at least {MIN_SIDE_PX} on each side "
                "(the canvas detector looks for the canvas's edges at half resolution). Use a larger recording of "
                "the painting (640x480 or more is best)."
            )
        fps = float(Fraction(rate))
        frames = stream.frames or round(duration * fps)
        if frames < MIN_SAMPLED_FRAMES:
            raise VideoError(
                f"{path}: the video has {frames} frame(s) ({duration:.2f} s); curating needs at least "
                f"{MIN_SAMPLED_FRAMES} (the white canvas at t = 0, then frames to pick keyframes from). Pass the "
                "time-lapse video itself; for a single picture of a painting use `inverse-painting paint IMAGE`."
            )
        return VideoProbe(
            path=str(path),
            duration_s=float(duration),
            fps=fps,
            width=width,
            height=height,
            codec=stream.codec_context.name,
            frame_count=stream.frames or None,
            size_bytes=path.stat().st_size,
            sha256=file_sha256(path),
        )


def _duration_s(container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    """The container's duration when present, else the stream's; None when neither records one."""
    if container.duration is not None:
        return container.duration / av.time_base
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return None


def _frame_period_s(stream: av.VideoStream) -> float:
    rate = stream.average_rate or stream.base_rate or stream.guessed_rate
    return float(1 / Fraction(rate)) if rate else 0.0


def check_sampled_frames(path: Path, count: int, every_s: float) -> None:
    """Raise VideoError naming the file and the fix when sampling every ``every_s`` s gave too few frames.

    Called by sampled_frames with the number of frames it sampled (see MIN_SAMPLED_FRAMES for why 4).
    """
    if count == 0:
        raise VideoError(f"{path}: no frame could be sampled; the video is empty or unreadable. Re-export it.")
    if count >= MIN_SAMPLED_FRAMES:
        return
    length, advice = "", "Sample more often"
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            duration = _duration_s(container, stream)
            last_frame_s = None if duration is None else duration - _frame_period_s(stream)
    except (av.error.FFmpegError, OSError, IndexError):
        last_frame_s = None
    if last_frame_s is not None:
        length = f" of this {duration:.1f}-s video"
        # Sample times 0, s, 2s, 3s must all reach a frame: s <= (time of the last frame) / 3, rounded down.
        largest = math.floor(100 * last_frame_s / (MIN_SAMPLED_FRAMES - 1) + 1e-9) / 100
        if largest > 0:
            advice = f"Sample every {largest:g} s or less"
    raise VideoError(
        f"{path}: sampling one frame every {every_s:g} s gives {count} frame(s){length}; curating needs at least "
        f"{MIN_SAMPLED_FRAMES} (the white canvas takes t = 0, and hands are told from paint by the frames around "
        f"them). {advice} (curate --sample-every, or sampled_frames.sample_every_s in the launchpad), or use a "
        "longer video."
    )
