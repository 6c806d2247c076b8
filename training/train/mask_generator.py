"""Training the mask instruction generator g_mask + g_t (Eq. 3): BCE on the downsampled M_t."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from training.models.mask_generator import MaskGenerator, load_mask_generator
from training.models.presets import Preset, resolve_source

from .loop import LogFn, preset_hparams, run_training
from .pair_dataset import PairDataset
from .renderer import DROP_P
from .result import TrainResult


def mask_batch_inputs(gen: MaskGenerator, data: PairDataset, idx: np.ndarray, text_cache: dict) -> tuple:
    """(spatial input, text embeddings, dt, downsampled soft M_t target) of a batch."""
    b = data.batch(idx)
    spatial = gen.spatial_input(b["target"], b["prev"], b["md"])
    missing = [t for t in dict.fromkeys(b["text"]) if t not in text_cache]
    if missing:
        for t, e in zip(missing, gen.text_embeddings(missing), strict=True):
            text_cache[t] = e
    text = torch.stack([text_cache[t] for t in b["text"]]).to(spatial.device)
    mt = b["mt"].to(spatial.device)
    if gen.space_to_depth:  # the mask's cells, as g_mask outputs them
        target = F.pixel_unshuffle(mt, gen.factor)
    else:  # "downsampled GT mask": area average, so a latent cell half covered is a 0.5 target
        target = F.interpolate(mt, size=spatial.shape[-2:], mode="area")
    return spatial, text, b["dt_s"].to(spatial.device), target


def train_mask_generator(
    manifest: pd.DataFrame,
    preset: Preset | str | Path,
    out_dir: Path | str,
    steps: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    log: LogFn | None = None,
    checkpoint_every: int = 100,
    data_root: Path | str | None = None,
    preset_config: Preset | None = None,
    time_budget_s: float | None = None,
    log_every: int = 10,
    drop_p: float = DROP_P,
    device: str = "auto",
    mixed_precision: str | None = None,
    save_optimizer_state: bool = False,
    keep_checkpoints: int = 2,
) -> TrainResult:
    """Train g_mask on the manifest's train rows; resumes from out_dir/checkpoints when present.

    Text (to "") and the Δt token (to zero) are each dropped with probability ``drop_p``.

    ``preset`` is a Preset (initialise from its pretrained parts) or a saved mask-generator folder (fine-tune);
    steps / lr / batch_size default to the preset's App. A values.
    """
    preset = resolve_source(preset)
    hp = preset if isinstance(preset, Preset) else preset_config
    steps, lr, batch_size = preset_hparams(preset, preset_config, "mask", steps, lr, batch_size)
    torch.manual_seed(seed)
    gen = load_mask_generator(preset)
    data = PairDataset(manifest, gen.resolution, split="train", root=data_root)
    text_cache: dict[str, torch.Tensor] = {}

    def empty_text(device: torch.device) -> torch.Tensor:
        if "" not in text_cache:
            text_cache[""] = gen.text_embeddings([""])[0]
        return text_cache[""].to(device)[None]

    def loss_fn(model, idx, generator, device):
        gen.codec.to(device)
        gen.text_encoder.to(device)
        spatial, text, dt, target = mask_batch_inputs(gen, data, idx, text_cache)
        # classifier-free style dropout, as the renderer's (App. A.3), so -TG / -TE have an input they know
        n = len(idx)
        keep_text = (torch.rand(n, generator=generator) >= drop_p).float().to(device)
        keep_time = (torch.rand(n, generator=generator) >= drop_p).float().to(device)
        text = torch.where(keep_text.view(-1, 1, 1) > 0, text, empty_text(device).expand_as(text))
        logits = model(spatial, text, dt, keep_time)
        return F.binary_cross_entropy_with_logits(logits.float(), target)

    def save(core, folder):
        gen.core = core
        gen.save_pretrained(folder)

    result = run_training(
        gen.core,
        loss_fn,
        len(data),
        Path(out_dir),
        steps,
        lr,
        batch_size,
        seed,
        save,
        log=log,
        checkpoint_every=checkpoint_every,
        time_budget_s=time_budget_s,
        log_every=log_every,
        # None: the preset's (accelerate no / bf16 / fp16); the assets pass the resolved TrainConfig.dtype
        mixed_precision=mixed_precision or (hp.mixed_precision if hp else "no"),
        device=device,
        save_optimizer_state=save_optimizer_state,
        keep_checkpoints=keep_checkpoints,
    )
    return result
