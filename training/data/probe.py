"""Reading a video's container facts with PyAV, with errors that name the file."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av


class VideoError(RuntimeError):
    """A video file that cannot be used; the message names the file and the fix."""


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
        if container.duration is not None:
            duration = container.duration / av.time_base
        elif stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        else:
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
        return VideoProbe(
            path=str(path),
            duration_s=float(duration),
            fps=float(Fraction(rate)),
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            codec=stream.codec_context.name,
            frame_count=stream.frames or None,
            size_bytes=path.stat().st_size,
            sha256=file_sha256(path),
        )
