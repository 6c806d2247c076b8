"""Perceptual difference maps D(a, b) between canvas images, their binary masks at α, and helpers.

The paper (Sec. 3.2.2) derives the difference mask M_d = D(I_T, I_{t-1}, α) and the supervision mask
M_t = D(I_t, I_{t-1}, α) from a spatial LPIPS map [Zhang et al. 2018] binarised at α = 0.2. Two
backends produce such maps:

- :class:`LpipsDistance` ("lpips-alex-v0.1"): the paper's distance, spatial LPIPS with the AlexNet
  trunk (torchvision ImageNet weights, read from the torch hub cache) and the linear layers v0.1 that
  ship inside the ``lpips`` package.
- :class:`ColourStructureDistance` ("colour-structure-v1"): weight-free, runs anywhere: a blurred
  CIELAB colour difference at two scales that forgives 1-px misregistration, plus a local-structure
  (SSIM contrast/structure) difference. Its threshold (0.36, not 0.2) is calibrated on the synthetic
  studio's ground truth (see the class docstring and ``CALIBRATION``).

Every map is float32 (H, W) at the input resolution, roughly in [0, 1]; a number computed from a map
should be stored with the backend's ``name`` so LPIPS and non-LPIPS values are never mixed.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

log = logging.getLogger(__name__)

LPIPS_ALPHA = 0.2  # Sec. 3.2.2: "binarized using a threshold α = 0.2"
LPIPS_STOP = 0.1  # the released inference code stops painting when LPIPS(target, canvas) < 0.1

# torchvision checkpoint file of each lpips trunk (the file name torch.hub stores it under).
_TRUNK_CHECKPOINTS = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}


@runtime_checkable
class DistanceBackend(Protocol):
    """A spatial perceptual distance: batches of image pairs -> per-pixel difference maps."""

    name: str
    threshold: float
    stop_distance: float  # the painting loop stops when D̄(target, canvas) falls below this

    def maps(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """a, b: (N, H, W, 3) uint8 RGB batches of the same size -> (N, H, W) float32 difference maps."""
        ...


def _check_batches(a: np.ndarray, b: np.ndarray) -> None:
    for label, x in (("a", a), ("b", b)):
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(
                f"batch {label} must be (N, H, W, 3) uint8 RGB, got {x.shape} {x.dtype}; stack images with np.stack"
            )
    if a.shape != b.shape:
        raise ValueError(f"the two batches differ in shape ({a.shape} vs {b.shape}); resize one side to the other")


def image_key(image: np.ndarray) -> bytes:
    """Content hash of an image: equal pixels and shape, equal key."""
    image = np.ascontiguousarray(image)
    # sha1, not blake2b: CPUs hash it in hardware (twice as fast here), and a content key needs no secrecy
    digest = hashlib.sha1(repr(image.shape).encode(), usedforsecurity=False)
    digest.update(image.data)
    return digest.digest()


def _unique_images(a: np.ndarray, b: np.ndarray) -> tuple[list[bytes], list[np.ndarray], np.ndarray, np.ndarray]:
    """Keys and pixels of the distinct images of both batches and, per pair, the index of its a and b image.

    Pairs of one painting share images (consecutive pairs share a frame, every M_d pair shares I_T), so
    per-image work (a CNN trunk, colour conversion) runs once per distinct image.
    """
    seen: dict[bytes, int] = {}
    keys: list[bytes] = []
    unique: list[np.ndarray] = []

    def index(image: np.ndarray) -> int:
        key = image_key(image)
        if key not in seen:
            seen[key] = len(unique)
            keys.append(key)
            unique.append(image)
        return seen[key]

    ia = np.array([index(x) for x in a], dtype=np.int64)
    ib = np.array([index(x) for x in b], dtype=np.int64)
    return keys, unique, ia, ib


class RecentImages:
    """Per-image results of the last few distinct images, so work shared by consecutive calls runs once.

    Pairs arrive in a painting's order (``sequence_pairs``): I_{t-1} of one call is I_t of the previous
    one, and I_T is in every call. Keeping a handful of results (keyed by content) means each keyframe's
    per-image work runs once for the whole painting, not once per batch.
    """

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._items: OrderedDict[bytes, object] = OrderedDict()

    def resolve(self, keys: list[bytes], images: list[np.ndarray], compute: Callable[[list[np.ndarray]], list]) -> list:
        """Results for ``images`` (identified by ``keys``): cached ones reused, the rest computed in one call."""
        missing = [k for k, key in enumerate(keys) if key not in self._items]
        fresh = dict(zip(missing, compute([images[k] for k in missing]), strict=True)) if missing else {}
        out = [fresh[k] if k in fresh else self._items[key] for k, key in enumerate(keys)]
        for key, value in zip(keys, out, strict=True):
            self._items[key] = value
            self._items.move_to_end(key)
        while len(self._items) > max(self.size, 0):
            self._items.popitem(last=False)
        return out

    def clear(self) -> None:
        self._items.clear()


# --------------------------------------------------------------------------------------------- LPIPS


def lpips_checkpoint_path(net: str = "alex") -> Path:
    """Where torchvision keeps the ImageNet weights of an lpips trunk (the torch hub cache)."""
    import torch

    if net not in _TRUNK_CHECKPOINTS:
        raise ValueError(f"unknown lpips trunk {net!r}; use one of {sorted(_TRUNK_CHECKPOINTS)}")
    return Path(torch.hub.get_dir()) / "checkpoints" / _TRUNK_CHECKPOINTS[net]


def lpips_weights_available(net: str = "alex") -> bool:
    """True when torchvision's trunk weights for LPIPS are in the local torch hub cache (never downloads)."""
    return lpips_checkpoint_path(net).is_file()


LPIPS_PREFIX = "lpips-"  # backend names: lpips-<trunk>-v<version>, plus this suffix on a random trunk
RANDOM_BACKBONE_SUFFIX = "-random-backbone"


def is_true_lpips(backend_name: str) -> bool:
    """True when the distance backend named so is the paper's LPIPS (a pretrained trunk), not a stand-in."""
    return backend_name.startswith(LPIPS_PREFIX) and not backend_name.endswith(RANDOM_BACKBONE_SUFFIX)


class LpipsDistance:
    """Spatial LPIPS (``lpips.LPIPS(net, version, spatial=True)``), α = 0.2 as in the paper.

    Images are scaled to [-1, 1] as lpips expects. ``maps`` computes the trunk once per distinct image
    of a batch and applies the linear layers per pair, the same arithmetic as ``LPIPS.forward``; on a CPU
    that sharing is where the speed of batching comes from (see benchmarks/difference_masks.py timing).
    ``chunk`` = images (and pairs) per torch call inside a batch (default 2 on a CPU, 64 on a GPU).
    With ``pretrained_backbone=False`` the trunk is random (for tests and timing without weights); that
    is not LPIPS, so the name says "-random-backbone".
    """

    threshold: float = LPIPS_ALPHA
    stop_distance: float = LPIPS_STOP

    def __init__(
        self,
        net: str = "alex",
        version: str = "0.1",
        device: str | None = None,
        pretrained_backbone: bool = True,
        chunk: int | None = None,
    ) -> None:
        import lpips
        import torch

        if net not in _TRUNK_CHECKPOINTS:
            raise ValueError(f"unknown lpips trunk {net!r}; use one of {sorted(_TRUNK_CHECKPOINTS)}")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.name = f"{LPIPS_PREFIX}{net}-v{version}" + ("" if pretrained_backbone else RANDOM_BACKBONE_SUFFIX)
        with warnings.catch_warnings():
            # lpips still passes torchvision the deprecated `pretrained=` flag; the behaviour is unchanged
            warnings.filterwarnings("ignore", message="Arguments other than a weight enum", category=UserWarning)
            warnings.filterwarnings("ignore", message="The parameter 'pretrained' is deprecated", category=UserWarning)
            try:
                model = lpips.LPIPS(
                    net=net, version=version, spatial=True, pnet_rand=not pretrained_backbone, verbose=False
                )
            except (OSError, RuntimeError) as exc:  # urllib errors are OSErrors
                raise RuntimeError(
                    f"could not load the {net} trunk weights for LPIPS ({exc}). torchvision looks for "
                    f"{lpips_checkpoint_path(net)}; copy that file there, or use the weight-free backend "
                    "(make_backend('colour-structure'))"
                ) from exc
        self._model = model.to(self.device).eval()
        convs = [lin.model[-1] for lin in self._model.lins]
        if any(conv.bias is not None or conv.kernel_size != (1, 1) or conv.out_channels != 1 for conv in convs):
            raise RuntimeError("this lpips version's linear layers are not bias-free 1x1 convolutions to one channel")
        self._lin_weights = [conv.weight.detach().flatten() for conv in convs]
        gain, bias = torch.full((1, 3, 1, 1), 1 / 127.5), torch.full((1, 3, 1, 1), -1.0)
        if version == "0.1":  # v0.1 feeds the trunk (x - shift) / scale
            scaling = self._model.scaling_layer
            gain, bias = gain / scaling.scale.cpu(), (bias - scaling.shift.cpu()) / scaling.scale.cpu()
        self._input_gain, self._input_bias = gain.to(self.device), bias.to(self.device)
        self._torch = torch
        # images (and pairs) per torch call: on a CPU large batches only add memory traffic (the convolutions
        # are already multi-threaded), on a GPU they fill the device
        self.chunk = chunk or (64 if self.device.type == "cuda" else 2)
        self._recent = RecentImages()

    def maps(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 batches -> (N, H, W) float32 spatial LPIPS maps."""
        _check_batches(a, b)
        if len(a) == 0:
            return np.zeros(a.shape[:3], np.float32)
        torch = self._torch
        keys, unique, ia, ib = _unique_images(a, b)
        step = self.chunk
        with torch.inference_mode():
            per_image = self._recent.resolve(keys, unique, self._features_per_image)
            out = [
                self._pair_maps(per_image, ia[k : k + step], ib[k : k + step], a.shape[1:3])
                for k in range(0, len(a), step)
            ]
        return np.concatenate(out).astype(np.float32, copy=False)

    def _features_per_image(self, images: list[np.ndarray]) -> list[list]:
        """Trunk activations of each image (a list of layers per image), ``chunk`` images per forward pass."""
        out: list[list] = []
        for k in range(0, len(images), self.chunk):
            layers = self._features(np.stack(images[k : k + self.chunk]))
            out.extend([list(per) for per in zip(*layers, strict=True)])
        return out

    def _features(self, images: np.ndarray) -> list:
        """Unit-normalised trunk activations of a few images, as ``LPIPS.forward`` computes them."""
        x = self._torch.from_numpy(images).to(self.device).permute(0, 3, 1, 2).float()
        # [0, 255] -> [-1, 1] and lpips' ScalingLayer folded into one multiply-add per channel
        x.mul_(self._input_gain).add_(self._input_bias)
        out = []
        for f in self._model.net.forward(x):
            # lpips.normalize_tensor, in place and with one fused norm
            out.append(f.div_(self._torch.linalg.vector_norm(f, dim=1, keepdim=True).add_(1e-10)))
        return out

    def _pair_maps(self, per_image: list, ia: np.ndarray, ib: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Maps of a few pairs from the per-image activations (pairs index into ``per_image``)."""
        torch = self._torch
        by_size: dict[tuple[int, int], list] = {}
        buffers = [torch.empty_like(f) for f in per_image[ia[0]]]  # one scratch tensor per layer, reused
        for i, j in zip(ia, ib, strict=True):
            # each lin layer is a bias-free 1x1 convolution to one channel: a weighted sum over channels,
            # done as one matrix-vector product per layer (no batch of squared differences is stacked)
            pair: dict[tuple[int, int], object] = {}
            for level, weight in enumerate(self._lin_weights):
                diff = torch.sub(per_image[i][level], per_image[j][level], out=buffers[level]).square_()
                layer = torch.matmul(weight, diff.flatten(1)).view(1, 1, *diff.shape[1:])
                shape = tuple(diff.shape[1:])
                # bilinear upsampling is linear: layers of equal resolution (AlexNet's conv3-5) are summed first
                pair[shape] = layer if shape not in pair else pair[shape].add_(layer)
            for shape, layer in pair.items():
                by_size.setdefault(shape, []).append(layer)
        total = sum(
            torch.nn.functional.interpolate(torch.cat(layers), size=size, mode="bilinear", align_corners=False)
            for layers in by_size.values()
        )
        return total[:, 0].cpu().numpy()


# ------------------------------------------------------------------------------------- weight-free


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT) if sigma > 0 else x


class _Prepared:
    """Per-image quantities of the colour-structure distance (computed once per distinct image)."""

    __slots__ = ("hi", "hi_coarse", "lab", "lab_coarse", "lo", "lo_coarse", "lum", "mu", "var")

    def __init__(
        self, image: np.ndarray, denoise_sigma: float, structure_sigma: float, edge_px: int, shift_px: int
    ) -> None:
        rgb = image.astype(np.float32) / 255.0
        h, w = rgb.shape[:2]
        if edge_px > 0 and 2 * edge_px < min(h, w):
            # a rectified canvas mixes the surrounding studio into its outermost pixels (sub-pixel corners,
            # anti-aliasing) and that mix changes with camera drift: take the nearest inner pixels instead
            inner = rgb[edge_px : h - edge_px, edge_px : w - edge_px]
            rgb = cv2.copyMakeBorder(inner, edge_px, edge_px, edge_px, edge_px, cv2.BORDER_REPLICATE)
        rgb = _blur(rgb, denoise_sigma)
        self.lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)  # L in 0..100, a/b about -100..100
        h, w = self.lab.shape[:2]
        self.lab_coarse = cv2.resize(self.lab, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
        if shift_px > 0:
            kernel = np.ones((2 * shift_px + 1, 2 * shift_px + 1), np.uint8)
            self.lo, self.hi = cv2.erode(self.lab, kernel), cv2.dilate(self.lab, kernel)
            self.lo_coarse, self.hi_coarse = cv2.erode(self.lab_coarse, kernel), cv2.dilate(self.lab_coarse, kernel)
        self.lum = np.ascontiguousarray(self.lab[:, :, 0])
        self.mu = _blur(self.lum, structure_sigma)
        # not clamped at 0: the pair covariance is computed the same way, so identical images give cs == 1 exactly
        self.var = _blur(self.lum * self.lum, structure_sigma) - self.mu * self.mu


def _delta_e(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(((a - b) ** 2).sum(axis=2))


def _tolerant_delta_e(a: np.ndarray, a_lo: np.ndarray, a_hi: np.ndarray, b: np.ndarray, b_lo, b_hi) -> np.ndarray:
    """ΔE76 that forgives misregistration of a few pixels.

    ``x_lo``/``x_hi`` are per-channel minimum/maximum filters of image x. A pixel of a differs by the
    distance from its colour to the box of colours around the same place in b (0 inside the box), the
    larger of the two directions: new paint falls outside both boxes, an edge shifted by a pixel does not.
    """
    ab = np.maximum(np.maximum(a - b_hi, b_lo - a), 0)
    ba = np.maximum(np.maximum(b - a_hi, a_lo - b), 0)
    return np.sqrt(np.maximum((ab * ab).sum(axis=2), (ba * ba).sum(axis=2)))


_COLOUR_STRUCTURE_V1 = (1.0, 1.0, 12.0, 2.0, 1.0, 1, 1)  # the parameters the name "colour-structure-v1" stands for


class ColourStructureDistance:
    """Weight-free per-pixel difference: CIELAB ΔE at two scales + local structure, denoised and pooled.

    For images a, b (RGB uint8), after a Gaussian blur of ``denoise_sigma`` px against sensor noise
    and H.264 blocking:

    - colour: ΔE76 in CIELAB at full resolution and at half resolution (upsampled), averaged; with
      ``shift_px`` > 0 each pixel is compared with the range of colours within ``shift_px`` of it in
      the other image (see :func:`_tolerant_delta_e`), so a canvas registered a pixel off between two
      frames does not light up every edge, while new paint still does;
    - structure: 1 − the contrast-structure term of SSIM on L (window σ = ``structure_sigma``), which
      sees new texture or edges of the same mean colour (a detail pass, a brush pattern);
    - map = 1 − exp(−(ΔE / ``colour_scale`` + (1 − cs) / ``structure_scale``)), in [0, 1), then
      Gaussian pooling of ``pool_sigma`` px so that a region of strokes reads as one region.

    The outermost ``edge_px`` pixel rows and columns are replaced by their inner neighbours first: a
    rectified canvas mixes the studio around it into them, and that mix changes with camera drift.

    Threshold calibration (``benchmarks/difference_masks.py calibrate``): synthetic studio seeds
    1000-1009 (StudioConfig defaults: 60 s, 640x480, 25 fps, canvas long side 512), filmed as H.264 and
    decoded with PyAV; a frame every 4 s where the truth says the canvas is not occluded, rectified with
    the truth corners; ground-truth change mask of a pair = pixels whose true canvas (``canvas_at``)
    changed by more than 8/255 in some channel, compared with a 1-px tolerance. The threshold is the
    value of a 0.01-step grid that maximises the mean IoU over all M_t and M_d pairs of those seeds
    (``CALIBRATION``: 0.36, IoU 0.755). The other parameters come from a small sweep on the same seeds,
    rectified both with the truth corners and with corners off by N(0, 1 px) as a detector's would be:
    without shift tolerance and with a strong structure term (scale 0.5) the truth-corner IoU was 0.762
    but the jittered one 0.640; the chosen setting gives 0.755 and 0.686. Held-out seeds 1010-1019 (never
    used for tuning): see the benchmark's ``evaluate``.
    """

    threshold: float
    stop_distance: float = 0.05  # see STOP_CALIBRATION

    def __init__(
        self,
        threshold: float | None = None,
        denoise_sigma: float = 1.0,
        structure_sigma: float = 1.0,
        colour_scale: float = 12.0,
        structure_scale: float = 2.0,
        pool_sigma: float = 1.0,
        edge_px: int = 1,
        shift_px: int = 1,
    ) -> None:
        params = (denoise_sigma, structure_sigma, colour_scale, structure_scale, pool_sigma, edge_px, shift_px)
        # maps from other parameters are a different distance: their numbers must not pass as v1's
        self.name = "colour-structure-v1" + ("" if params == _COLOUR_STRUCTURE_V1 else "-custom")
        self.threshold = CALIBRATION["threshold"] if threshold is None else float(threshold)
        self.denoise_sigma = denoise_sigma
        self.structure_sigma = structure_sigma
        self.colour_scale = colour_scale
        self.structure_scale = structure_scale
        self.pool_sigma = pool_sigma
        self.edge_px = edge_px
        self.shift_px = shift_px
        self._recent = RecentImages()

    def _pair(self, pa: _Prepared, pb: _Prepared) -> np.ndarray:
        h, w = pa.lab.shape[:2]
        if self.shift_px > 0:
            fine = _tolerant_delta_e(pa.lab, pa.lo, pa.hi, pb.lab, pb.lo, pb.hi)
            coarse = _tolerant_delta_e(
                pa.lab_coarse, pa.lo_coarse, pa.hi_coarse, pb.lab_coarse, pb.lo_coarse, pb.hi_coarse
            )
        else:
            fine, coarse = _delta_e(pa.lab, pb.lab), _delta_e(pa.lab_coarse, pb.lab_coarse)
        delta_e = 0.5 * (fine + cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR))
        cov = _blur(pa.lum * pb.lum, self.structure_sigma) - pa.mu * pb.mu
        c2 = 9.0  # (0.03 * L range 100) ** 2, the SSIM constant for L
        cs = (2 * cov + c2) / (pa.var + pb.var + c2)
        structure = np.clip(1.0 - cs, 0.0, 2.0)
        raw = 1.0 - np.exp(-(delta_e / self.colour_scale + structure / self.structure_scale))
        return _blur(raw.astype(np.float32), self.pool_sigma)

    def _prepare(self, images: list[np.ndarray]) -> list[_Prepared]:
        return [_Prepared(x, self.denoise_sigma, self.structure_sigma, self.edge_px, self.shift_px) for x in images]

    def maps(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 batches -> (N, H, W) float32 maps in [0, 1)."""
        _check_batches(a, b)
        keys, unique, ia, ib = _unique_images(a, b)
        prepared = self._recent.resolve(keys, unique, self._prepare)
        out = np.empty(a.shape[:3], np.float32)
        for k, (i, j) in enumerate(zip(ia, ib, strict=True)):
            out[k] = self._pair(prepared[i], prepared[j])
        return out


# Result of the calibration described in ColourStructureDistance, with the default parameters above:
# `.venv/bin/python benchmarks/difference_masks.py calibrate` (126 M_t + 126 M_d pairs; IoU is within 0.01
# of the best for thresholds 0.31-0.41). Rerun it after changing the distance, and update this record.
CALIBRATION: dict = {
    "threshold": 0.36,
    "seeds": "1000-1009",
    "corners": "truth",
    "grid": "0.05-0.95 step 0.01",
    "pairs": 252,
    "mean_iou": 0.755,
    "mean_iou_m_t": 0.688,
    "mean_iou_m_d": 0.823,
    "mean_iou_corner_jitter_1px": 0.686,
}


# -------------------------------------------------------------------------------------------- API


def make_backend(name: str = "auto", device: str | None = None) -> DistanceBackend:
    """Backend by name: lpips, colour-structure, or auto (LPIPS when its trunk weights are cached locally)."""
    if name == "auto":
        name = "lpips" if lpips_weights_available() else "colour-structure"
        log.info("distance backend auto -> %s", name)
    if name == "lpips":
        return LpipsDistance(device=device)
    if name == "colour-structure":
        return ColourStructureDistance()
    raise ValueError(f"unknown distance backend {name!r}; use 'lpips', 'colour-structure' or 'auto'")


def distance_maps(
    backend: DistanceBackend, pairs: Iterable[tuple[np.ndarray, np.ndarray]], batch_size: int = 8
) -> Iterator[np.ndarray]:
    """One (H, W) float32 map per (a, b) pair, in order, computing up to ``batch_size`` pairs per call.

    Consecutive pairs of the same size share a batch; a size change starts a new one. Pairs that share
    images (a chain of keyframes, every pair against I_T) cost less per pair, since each distinct image
    is processed once per batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    batch: list[tuple[np.ndarray, np.ndarray]] = []

    def flush() -> Iterator[np.ndarray]:
        a = np.stack([p[0] for p in batch])
        b = np.stack([p[1] for p in batch])
        yield from backend.maps(a, b)
        batch.clear()

    for pair in pairs:
        a, b = pair
        if a.shape != b.shape:
            raise ValueError(f"pair {a.shape} vs {b.shape}: both images of a pair must have the same size")
        if batch and (len(batch) >= batch_size or batch[0][0].shape != a.shape):
            yield from flush()
        batch.append((a, b))
    if batch:
        yield from flush()


def sequence_pairs(
    frames: Sequence[np.ndarray], target: np.ndarray
) -> list[tuple[str, int, tuple[np.ndarray, np.ndarray]]]:
    """The M_t and M_d pairs of a keyframe sequence, interleaved so that a batch shares its images.

    ``frames`` = I_0 (white canvas) … I_{K}; returns ``("m_t", t, (I_t, I_{t-1}))`` and
    ``("m_d", t, (I_T, I_{t-1}))`` for t = 1..K, in the order to feed to :func:`distance_maps`.
    """
    out: list[tuple[str, int, tuple[np.ndarray, np.ndarray]]] = []
    for t in range(1, len(frames)):
        out.append(("m_t", t, (frames[t], frames[t - 1])))
        out.append(("m_d", t, (target, frames[t - 1])))
    return out


def to_soft_png(map_: np.ndarray) -> np.ndarray:
    """The map as stored on disk: uint8 value×255, clipped to 0..255."""
    return np.clip(np.rint(np.asarray(map_, np.float32) * 255.0), 0, 255).astype(np.uint8)


def binarize(map_: np.ndarray, threshold: float) -> np.ndarray:
    """Boolean mask of the pixels whose distance is above ``threshold`` (α)."""
    return np.asarray(map_) > threshold


def mean_distance(map_: np.ndarray) -> float:
    """D̄: the mean of a difference map."""
    m = np.asarray(map_, np.float64)
    if m.size == 0:
        raise ValueError("mean_distance of an empty map is undefined")
    return float(m.mean())


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two masks of one shape; two empty masks -> 1.0."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    if a.shape != b.shape:
        raise ValueError(f"masks differ in shape ({a.shape} vs {b.shape}); resize one to the other first")
    union = int(np.count_nonzero(a | b))
    if union == 0:
        return 1.0
    return int(np.count_nonzero(a & b)) / union
