"""A training loop shared by the mask generator and the renderer: accelerate, checkpoints, resume.

Randomness is indexed by step (batch choice, noise, dropout come from generators seeded with
(seed, step, process)), so a run resumed from the checkpoint at step k continues exactly as the
uninterrupted run would. Checkpoints (``out_dir/checkpoints/step-N``, :mod:`training.train.checkpoints`:
trainable weights as safetensors, step and losses, and with ``save_optimizer_state`` the optimizer state) are
written by the main process; the newest complete one is resumed from on start, the ``keep_checkpoints`` newest
are kept.

Weights only by default: AdamW's two moments double a checkpoint (~7 GB of weights + ~14 GB of moments for the
paper-scale renderer, kept twice). A run resumed from weights only continues from its step with a fresh
optimizer (``TrainResult.resumed_optimizer_state`` False): close to, not exactly, the uninterrupted run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator, DistributedDataParallelKwargs
from safetensors.torch import load_file, save_file
from torch import nn

from training.data.storage import atomic_dir

from .checkpoints import latest_checkpoint, read_state, restore_optimizer, write_checkpoint
from .result import TrainResult

LogFn = Callable[[int, dict], None]
WEIGHTS_FILE = "model.safetensors"  # the trained module's state dict in a checkpoint


def preset_hparams(
    preset, preset_config, model: str, steps: int | None, lr: float | None, batch_size: int | None
) -> tuple[int, float, int]:
    """steps, lr, batch_size: the given ones, else the preset's ``<model>_steps`` / ``_lr`` / ``_batch_size``.

    ``preset`` is a Preset or a saved model folder; a folder takes its defaults from ``preset_config``.
    """
    from training.models.presets import Preset

    hp = preset if isinstance(preset, Preset) else preset_config
    steps = steps if steps is not None else (getattr(hp, f"{model}_steps") if hp else None)
    lr = lr if lr is not None else (getattr(hp, f"{model}_lr") if hp else None)
    batch_size = batch_size if batch_size is not None else (getattr(hp, f"{model}_batch_size") if hp else None)
    if steps is None or lr is None or batch_size is None:
        raise ValueError("steps, lr and batch_size are required when training from a folder without preset_config")
    return steps, lr, batch_size


def step_generator(seed: int, step: int, rank: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, step, rank]).generate_state(1)[0]))


def batch_indices(n_items: int, batch_size: int, seed: int, step: int, world: int, rank: int) -> np.ndarray:
    """This process's share of the global batch of ``step``."""
    rng = np.random.default_rng([seed, step, 7])
    total = batch_size * world
    idx = rng.choice(n_items, size=total, replace=n_items < total)
    return idx[rank * batch_size : (rank + 1) * batch_size]


def run_training(
    core: nn.Module,
    loss_fn: Callable[[nn.Module, np.ndarray, torch.Generator, torch.device], torch.Tensor],
    n_items: int,
    out_dir: Path,
    steps: int,
    lr: float,
    batch_size: int,
    seed: int,
    save_model: Callable[[nn.Module, Path], None],
    log: LogFn | None = None,
    checkpoint_every: int = 100,
    keep_checkpoints: int = 2,
    mixed_precision: str = "no",
    log_every: int = 10,
    max_grad_norm: float = 1.0,
    time_budget_s: float | None = None,
    device: str | torch.device | None = "auto",
    save_optimizer_state: bool = False,
) -> TrainResult:
    """Train ``core`` for ``steps`` optimizer steps with AdamW, resuming from out_dir/checkpoints.

    ``loss_fn(model, indices, generator, device)`` returns the batch loss; ``save_model(core, folder)``
    writes the final model. ``log(step, metrics)`` is called on the main process every ``log_every`` steps
    and at the end. With ``time_budget_s`` the run stops (checkpointed, model saved) after the first step
    that ends past the budget; ``TrainResult.steps`` then says how many steps were done. ``device``: auto
    (CUDA when present) or cpu / cuda; ``mixed_precision``: accelerate's no / bf16 / fp16.
    """
    from training.device import resolve_device

    if steps < 1 or batch_size < 1 or checkpoint_every < 1 or keep_checkpoints < 1:
        raise ValueError(
            "steps, batch_size, checkpoint_every and keep_checkpoints must be >= 1 "
            f"(got {steps}, {batch_size}, {checkpoint_every}, {keep_checkpoints})"
        )
    started = time.perf_counter()
    out_dir = Path(out_dir)
    ckpt_dir = out_dir / "checkpoints"
    accelerator = Accelerator(
        mixed_precision=mixed_precision,
        cpu=resolve_device(device).type == "cpu",
        # g_r's last layers after its final self-attention feed nothing (only attention inputs are read)
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )
    torch.manual_seed(seed)
    params = [p for p in core.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr)
    model, optimizer = accelerator.prepare(core, optimizer)
    plain = accelerator.unwrap_model(model)

    start, losses, resumed_optimizer = 0, [], False
    last = latest_checkpoint(ckpt_dir)
    if last is not None:
        state = read_state(last)
        # accelerate names a CPU rank's device cpu:<rank>, which safetensors refuses
        weights_device = "cpu" if accelerator.device.type == "cpu" else str(accelerator.device)
        plain.load_state_dict(load_file(last / WEIGHTS_FILE, device=weights_device))
        resumed_optimizer = restore_optimizer(last, optimizer, accelerator.device)
        start, losses = int(state["step"]), list(state["losses"])
    resumed_from = start

    world, rank = accelerator.num_processes, accelerator.process_index
    model.train()
    for step in range(start, steps):
        idx = batch_indices(n_items, batch_size, seed, step, world, rank)
        with accelerator.autocast():
            loss = loss_fn(model, idx, step_generator(seed, step, rank), accelerator.device)
        accelerator.backward(loss)
        if max_grad_norm:
            accelerator.clip_grad_norm_(params, max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        done = step + 1
        # one process out of time stops them all, at the same step
        flag = torch.tensor(
            [float(time_budget_s is not None and time.perf_counter() - started > time_budget_s)],
            device=accelerator.device,
        )
        out_of_time = bool(accelerator.reduce(flag, reduction="sum").item() > 0) if world > 1 else bool(flag.item())
        final = done == steps or out_of_time
        if done % checkpoint_every == 0 or final:
            saved_optimizer = optimizer if save_optimizer_state else None
            _save_checkpoint(accelerator, plain, saved_optimizer, ckpt_dir, done, losses, keep_checkpoints)
        if log is not None and accelerator.is_main_process and (done % log_every == 0 or final):
            window = losses[-log_every:]
            log(done, {"loss": float(np.mean(window))})
        if out_of_time:
            break

    model_dir = out_dir / "model"
    if accelerator.is_main_process:
        with atomic_dir(model_dir) as tmp:
            save_model(plain, tmp)
    accelerator.wait_for_everyone()
    seconds = time.perf_counter() - started
    return TrainResult(model_dir, len(losses), losses, resumed_from, seconds, ckpt_dir, resumed_optimizer)


def _save_checkpoint(accelerator, plain, optimizer, ckpt_dir: Path, step: int, losses, keep: int) -> None:
    """step-N: the trained weights, step and losses, and the optimizer state unless ``optimizer`` is None."""
    if accelerator.is_main_process:

        def weights(folder: Path) -> None:
            state = {k: v.detach().contiguous().cpu() for k, v in plain.state_dict().items()}
            save_file(state, folder / WEIGHTS_FILE)

        write_checkpoint(ckpt_dir, step, weights, {"losses": losses}, optimizer, keep)
    accelerator.wait_for_everyone()
