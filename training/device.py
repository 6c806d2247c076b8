"""Where and in which precision the diffusion models run: ``--device`` / ``--dtype`` and their Config fields.

``auto`` picks CUDA when present, else the CPU; the dtype ``auto`` is float32 on the CPU (half precision there
is slow and lossy) and bfloat16 on CUDA (float16 where the card has no bf16: pre-Ampere). bf16 rather than the
paper's fp16 on Ampere/Hopper: the same speed, float32's exponent range, no loss scaling to tune.
"""

from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")
DTYPE_CHOICES = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
}
_SHORT = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
# accelerate's mixed_precision for each dtype (training keeps float32 master weights)
_MIXED = {torch.float32: "no", torch.bfloat16: "bf16", torch.float16: "fp16"}


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """``auto``/None -> cuda when available, else cpu; ``cpu``, ``cuda``, ``cuda:1`` as given (CUDA checked)."""
    if name is None or str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: CUDA is not available on this machine; use 'cpu' or 'auto'")
    return device


def resolve_dtype(name: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``auto``/None -> float32 on cpu, bfloat16 on cuda (float16 without bf16 support); else the named dtype."""
    if isinstance(name, torch.dtype):
        return name
    if name is None or name == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if name not in _DTYPES:
        raise ValueError(f"dtype {name!r}: use one of {', '.join(DTYPE_CHOICES)}")
    return _DTYPES[name]


def dtype_name(dtype: torch.dtype) -> str:
    """fp32 / bf16 / fp16: the short name logged as an MLflow param."""
    return _SHORT.get(dtype, str(dtype).removeprefix("torch."))


def mixed_precision(dtype: torch.dtype) -> str:
    """accelerate's ``mixed_precision`` for training in ``dtype``: no / bf16 / fp16."""
    return _MIXED[dtype]


def resolve(device: str | None = "auto", dtype: str | None = "auto") -> tuple[torch.device, torch.dtype]:
    """Both at once, the dtype for the resolved device."""
    dev = resolve_device(device)
    return dev, resolve_dtype(dtype, dev)


def runtime_params(device: torch.device, dtype: torch.dtype) -> dict[str, str]:
    """What a run records: the resolved device type and dtype (``device``, ``dtype`` params)."""
    return {"device": device.type, "dtype": dtype_name(dtype)}
