"""Training the renderer g_u + g_r + g_f + g_t + g_c jointly with the noise-prediction loss (Eq. 1)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from training.models.presets import Preset, resolve_source
from training.models.renderer import CONDITIONS, load_renderer

from .loop import LogFn, preset_hparams, run_training
from .pair_dataset import PairDataset
from .result import TrainResult

DROP_P = 0.1  # App. A.3: each conditional signal dropped 10 % of the time


def _regression_target(sched, z0: torch.Tensor, noise: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """What g_u regresses: ε (Eq. 1, the paper and SD-1.5's scheduler), or z_0 / v when the preset's scheduler
    is configured for those parametrisations (the tiny preset predicts z_0; see ``training.models.presets``)."""
    kind = sched.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "sample":
        return z0
    if kind == "v_prediction":
        return sched.get_velocity(z0, noise, s)
    raise ValueError(f"scheduler prediction_type {kind!r} is not supported; use epsilon, sample or v_prediction")


def train_renderer(
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
    """Train the renderer on the manifest's train rows (ground-truth text and M_t); resumes when possible."""
    preset = resolve_source(preset)
    hp = preset if isinstance(preset, Preset) else preset_config
    steps, lr, batch_size = preset_hparams(preset, preset_config, "renderer", steps, lr, batch_size)
    torch.manual_seed(seed)
    rend = load_renderer(preset)
    data = PairDataset(manifest, rend.resolution, split="train", root=data_root)
    sched = rend.scheduler
    text_cache: dict[str, torch.Tensor] = {}
    clip_cache: dict[int, torch.Tensor] = {}

    def loss_fn(model, idx, generator, device):
        for m in (rend.codec, rend.text_encoder, rend.image_encoder):
            m.to(device)
        b = data.batch(idx)
        prev, nxt, target = b["prev"].to(device), b["next"].to(device), b["target"].to(device)
        z0 = rend.encode(nxt)
        zt = rend.encode(target)
        missing = [t for t in dict.fromkeys(b["text"]) if t not in text_cache]
        if missing:
            for t, e in zip(missing, rend.text_embeddings(missing), strict=True):
                text_cache[t] = e
        text = torch.stack([text_cache[t] for t in b["text"]]).to(device)
        # CLIP embeddings of fixed images: computed once per manifest row
        for i in idx:
            if int(i) not in clip_cache:
                item = data[int(i)]
                pair = torch.stack([item["prev"], item["target"]]).to(device)
                clip_cache[int(i)] = rend.clip(pair).cpu()
        clips = torch.stack([clip_cache[int(i)] for i in idx]).to(device)
        n = len(idx)
        noise = torch.randn(z0.shape, generator=generator).to(device)
        s = torch.randint(0, sched.config.num_train_timesteps, (n,), generator=generator).to(device)
        noisy = sched.add_noise(z0, noise, s)
        if rend.one_step:  # a regressor: no noisy latent to read, one fixed timestep (Preset.renderer_one_step)
            s, noisy = torch.zeros_like(s), torch.zeros_like(noisy)
        keep = {c: (torch.rand(n, generator=generator) >= drop_p).float().to(device) for c in CONDITIONS}
        eps = model(noisy, s, zt, prev, b["mt"].to(device), text, clips[:, 0], clips[:, 1], b["dt_s"].to(device), keep)
        target = _regression_target(sched, z0, noise, s)
        if rend.residual:  # the change from the current canvas (Preset.renderer_residual)
            base = rend.encode(prev)
            target = target - base
            eps = rend.change(eps.float(), base, zt)
        return F.mse_loss(eps.float(), target)

    def save(core, folder):
        rend.core = core
        rend.save_pretrained(folder)

    return run_training(
        rend.core,
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
