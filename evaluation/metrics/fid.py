"""FID with the Inception-v3 of pytorch-fid (the TensorFlow FID network ported to PyTorch).

pytorch-fid is not a dependency: :class:`FidInception` builds the same network from torchvision's
Inception-v3 (1008 classes, no auxiliary head) with pytorch-fid's changed pooling in the Mixed_5*,
Mixed_6b-e and Mixed_7* blocks (average pooling without the padded zeros; max pooling in Mixed_7c), so
pytorch-fid's checkpoint ``pt_inception-2015-12-05-6726825d.pth`` loads into it key for key. Images are
resized to 299×299 (bilinear) and scaled to [-1, 1]; the features are the 2048-d pool3 activations.

The weights come from a local file or from the release URL through the torch hub cache; nothing is
downloaded unless ``allow_download=True``. When they are not there, FID is recorded as missing with
the reason (:func:`load_fid_or_reason`), never as a number.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import inception as tv

from evaluation.metrics.value import MetricValue

FID_WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
)
FEATURE_DIM = 2048
INPUT_SIZE = 299


def _avg_pool_unpadded(x: torch.Tensor) -> torch.Tensor:
    # the TensorFlow graph averages over the valid pixels only at the borders
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class _FidA(tv.InceptionA):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(_avg_pool_unpadded(x))], 1)


class _FidC(tv.InceptionC):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4):
            d = layer(d)
        d = self.branch7x7dbl_5(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(_avg_pool_unpadded(x))], 1)


class _FidE(tv.InceptionE):
    def __init__(self, in_channels: int, max_pool: bool) -> None:
        super().__init__(in_channels)
        self.max_pool = max_pool  # Mixed_7c of the TF graph max-pools (a bug there that FID keeps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        d = torch.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], 1)
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _avg_pool_unpadded(x)
        return torch.cat([self.branch1x1(x), b3, d, self.branch_pool(pooled)], 1)


class FidInception(nn.Module):
    """pytorch-fid's Inception-v3 up to the 2048-d pool3 features (random init until weights are loaded)."""

    def __init__(self) -> None:
        super().__init__()
        net = tv.Inception3(num_classes=1008, aux_logits=False, init_weights=False)
        net.Mixed_5b = _FidA(192, pool_features=32)
        net.Mixed_5c = _FidA(256, pool_features=64)
        net.Mixed_5d = _FidA(288, pool_features=64)
        net.Mixed_6b = _FidC(768, channels_7x7=128)
        net.Mixed_6c = _FidC(768, channels_7x7=160)
        net.Mixed_6d = _FidC(768, channels_7x7=160)
        net.Mixed_6e = _FidC(768, channels_7x7=192)
        net.Mixed_7b = _FidE(1280, max_pool=False)
        net.Mixed_7c = _FidE(2048, max_pool=True)
        self.net = net
        self.name = "pytorch-fid-inception-v3 (random weights)"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 3, H, W) in [0, 1] -> (N, 2048) pool3 features."""
        n = self.net
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        for layer in (n.Conv2d_1a_3x3, n.Conv2d_2a_3x3, n.Conv2d_2b_3x3, n.maxpool1, n.Conv2d_3b_1x1):
            x = layer(x)
        for layer in (n.Conv2d_4a_3x3, n.maxpool2, n.Mixed_5b, n.Mixed_5c, n.Mixed_5d, n.Mixed_6a, n.Mixed_6b):
            x = layer(x)
        for layer in (n.Mixed_6c, n.Mixed_6d, n.Mixed_6e, n.Mixed_7a, n.Mixed_7b, n.Mixed_7c, n.avgpool):
            x = layer(x)
        return torch.flatten(x, 1)

    def load_checkpoint(self, state: dict) -> None:
        # the checkpoint is a state dict of the torchvision-layout network (self.net)
        self.net.load_state_dict(state, strict=True)

    def state_for_checkpoint(self) -> dict:
        return self.net.state_dict()

    @torch.inference_mode()
    def features(self, images: list[np.ndarray], batch_size: int = 8) -> np.ndarray:
        """uint8 (H, W, 3) RGB images -> (N, 2048) float64 features."""
        device = next(self.parameters()).device
        out = []
        for start in range(0, len(images), batch_size):
            batch = np.stack(images[start : start + batch_size])
            x = torch.from_numpy(batch).to(device).permute(0, 3, 1, 2).float() / 255.0
            out.append(self(x).double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, FEATURE_DIM))


def _cached_path(url: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def load_fid_inception(
    weights: str | Path = FID_WEIGHTS_URL, device: str | None = None, allow_download: bool = False
) -> FidInception:
    """The FID network with weights from a local file, or from a URL via the torch hub cache.

    A URL is read from ``<torch hub dir>/checkpoints/<file name>``; it is fetched only with
    ``allow_download=True``. Raises FileNotFoundError naming where the file was looked for.
    """
    text = str(weights)
    if text.startswith(("http://", "https://")):
        cached = _cached_path(text)
        if cached.is_file():
            path = cached
        elif allow_download:
            state = torch.hub.load_state_dict_from_url(text, map_location="cpu", progress=False)
            path = None
        else:
            raise FileNotFoundError(
                f"FID Inception weights not found at {cached}; download {text} there, or pass a local "
                "checkpoint path (--fid-weights)"
            )
    else:
        path = Path(text)
        if not path.is_file():
            raise FileNotFoundError(
                f"FID Inception weights {path} do not exist; pass the path of pytorch-fid's "
                "pt_inception-2015-12-05-6726825d.pth"
            )
    if path is not None:
        state = torch.load(path, map_location="cpu", weights_only=True)
    model = FidInception()
    try:
        model.load_checkpoint(state)
    except RuntimeError as exc:
        raise ValueError(f"{weights}: not a pytorch-fid Inception-v3 checkpoint ({str(exc)[:300]})") from exc
    model.name = f"pytorch-fid-inception-v3:{text.rsplit('/', 1)[-1]}"
    return model.to(device or "cpu").eval()


def load_fid_or_reason(
    weights: str | Path | None = FID_WEIGHTS_URL, device: str | None = None, allow_download: bool = False
) -> tuple[FidInception | None, str | None]:
    """(model, None) when the weights load, else (None, why): FID is then reported as missing."""
    if weights is None:
        return None, "FID disabled (no Inception weights configured)"
    try:
        return load_fid_inception(weights, device=device, allow_download=allow_download), None
    except (FileNotFoundError, ValueError, OSError) as exc:
        return None, str(exc)


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(features, np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr((Σ1 Σ2)^½) = Σ √λ of Σ1^½ Σ2 Σ1^½ (same eigenvalues, symmetric, so exact for singular Σ too)."""
    root = _psd_sqrt(sigma1)
    values = np.linalg.eigvalsh(root @ sigma2 @ root)
    return float(np.sqrt(np.clip(values, 0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½) between two Gaussians (Heusel et al. 2017).

    The trace of the square root comes from symmetric eigendecompositions instead of pytorch-fid's
    ``scipy.linalg.sqrtm`` of the non-symmetric product: the same value (up to rounding) and exact when a
    covariance is singular (fewer frames than 2048 features), where pytorch-fid adds 1e-6 to the diagonals.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics differ in shape: {mu1.shape}/{sigma1.shape} vs {mu2.shape}/{sigma2.shape}")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt_product(sigma1, sigma2))


def _frechet_from_samples(real: np.ndarray, generated: np.ndarray) -> float:
    """The Fréchet distance of the samples' Gaussians without forming the 2048×2048 covariances.

    With A = centred real / √(n1−1) and B likewise, Σ1 = AᵀA and Σ2 = BᵀB; the non-zero eigenvalues of
    Σ1 Σ2 are the squared singular values of A Bᵀ (n1×n2), so Tr((Σ1 Σ2)^½) is the nuclear norm of A Bᵀ.
    """
    a = (real - real.mean(axis=0)) / np.sqrt(len(real) - 1)
    b = (generated - generated.mean(axis=0)) / np.sqrt(len(generated) - 1)
    diff = real.mean(axis=0) - generated.mean(axis=0)
    nuclear = np.linalg.svd(a @ b.T, compute_uv=False).sum()
    return float(diff @ diff + (a * a).sum() + (b * b).sum() - 2 * nuclear)


def fid_from_features(real: np.ndarray, generated: np.ndarray) -> MetricValue:
    """FID between two feature sets; missing (with the reason) when a side has fewer than 2 frames."""
    real, generated = np.asarray(real, np.float64), np.asarray(generated, np.float64)
    if len(real) < 2 or len(generated) < 2:
        counts = f"got {len(real)} real, {len(generated)} generated"
        return MetricValue(None, f"FID needs at least 2 frames per side, {counts}")
    dim = real.shape[1]
    if len(real) * len(generated) <= dim * dim:
        value = _frechet_from_samples(real, generated)
    else:
        value = frechet_distance(*gaussian_stats(real), *gaussian_stats(generated))
    return MetricValue(max(value, 0.0))  # rounding can take an exact 0 a hair below
