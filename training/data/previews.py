"""Small pictures of what a stage did: frame strips with captions, encoded for metadata and MLflow."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path

import av
import cv2
import numpy as np

from training.data.images import encode_image, read_rgb


def video_thumbnails(path: Path, count: int = 6) -> list[tuple[float, np.ndarray]]:
    """`count` RGB frames spread evenly over the video, found by seeking (never decoding it all)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        duration = (container.duration or 0) / av.time_base
        shots: list[tuple[float, np.ndarray]] = []
        for i in range(count):
            t = duration * (i + 0.5) / count
            container.seek(int(t / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.time is None or frame.time >= t - 1e-3:
                    shots.append((float(frame.time or t), frame.to_ndarray(format="rgb24")))
                    break
        return shots


def frame_strip(images: Sequence[np.ndarray], captions: Sequence[str] = (), height: int = 120) -> np.ndarray:
    """Images scaled to one height, side by side with a 2 px gap, each captioned at its bottom."""
    tiles = []
    for index, image in enumerate(images):
        width = max(1, round(image.shape[1] * height / image.shape[0]))
        tile = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        if index < len(captions) and captions[index]:
            text = captions[index]
            cv2.rectangle(tile, (0, height - 16), (width, height), (0, 0, 0), thickness=-1)
            cv2.putText(tile, text, (3, height - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
        tiles.append(np.full((height, 2, 3), 255, np.uint8))
    if not tiles:
        raise ValueError("frame_strip needs at least one image")
    return np.concatenate(tiles[:-1], axis=1)


def markdown_image(image: np.ndarray, alt: str = "preview") -> str:
    """Inline Markdown image (data URI) that the Dagster UI renders in asset metadata."""
    data = base64.b64encode(encode_image(image)).decode("ascii")
    return f"![{alt}](data:image/jpeg;base64,{data})"


def spread(n: int, count: int) -> list[int]:
    """Up to `count` indices spread evenly over range(n), first and last included."""
    shown = min(count, n)
    return sorted({round(i * (n - 1) / max(1, shown - 1)) for i in range(shown)})


def table_strip(rows: Sequence[dict], count: int = 8, height: int = 120) -> np.ndarray:
    """Strip of up to `count` images spread over `rows` (dicts with `t_ms`, `path`, optional `caption`)."""
    rows = [row for row in rows if row.get("path")]
    if not rows:
        raise ValueError("no images to show")
    picks = [rows[i] for i in spread(len(rows), count)]
    images = [read_rgb(row["path"]) for row in picks]
    captions = [row.get("caption") or f"{row['t_ms'] / 1000:.1f} s" for row in picks]
    return frame_strip(images, captions, height)


def draw_quads(image: np.ndarray, corners: np.ndarray | None) -> np.ndarray:
    """The frame with its canvas quadrilateral drawn (TL corner marked), or a red cross when none."""
    out = image.copy()
    if corners is None:
        h, w = out.shape[:2]
        cv2.line(out, (0, 0), (w - 1, h - 1), (255, 0, 0), 2)
        cv2.line(out, (w - 1, 0), (0, h - 1), (255, 0, 0), 2)
    else:
        points = corners.reshape(-1, 1, 2).round().astype(np.int32)
        cv2.polylines(out, [points], isClosed=True, color=(0, 255, 0), thickness=2)
        cv2.circle(out, tuple(points[0, 0]), 6, (255, 255, 0), -1)
    return out
