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


# Pictures in Dagster metadata open in a dialog at most 80 % of the window wide: wider ones need scrolling.
MAX_PREVIEW_WIDTH = 800
GAP = 2  # px of white between tiles and between rows


def _tile(image: np.ndarray, caption: str, height: int, max_width: int | None) -> np.ndarray:
    """The image scaled to ``height`` (narrower when that would exceed ``max_width``), captioned at its bottom."""
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    if max_width is not None and width > max_width:
        width, height = max_width, max(1, round(image.shape[0] * max_width / image.shape[1]))
    tile = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    if caption:
        cv2.rectangle(tile, (0, height - 16), (width, height), (0, 0, 0), thickness=-1)
        cv2.putText(tile, caption, (3, height - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def _row(tiles: list[np.ndarray], width: int) -> np.ndarray:
    """Tiles side by side with a gap, on white up to ``width`` and to the tallest tile's height."""
    height = max(tile.shape[0] for tile in tiles)
    row = np.full((height, width, 3), 255, np.uint8)
    x = 0
    for tile in tiles:
        row[: tile.shape[0], x : x + tile.shape[1]] = tile
        x += tile.shape[1] + GAP
    return row


def frame_strip(
    images: Sequence[np.ndarray], captions: Sequence[str] = (), height: int = 120, max_width: int | None = None
) -> np.ndarray:
    """Images scaled to one height, side by side with a 2 px gap, each captioned at its bottom.

    ``max_width``: a strip that would be wider is laid out in rows of equal counts (10 keyframes: two rows of
    5), its height reduced as much as the rows need to fit; None: one row.
    """
    if not images:
        raise ValueError("frame_strip needs at least one image")
    labels = [*captions, *[""] * max(0, len(images) - len(captions))]
    widths = [image.shape[1] * height / image.shape[0] for image in images]
    per_row = len(images)
    if max_width is not None and sum(widths) + GAP * (len(images) - 1) > max_width:
        rows = max(1, round((sum(widths) + GAP * (len(images) - 1)) / max_width))
        per_row = -(-len(images) // rows)
        widest = max(sum(widths[i : i + per_row]) for i in range(0, len(images), per_row))
        height = max(16, min(height, int(height * (max_width - GAP * (per_row - 1)) / widest)))
    tiles = [_tile(image, label, height, max_width) for image, label in zip(images, labels, strict=True)]
    rows_of_tiles = [tiles[i : i + per_row] for i in range(0, len(tiles), per_row)]
    width = max(sum(t.shape[1] for t in row) + GAP * (len(row) - 1) for row in rows_of_tiles)
    lines = [_row(row, width) for row in rows_of_tiles]
    parts = [part for line in lines for part in (line, np.full((GAP, width, 3), 255, np.uint8))][:-1]
    return np.concatenate(parts, axis=0)


def markdown_image(image: np.ndarray, alt: str = "preview", max_width: int = MAX_PREVIEW_WIDTH) -> str:
    """Inline Markdown image (data URI) that the Dagster UI renders in asset metadata; scaled down to
    ``max_width`` when wider (strips wrap into rows before: see frame_strip)."""
    if image.shape[1] > max_width:
        height = max(1, round(image.shape[0] * max_width / image.shape[1]))
        image = cv2.resize(image, (max_width, height), interpolation=cv2.INTER_AREA)
    data = base64.b64encode(encode_image(image)).decode("ascii")
    return f"![{alt}](data:image/jpeg;base64,{data})"


def spread(n: int, count: int) -> list[int]:
    """Up to `count` indices spread evenly over range(n), first and last included."""
    shown = min(count, n)
    return sorted({round(i * (n - 1) / max(1, shown - 1)) for i in range(shown)})


def table_strip(
    rows: Sequence[dict], count: int = 8, height: int = 120, max_width: int | None = MAX_PREVIEW_WIDTH
) -> np.ndarray:
    """Strip of up to `count` images spread over `rows` (dicts with `t_ms`, `path`, optional `caption`), wrapped
    into rows at ``max_width``."""
    rows = [row for row in rows if row.get("path")]
    if not rows:
        raise ValueError("no images to show")
    picks = [rows[i] for i in spread(len(rows), count)]
    images = [read_rgb(row["path"]) for row in picks]
    captions = [row.get("caption") or f"{row['t_ms'] / 1000:.1f} s" for row in picks]
    return frame_strip(images, captions, height, max_width)


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
