"""Frozen encoders shared by the mask generator and the renderer: text g_p, CLIP image encoder, image tensors."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from transformers import CLIPTextModel, CLIPTokenizer, CLIPVisionModelWithProjection

# CLIPImageProcessor's normalisation (OpenAI CLIP)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def images_to_tensor(images: np.ndarray | list[np.ndarray], resolution: int | None) -> torch.Tensor:
    """uint8 RGB (H, W, 3) image(s) -> float (B, 3, R, R) in [-1, 1], resized (area) to the model resolution
    (``None``: kept at their size)."""
    batch = [images] if isinstance(images, np.ndarray) and images.ndim == 3 else list(images)
    out = []
    for img in batch:
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"expected a uint8 RGB image (H, W, 3), got {img.shape} {img.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float()[None] / 127.5 - 1.0
        if resolution is not None and t.shape[-2:] != (resolution, resolution):
            t = F.interpolate(t, size=(resolution, resolution), mode="area")
        out.append(t)
    return torch.cat(out)


def masks_to_tensor(masks: np.ndarray | list[np.ndarray], resolution: int) -> torch.Tensor:
    """Binary/soft (H, W) mask(s) -> float (B, 1, R, R) in [0, 1] (area resize, so edges stay soft)."""
    batch = [masks] if isinstance(masks, np.ndarray) and masks.ndim == 2 else list(masks)
    out = []
    for m in batch:
        m = np.asarray(m)
        t = torch.from_numpy(m.astype(np.float32) / (255.0 if m.dtype == np.uint8 else 1.0))[None, None]
        if t.shape[-2:] != (resolution, resolution):
            t = F.interpolate(t, size=(resolution, resolution), mode="area")
        out.append(t)
    return torch.cat(out)


def tensor_to_images(x: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [-1, 1] -> uint8 (B, H, W, 3)."""
    x = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


@torch.no_grad()
def encode_text(tokenizer: CLIPTokenizer, text_encoder: CLIPTextModel, texts: list[str]) -> torch.Tensor:
    """g_p: texts -> (B, 77, D) token embeddings (last hidden state, as Stable Diffusion conditions on)."""
    ids = tokenizer(
        list(texts), padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
    ).input_ids.to(text_encoder.device)
    return text_encoder(ids).last_hidden_state


@torch.no_grad()
def clip_image_embeds(image_encoder: CLIPVisionModelWithProjection, images: torch.Tensor) -> torch.Tensor:
    """CLIP image embeddings (projected) of images in [-1, 1]; the whole canvas is resized to the encoder's
    square input (no centre crop, which would cut the sides of a landscape painting)."""
    size = int(image_encoder.config.image_size)
    x = F.interpolate((images.float() + 1) / 2, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
    mean = torch.tensor(CLIP_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=x.device).view(1, 3, 1, 1)
    x = ((x - mean) / std).to(image_encoder.device, image_encoder.dtype)
    return image_encoder(pixel_values=x).image_embeds
