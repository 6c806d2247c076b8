"""Reading and writing RGB images (OpenCV stores BGR; everything in this project is RGB)."""

from pathlib import Path

import cv2
import numpy as np

JPEG_QUALITY = 95


def encode_image(image: np.ndarray, ext: str = ".jpg", quality: int = JPEG_QUALITY) -> bytes:
    """RGB (or single-channel) array -> encoded bytes; JPEG by default, PNG for masks."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext == ".jpg" else []
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, buf = cv2.imencode(ext, pixels, params)
    if not ok:
        raise ValueError(f"could not encode an image of shape {image.shape} as {ext}")
    return buf.tobytes()


def write_image(path: Path, image: np.ndarray) -> Path:
    """Write by extension (.jpg or .png). Callers write into a temporary folder that is renamed after."""
    path.write_bytes(encode_image(image, path.suffix.lower()))
    return path


def read_rgb(path: Path | str) -> np.ndarray:
    pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if pixels is None:
        raise FileNotFoundError(f"{path}: missing or not an image; re-materialize the asset that wrote it")
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)


def read_gray(path: Path | str) -> np.ndarray:
    pixels = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if pixels is None:
        raise FileNotFoundError(f"{path}: missing or not an image; re-materialize the asset that wrote it")
    return pixels


def fit_long_side(size: tuple[int, int], long_side: int | None) -> tuple[int, int]:
    """(w, h) scaled down so that max(w, h) <= long_side (never up); None keeps the size."""
    w, h = size
    if long_side is None or max(w, h) <= long_side:
        return w, h
    scale = long_side / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))
