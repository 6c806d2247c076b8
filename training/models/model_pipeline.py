"""What the mask generator and the renderer share: a trained core with the frozen parts it reads through.

As a diffusers pipeline holds its models, a :class:`ModelPipeline` holds the trained core (a diffusers
``ModelMixin``, saved and loaded with its own ``save_pretrained`` / ``from_pretrained``) and frozen parts (the
codec E, CLIP's text encoder g_p, ...). One folder holds them all::

    core/            the trained core (config.json + safetensors)
    vae/ tokenizer/ text_encoder/ [image_encoder/ scheduler/]   the frozen parts
    <META_FILE>      resolution and info (preset, init, output parametrisation, sampler defaults)

Folders written before the core was one model (``unet/``, ``time_encoder/``, ... side by side) still load.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Self

import torch
from diffusers import DDPMScheduler
from diffusers.models.modeling_utils import ModelMixin
from transformers import CLIPTextModel, CLIPTokenizer, CLIPVisionModelWithProjection

from training.data.storage import atomic_dir

from .codec import PixelCodec
from .frozen_encoders import encode_text
from .loading import freeze, load_codec

CORE_FOLDER = "core"


def _loader(cls) -> Callable[[Path, str], Any]:
    return lambda path, subfolder: cls.from_pretrained(path, subfolder=subfolder)


# frozen part (attribute) -> (subfolder, loader(folder, subfolder))
FROZEN_PARTS: dict[str, tuple[str, Callable[[Path, str], Any]]] = {
    "codec": ("vae", load_codec),
    "tokenizer": ("tokenizer", _loader(CLIPTokenizer)),
    "text_encoder": ("text_encoder", _loader(CLIPTextModel)),
    "image_encoder": ("image_encoder", _loader(CLIPVisionModelWithProjection)),
    "scheduler": ("scheduler", _loader(DDPMScheduler)),
}


class ModelPipeline:
    """A trained ``core`` and its frozen ``PARTS``; subclasses name them and add what they compute."""

    CORE: ClassVar[type[ModelMixin]]  # the core's class: from_pretrained, and from_legacy_folder for old folders
    PARTS: ClassVar[tuple[str, ...]]  # frozen parts, by attribute name (keys of FROZEN_PARTS)
    META_FILE: ClassVar[str]  # resolution and info, beside the subfolders
    WHAT: ClassVar[str]  # for error messages: "mask generator", "renderer"

    core: ModelMixin
    codec: Any
    tokenizer: CLIPTokenizer
    text_encoder: CLIPTextModel

    def __init__(self, core: ModelMixin, resolution: int, info: dict | None, parts: dict[str, Any]) -> None:
        self.core = core
        for name in self.PARTS:
            setattr(self, name, parts[name])
        self.resolution = int(resolution)
        self.info = dict(info or {})
        freeze(*self.frozen_modules())

    def frozen_modules(self) -> list[torch.nn.Module]:
        """The frozen parts that are torch modules (the tokenizer and the scheduler are not)."""
        return [m for m in (getattr(self, n) for n in self.PARTS) if isinstance(m, torch.nn.Module)]

    # ---------------------------------------------------------------- folder
    @classmethod
    def from_pretrained(cls, path: str | Path) -> Self:
        """Reload a folder written by :meth:`save_pretrained` (or by the older layout, see the module)."""
        path = Path(path)
        meta_path = path / cls.META_FILE
        if not meta_path.is_file():
            raise FileNotFoundError(
                f"{meta_path} missing: {path} is not a saved {cls.WHAT} (write one with save_pretrained, or train one)"
            )
        meta = json.loads(meta_path.read_text())
        info = meta.get("info") or {}
        if (path / CORE_FOLDER).is_dir():
            core = cls.CORE.from_pretrained(path, subfolder=CORE_FOLDER)
        else:  # written before the core was one diffusers model: its modules side by side
            core = cls.CORE.from_legacy_folder(path, info)
        parts = {name: FROZEN_PARTS[name][1](path, FROZEN_PARTS[name][0]) for name in cls.PARTS}
        return cls(core, resolution=meta["resolution"], info=info, **parts)

    def save_pretrained(self, path: str | Path) -> Path:
        """The core (diffusers ``save_pretrained``), each frozen part in its subfolder and the meta file, written
        to a temporary folder renamed to ``path``."""
        path = Path(path)
        with atomic_dir(path) as tmp:
            self.core.save_pretrained(tmp / CORE_FOLDER)
            for name in self.PARTS:
                getattr(self, name).save_pretrained(tmp / FROZEN_PARTS[name][0])
            meta = {"resolution": self.resolution, "info": self.info}
            (tmp / self.META_FILE).write_text(json.dumps(meta, indent=1))
        return path

    # ---------------------------------------------------------------- placement
    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> Self:
        """Every module on ``device``, cast to ``dtype`` when given (inference; inputs follow the weights)."""
        for m in (self.core, *(m for m in self.frozen_modules() if m is not self.codec)):
            m.to(device=device, dtype=dtype)
        # the pixel codec has no weights in its maths: moved, never cast (diffusers warns on a cast)
        if dtype is not None and not isinstance(self.codec, PixelCodec):
            self.codec.to(device, dtype)
        else:
            self.codec.to(device)
        return self

    @property
    def dtype(self) -> torch.dtype:
        return next(self.core.parameters()).dtype

    @property
    def device(self) -> torch.device:
        return next(self.core.parameters()).device

    def text_embeddings(self, texts: list[str]) -> torch.Tensor:
        """g_p: (B, 77, D) float32 token embeddings."""
        return encode_text(self.tokenizer, self.text_encoder, texts).float()
