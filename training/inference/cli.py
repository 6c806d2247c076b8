"""`inverse-painting paint IMAGE --out DIR`: reconstruct the painting process of one painting.

Everything a user passes is checked before a model is loaded: the options by argparse (a usage error naming
the option), IMAGE by reading its header (a file, a format Pillow knows, at most ``MAX_PIXELS``) and then its
pixels, and ``--out`` (new, empty, or a folder an earlier ``paint`` wrote, never the data root, the home
folder, the filesystem root, the current folder or the checkout, nor a folder holding one of them).
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from training.argtypes import int_in_range, positive_float
from training.data.images import fit_long_side, read_rgb, write_image
from training.data.previews import frame_strip
from training.data.storage import atomic_dir
from training.data.video_writer import write_mp4
from training.data_root import DataRoot
from training.device import DEVICE_CHOICES, DTYPE_CHOICES, resolve, runtime_params
from training.experiment_tracking import REGISTERED_MODELS
from training.inference.paint import PaintConfig, PaintResult, paint
from training.plots import curves_png

# A folder `paint` wrote holds this file (JSON): only such a folder, or an empty one, is ever replaced.
MARKER = ".inverse-painting-paint"
WRITTEN_BY = "inverse-painting paint"
# Decoding is refused above this many pixels (read from the header first): a 50-megapixel RGB image takes
# 150 MB decoded; the models paint at most a 512-pixel canvas, so nothing larger is worth the memory.
MAX_PIXELS = 50_000_000
# Keyframes and video are written at the painting's size, its long side capped here (even sides, for H.264).
MAX_OUTPUT_SIDE = 2048
# the working canvas (long side PaintConfig.long_side) must keep this many pixels on its short side: the distance
# maps and the models' resizes need a few pixels each way, and steps.jpg a bounded width
MIN_IMAGE_SIDE = 8
MAX_DT_S = 3600.0
_STRIP_MAX_WIDTH = 16_000  # steps.jpg wraps into rows below this (JPEG allows 65 535)
_IMAGE_FIX = "give the path of one painting as a PNG, JPEG, WebP, TIFF or BMP file"
_OUT_FIX = "choose an empty or new folder"
# What Pillow raises on a file that is not, or not all, an image (it uses SyntaxError for bad headers).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)


# ------------------------------------------------------------------------------------------ options
# ------------------------------------------------------------------------------------------ the image
@contextmanager
def _no_pillow_pixel_limit() -> Iterator[None]:
    """Pillow refuses (or warns about) large images itself with its own message; ours, lower, comes first."""
    from PIL import Image

    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def check_image(path: Path, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """(width, height) of the image at ``path`` once it is known to be a whole, decodable image of at most
    ``max_pixels``: the size is read from the header before any pixel is decoded."""
    from PIL import Image, UnidentifiedImageError

    if not path.exists():
        raise FileNotFoundError(f"IMAGE {path}: no such file; {_IMAGE_FIX}")
    if path.is_dir():
        raise ValueError(f"IMAGE {path}: is a folder, not an image file; {_IMAGE_FIX}")
    if not path.is_file():
        raise ValueError(f"IMAGE {path}: not a regular file; {_IMAGE_FIX}")
    if path.stat().st_size == 0:
        raise ValueError(f"IMAGE {path}: empty file (0 bytes), not an image; {_IMAGE_FIX}")
    try:
        with _no_pillow_pixel_limit():
            image = Image.open(path)  # reads the header only
    except PermissionError:
        raise PermissionError(f"IMAGE {path}: cannot read it (permission denied); {_IMAGE_FIX}") from None
    except UnidentifiedImageError:
        raise ValueError(f"IMAGE {path}: not a readable image; {_IMAGE_FIX}") from None
    except _DECODE_ERRORS as exc:  # a header that starts like an image and breaks off
        raise ValueError(f"IMAGE {path}: not a readable image ({exc}); {_IMAGE_FIX}") from None
    with image:
        (width, height), kind = image.size, image.format or "image"
        if width * height > max_pixels:
            raise ValueError(
                f"IMAGE {path}: {width}x{height} is {width * height / 1e6:.0f} megapixels, over the "
                f"{max_pixels / 1e6:.0f}-megapixel limit; downscale it (the models paint at most "
                f"{PaintConfig.long_side} px on the long side) and retry"
            )
        canvas = fit_long_side((width, height), PaintConfig.long_side)
        if min(canvas) < MIN_IMAGE_SIDE:
            raise ValueError(
                f"IMAGE {path}: {width}x{height} is too small or too narrow to paint (the models would see it at "
                f"{canvas[0]}x{canvas[1]}); give an image at least {MIN_IMAGE_SIDE} px on its short side and at "
                f"most {PaintConfig.long_side // MIN_IMAGE_SIDE} times its short side on its long side"
            )
        try:
            image.load()  # every pixel: a truncated or corrupt file fails here, not in the middle of a run
        except _DECODE_ERRORS as exc:
            raise ValueError(
                f"IMAGE {path}: the {kind} file is truncated or corrupt ({exc}); re-export or copy it again"
            ) from None
    return width, height


def output_size(size: tuple[int, int], max_side: int = MAX_OUTPUT_SIDE) -> tuple[int, int]:
    """The size the outputs are written at: the painting's own, or scaled to ``max_side`` on its long side
    (aspect kept, sides even for H.264) when it is larger."""
    if max(size) <= max_side:
        return size
    width, height = fit_long_side(size, max_side)
    return max(2, width - width % 2), max(2, height - height % 2)


def read_painting(path: Path, max_side: int = MAX_OUTPUT_SIDE) -> tuple[np.ndarray, tuple[int, int]]:
    """The painting at ``path`` as RGB at its output size (see ``output_size``) and its own (width, height);
    checked first (``check_image``), so a bad file gets one line naming it."""
    check_image(path)
    # OpenCV decodes as the data pipeline does: EXIF orientation applied, 16-bit channels scaled to 8 bits
    try:
        pixels = read_rgb(path)
    except FileNotFoundError:
        raise ValueError(
            f"IMAGE {path}: its pixels could not be decoded (a damaged file, or a format variant OpenCV does not "
            "read); re-export it as PNG or JPEG"
        ) from None
    size = (pixels.shape[1], pixels.shape[0])
    wanted = output_size(size, max_side)
    if wanted != size:
        pixels = cv2.resize(pixels, wanted, interpolation=cv2.INTER_AREA)
    return pixels, size


# ------------------------------------------------------------------------------------------ --out
def protected_folders(data_root: Path) -> dict[str, Path]:
    """Folders ``--out`` may never be, nor contain: replacing them would delete what the user keeps there."""
    folders = {"the data root": data_root, "the current folder": Path.cwd(), "the checkout": Path(__file__).parents[2]}
    with suppress(RuntimeError, KeyError):  # no home directory set
        folders["your home folder"] = Path.home()
    return {label: folder.resolve() for label, folder in folders.items()}


def _marker(folder: Path) -> dict | None:
    """The marker `paint` leaves in its output folder, or None when ``folder`` has no readable one."""
    path = folder / MARKER
    if path.is_symlink() or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("written_by") == WRITTEN_BY else None


def check_out_folder(out: Path, protected: dict[str, Path] | None = None) -> Path:
    """The resolved ``--out`` folder, if ``paint`` may replace it as a whole: it does not exist yet, is empty,
    or holds only what an earlier ``paint`` wrote (its marker lists the files). Never one of ``protected``
    (label -> folder) nor a folder above one; the filesystem root never."""
    try:
        target = out.resolve()
    except (OSError, RuntimeError) as exc:
        raise ValueError(f"--out {out}: cannot resolve the path ({exc}); {_OUT_FIX}") from None
    refused = {"the filesystem root": Path(target.anchor), **(protected or {})}
    what = next((f"is {label}" for label, folder in refused.items() if target == folder), None)
    what = what or next((f"contains {label} ({f})" for label, f in refused.items() if target in f.parents), None)
    if what:
        raise ValueError(f"--out {out}: {what}, and paint replaces its --out folder as a whole; {_OUT_FIX}")
    if target.exists() and not target.is_dir():
        raise ValueError(f"--out {out}: is a file, not a folder; {_OUT_FIX}")
    if target.is_dir():
        entries = sorted(p.name for p in target.iterdir())
        marker = _marker(target)
        if marker is None and entries:
            raise ValueError(
                f"--out {out}: the folder is not empty and was not written by paint (no {MARKER} file), and paint "
                f"replaces its --out folder as a whole; {_OUT_FIX}"
            )
        if marker is not None:
            files = marker.get("files")
            ours = {str(name) for name in (files if isinstance(files, list) else [])} | {MARKER}
            foreign = [name for name in entries if name not in ours or (target / name).is_dir()]
            if foreign:
                shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
                raise ValueError(
                    f"--out {out}: holds files paint did not write ({shown}), and paint replaces its --out folder "
                    f"as a whole; move them out or {_OUT_FIX}"
                )
    # replacing a folder moves the old one aside under this name and deletes it (storage.atomic_dir)
    aside = target.with_name(f".{target.name}.old")
    if (aside.exists() or aside.is_symlink()) and _marker(aside) is None:
        raise ValueError(f"--out {out}: {aside} exists and would be deleted on the way; move it away or {_OUT_FIX}")
    existing = target.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"--out {out}: {existing} is a file, not a folder; {_OUT_FIX}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out}: cannot write in {existing} (permission denied); {_OUT_FIX} you can write to")
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _steps_sheet(result: PaintResult, height: int = 128) -> np.ndarray:
    """Each update with its text and mask, in rows narrower than ``_STRIP_MAX_WIDTH`` (JPEG's limit)."""
    rows: list[np.ndarray] = []
    tiles: list[np.ndarray] = []
    captions: list[str] = []
    width = 0
    for step in result.steps:
        mask = np.repeat((step.mask.astype(np.uint8) * 255)[:, :, None], 3, axis=2)
        mask = cv2.resize(mask, step.image.shape[1::-1], interpolation=cv2.INTER_NEAREST)
        pair_width = 2 * (max(1, round(step.image.shape[1] * height / step.image.shape[0])) + 2)
        if tiles and width + pair_width > _STRIP_MAX_WIDTH:
            rows.append(frame_strip(tiles, captions, height=height))
            tiles, captions, width = [], [], 0
        tiles += [step.image, mask]
        captions += [step.text or "(no text)", "mask"]
        width += pair_width
    rows.append(frame_strip(tiles, captions, height=height))
    widest = max(row.shape[1] for row in rows)
    padded = [np.pad(row, ((0, 2), (0, widest - row.shape[1]), (0, 0)), constant_values=255) for row in rows]
    return np.concatenate(padded)[:-2]


def write_outputs(
    result: PaintResult,
    size: tuple[int, int],
    out: Path,
    fps: float = 2.0,
    *,
    source: Path | None = None,
    protected: dict[str, Path] | None = None,
    runtime: dict[str, str] | None = None,
) -> list[Path]:
    """Keyframes ``NNN.png`` (000 = white canvas) at the painting's ``size`` (long side capped at
    ``MAX_OUTPUT_SIDE``), ``process.mp4``, ``steps.jpg`` (each update with its text and mask) and
    ``distance.png`` (D̄ to the target after each update), with the ``MARKER`` file that lets a later
    ``paint`` replace the folder. ``out`` is checked again here (``check_out_folder``): painting takes
    minutes, and a folder that filled up meanwhile is refused, never replaced. Returns the files written."""
    target = check_out_folder(out, protected)
    width, height = output_size(size)
    names: list[str] = []
    with atomic_dir(target) as tmp:

        def keyframes() -> Iterator[np.ndarray]:
            # one frame at the output size in memory at a time: written as a PNG, then encoded into the video
            for index in range(len(result.steps) + 1):
                if index == 0:
                    frame = np.full((height, width, 3), 255, np.uint8)
                else:
                    frame = cv2.resize(result.steps[index - 1].image, (width, height), interpolation=cv2.INTER_CUBIC)
                names.append(write_image(tmp / f"{index:03d}.png", frame).name)
                yield frame

        write_mp4(keyframes(), tmp / "process.mp4", fps=fps)
        names.append("process.mp4")
        if result.steps:
            names.append(write_image(tmp / "steps.jpg", _steps_sheet(result)).name)
        curve = result.distance_curve()
        curves_png(
            {"painting": (np.arange(len(curve), dtype=float), np.array(curve))},
            tmp / "distance.png",
            "canvas update",
            f"D̄(target, canvas) [{result.distance_name}]",
            f"{len(result.steps)} updates, stopped: {result.stop_reason}",
        )
        names.append("distance.png")
        marker = {
            "written_by": WRITTEN_BY,
            "version": _version(),
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "image": None if source is None else str(source.resolve()),
            "painting_size": list(size),
            "output_size": [width, height],
            "downscaled": (width, height) != tuple(size),
            "files": sorted(names),
            **({"runtime": runtime} if runtime else {}),  # the device and dtype the models ran in
        }
        (tmp / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
        # mkdtemp / mkstemp create 0700 / 0600: give the folder and files the modes the user's umask asks for
        mask = _umask()
        for path in tmp.iterdir():
            path.chmod(0o666 & ~mask)
        tmp.chmod(0o777 & ~mask)
    return [target / name for name in sorted(names)]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("inverse-painting")
    except PackageNotFoundError:
        return "unknown"


# ------------------------------------------------------------------------------------------ the command
def resolve_model(explicit: Path | None, registered: str, tracking_uri: str) -> Path:
    """The given folder, else the newest registered version of ``registered`` in the MLflow registry."""
    from training.experiment_tracking import registered_model_path

    if explicit is not None:
        if not explicit.is_dir():
            raise FileNotFoundError(f"{explicit}: no such model folder (a save_pretrained directory)")
        return explicit
    return registered_model_path(tracking_uri, registered)


def add_paint_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "paint",
        help="reconstruct the painting process of one painting with the trained models",
        usage="%(prog)s IMAGE --out DIR [options]",  # one line above a usage error, not the 10 of every option
    )
    p.add_argument(
        "image",
        type=Path,
        metavar="IMAGE",
        help=f"the painting (PNG, JPEG, WebP, TIFF, BMP; at most {MAX_PIXELS // 1_000_000} megapixels)",
    )
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help=f"output folder: a new or empty folder, or one an earlier paint wrote (it holds a {MARKER} file), "
        "which is then replaced as a whole; a folder with other files, the data root, your home folder and the "
        f"current folder are refused. Outputs are at the painting's size, at most {MAX_OUTPUT_SIDE} px on the "
        "long side",
    )
    p.add_argument("--renderer", type=Path, default=None, help="model folder (default: newest registered version)")
    p.add_argument("--mask-generator", type=Path, default=None)
    p.add_argument("--text-generator", type=Path, default=None)
    p.add_argument("--data-root", type=Path, default=None, help="finds the MLflow store: <data root>/mlflow.db")
    p.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: sqlite in the data root)")
    p.add_argument(
        "--steps",
        type=int_in_range(1, 1000),
        default=None,
        help="sampler steps S per update, 1 to 1000 (default: the renderer's own)",
    )
    p.add_argument(
        "--dt",
        type=positive_float(maximum=MAX_DT_S),
        default=PaintConfig.dt_s,
        help=f"Δt between updates, seconds (above 0, at most {MAX_DT_S:g})",
    )
    p.add_argument(
        "--max-updates",
        type=int_in_range(1, 1000),
        default=PaintConfig.max_steps,
        help="at most this many canvas updates, 1 to 1000",
    )
    p.add_argument("--distance", choices=("auto", "lpips", "colour-structure"), default="auto")
    p.add_argument("--seed", type=int_in_range(0, 2**32 - 1), default=0)
    p.add_argument(
        "--device",
        choices=DEVICE_CHOICES,
        default="auto",
        help="where the models run (default auto: CUDA when present, else the CPU)",
    )
    p.add_argument(
        "--dtype",
        choices=DTYPE_CHOICES,
        default="auto",
        help="inference dtype of the models (default auto: fp32 on the CPU, bf16 on CUDA)",
    )
    p.set_defaults(func=run_paint_cli)
    return p


def run_paint_cli(args: argparse.Namespace) -> int:
    from training.data.difference import make_backend
    from training.models.mask_generator import load_mask_generator
    from training.models.renderer import load_renderer
    from training.text_generator import TextGenerator

    layout = DataRoot.from_env(args.data_root)
    uri = layout.tracking_uri(args.tracking_uri)  # --tracking-uri, else $MLFLOW_TRACKING_URI, else <root>/mlflow.db
    # every input is checked before a model is loaded: bad ones cost nothing and leave nothing behind
    protected = protected_folders(layout.root)
    check_out_folder(args.out, protected)
    target, painting_size = read_painting(args.image)
    try:
        device, dtype = resolve(args.device, args.dtype)
    except ValueError as exc:  # --device cuda without CUDA: one line, before a model is loaded
        raise ValueError(f"--device {args.device}: {exc}") from None
    renderer = load_renderer(resolve_model(args.renderer, REGISTERED_MODELS["renderer"], uri)).to(device, dtype)
    masks = load_mask_generator(resolve_model(args.mask_generator, REGISTERED_MODELS["mask_generator"], uri))
    masks.to(device, dtype)
    text = TextGenerator.load(
        resolve_model(args.text_generator, REGISTERED_MODELS["text_generator"], uri),
        device=str(device),
        dtype=str(dtype).removeprefix("torch."),
    )
    config = PaintConfig(num_inference_steps=args.steps, dt_s=args.dt, max_steps=args.max_updates, seed=args.seed)
    bar = tqdm(total=config.max_steps, desc="canvas updates", unit="update")

    def on_step(index: int, step) -> None:
        bar.update(1)
        bar.set_postfix(text=step.text, D=f"{step.distance_to_target:.3f}", s=f"{step.seconds:.2f}")

    result = paint(target, renderer, masks, text.generate, make_backend(args.distance), config, on_step=on_step)
    bar.close()
    runtime = runtime_params(device, dtype)
    written = write_outputs(result, painting_size, args.out, source=args.image, protected=protected, runtime=runtime)
    seconds = [step.seconds for step in result.steps]
    per_update = f"{np.mean(seconds):.2f} s per canvas update (max {max(seconds):.2f})" if seconds else "no update"
    curve = result.distance_curve()
    width, height = output_size(painting_size)
    at = f"{width}x{height}"
    if (width, height) != painting_size:
        at += f", downscaled from {painting_size[0]}x{painting_size[1]}: outputs are at most {MAX_OUTPUT_SIDE} px"
    print(
        f"{len(result.steps)} updates ({result.stop_reason}), D̄ to the target {curve[0]:.3f} -> {curve[-1]:.3f} "
        f"[{result.distance_name}], {per_update} on {runtime['device']} in {runtime['dtype']}; "
        f"wrote {len(written)} files to {args.out} ({at})"
    )
    return 0
