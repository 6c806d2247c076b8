"""Files a benchmark writes for people to look at: the generated frames, a video of them, the time map (Fig. 10)."""

from __future__ import annotations

from collections.abc import Sequence as Seq
from pathlib import Path

import numpy as np

from training.data.images import write_image
from training.data.storage import atomic_dir, atomic_path
from training.data.video_writer import write_mp4


def write_frames(frames: Seq[np.ndarray], folder: Path) -> list[Path]:
    """Î_1 … Î_K as 001.png … in ``folder``, replacing the whole folder at once (no frames of an older run stay)."""
    with atomic_dir(folder) as tmp:
        for k, frame in enumerate(frames, start=1):
            write_image(tmp / f"{k:03d}.png", frame)
    return [folder / f"{k:03d}.png" for k in range(1, len(frames) + 1)]


def write_video(frames: Seq[np.ndarray], path: Path, fps: int = 2, min_long_side: int = 256) -> Path:
    """H.264 MP4 of the frames, enlarged with nearest pixels to at least ``min_long_side`` (tiny models paint 64 px)."""
    import cv2

    h, w = frames[0].shape[:2]
    scale = max(1, int(np.ceil(min_long_side / max(h, w))))
    big = [cv2.resize(f, (w * scale, h * scale), interpolation=cv2.INTER_NEAREST) for f in frames]
    return write_mp4(big, path, fps=fps, hold_last_s=0.0)


def time_map_png(steps: np.ndarray, n_steps: int, dt_s: float, path: Path, title: str) -> Path:
    """Fig. 10: the time map as a colour image (early blue -> late red; never changed black), with a colour bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cmap = matplotlib.colormaps["turbo"].with_extremes(under="black")
    fig, ax = plt.subplots(figsize=(4.5, 3.6))
    image = ax.imshow(
        np.where(steps > 0, steps * dt_s / 60.0, -1.0), cmap=cmap, vmin=dt_s / 60.0 * 0.999, vmax=n_steps * dt_s / 60.0
    )
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, label="last changed at (min)", extend="min")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
