"""Fine-tuning g_text on a conversation JSON, with checkpoints a killed run resumes from.

Layout of `out_dir`::

    base/               tiny preset only: the random-init model the run starts from
    checkpoints/step-40/  weights/ (full model or LoRA adapter), rng.pt, state.json, optimizer.pt on request
    final/              weights + processor + text_generator.json; load with TextGenerator.load(final)

Checkpoints are the shared ones of :mod:`training.train.checkpoints`; the result is the shared
:class:`training.train.result.TrainResult`.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from training.data.images import read_rgb
from training.data.storage import atomic_dir, write_bytes
from training.train.checkpoints import latest_checkpoint, read_state, restore_optimizer, write_checkpoint
from training.train.result import TrainResult

from .conversations import Conversation, read_conversations
from .encoding import IGNORE_INDEX, encode_training_batch
from .models import (
    METADATA_FILE,
    PROJECTOR,
    load_llava,
    load_processor,
    lora_config,
    pick_device,
    pick_dtype,
)
from .presets import TextGeneratorPreset, get_preset

LogFn = Callable[[int, dict[str, float]], None]
CHECKPOINTS = "checkpoints"
KEEP_CHECKPOINTS = 2
MAX_GRAD_NORM = 1.0  # HF Trainer's default, which LLaVA-1.5's scripts keep


def _fingerprint(conversations: list[Conversation]) -> str:
    """Identity of the training data (texts and image bytes' sizes), so a resume on other data is refused."""
    digest = hashlib.sha256()
    for c in conversations:
        digest.update(f"{c.image.name}\0{c.image.stat().st_size}\0{c.question}\0{c.answer}\n".encode())
    return digest.hexdigest()[:16]


def _lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up then cosine decay to 0 (LLaVA-1.5's schedule); `step` counts from 0."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _base_model_path(preset: TextGeneratorPreset, out_dir: Path, answers: list[str], seed: int) -> str:
    if preset.base_model is not None:
        return str(preset.base_model)
    from training.tiny_llava import build_tiny_llava

    base = out_dir / "base"
    if not (base / "config.json").is_file():
        with atomic_dir(base) as tmp:
            build_tiny_llava(
                tmp,
                texts=sorted(set(answers)),
                image_size=preset.tiny_image_size,
                patch_size=preset.tiny_patch_size,
                hidden_size=preset.tiny_hidden_size,
                seed=seed,
            )
    return str(base)


def _build_model(preset: TextGeneratorPreset, base: str, device: torch.device, resume_weights: Path | None):
    """The trainable model: the full LLaVA (tiny) or LLaVA + LoRA (paper), from a checkpoint when resuming."""
    dtype = pick_dtype(preset.dtype, device)
    if not preset.lora:
        model = load_llava(resume_weights or base, dtype=dtype, device=device)
        model.requires_grad_(True)
    else:
        from peft import PeftModel, get_peft_model

        model = load_llava(base, dtype=dtype, device=device)
        if preset.gradient_checkpointing:
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        if resume_weights is not None:
            model = PeftModel.from_pretrained(model, str(resume_weights), is_trainable=True)
        else:
            model = get_peft_model(model, lora_config(preset))
    model.config.use_cache = False
    return model


def _optimizer(model: torch.nn.Module, preset: TextGeneratorPreset) -> torch.optim.Optimizer:
    main, projector = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (projector if preset.lora and PROJECTOR in name else main).append(param)
    groups = [{"params": main, "lr": preset.lr, "base_lr": preset.lr}]
    if projector:
        plr = preset.projector_lr if preset.projector_lr is not None else preset.lr
        groups.append({"params": projector, "lr": plr, "base_lr": plr})
    return torch.optim.AdamW(groups, weight_decay=preset.weight_decay)


def _save_checkpoint(out_dir: Path, step: int, model, optimizer, state: dict, keep: int = KEEP_CHECKPOINTS) -> Path:
    """Trainable weights (LoRA adapter + projector, or the tiny model), RNG, step; the optimizer unless None."""

    def weights(folder: Path) -> None:
        model.save_pretrained(folder / "weights")
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        torch.save(rng, folder / "rng.pt")

    return write_checkpoint(out_dir / CHECKPOINTS, step, weights, state, optimizer, keep)


def _restore_rng(checkpoint: Path) -> None:
    """The RNG state (LoRA dropout) as it was when ``checkpoint`` was written."""
    rng = torch.load(checkpoint / "rng.pt", weights_only=False)
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def _check_resume(checkpoint: Path, run: dict) -> dict:
    saved = read_state(checkpoint)
    changed = [k for k in run if saved.get("run", {}).get(k) != run[k]]
    if changed:
        raise ValueError(
            f"{checkpoint}: this checkpoint was written by a run with different {', '.join(changed)}; "
            f"use a new out_dir, or delete {checkpoint.parent} to start over"
        )
    return saved


def train_text_generator(
    conversation_json: Path | str,
    preset: str | TextGeneratorPreset = "tiny",
    out_dir: Path | str = "text_generator",
    epochs: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    log: LogFn | None = None,
    *,
    base_model: str | Path | None = None,
    micro_batch_size: int | None = None,
    save_every: int | None = None,
    image_folder: Path | str | None = None,
    device: str | None = None,
    save_optimizer_state: bool = False,
    keep_checkpoints: int = KEEP_CHECKPOINTS,
) -> TrainResult:
    """Train g_text on a LLaVA conversation JSON; resumes from the newest checkpoint in `out_dir`.

    `epochs`, `lr`, `batch_size`, `base_model` (hub id or folder), `micro_batch_size` override the preset
    when given. The loss covers only the answer tokens. `log(step, metrics)` is called after every
    optimizer step with loss, lr, epoch and grad_norm. A checkpoint is written every `save_every` steps
    (default: every epoch) and at the end: the trainable weights, and with `save_optimizer_state` the optimizer
    state too (an exact resume; without it a resume starts a fresh optimizer). The `keep_checkpoints` newest
    are kept. The result's ``model_dir`` is the final folder (load it with ``TextGenerator.load``); its ``extra``
    holds ``base_model`` (what an adapter applies to; None for a full model), ``preset``, ``examples``, ``epochs``.
    """
    started = time.perf_counter()
    config = get_preset(preset).with_overrides(
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        base_model=None if base_model is None else str(base_model),
        micro_batch_size=micro_batch_size,
    )
    micro = config.micro_batch_size or config.batch_size
    if config.epochs < 1 or config.batch_size < 1 or config.batch_size % micro:
        raise ValueError(
            f"epochs={config.epochs}, batch_size={config.batch_size}, micro_batch_size={micro}: epochs and "
            "batch size must be positive and the batch size a multiple of the micro batch size"
        )
    out = Path(out_dir)
    conversations = read_conversations(conversation_json, image_folder)
    n = len(conversations)
    steps_per_epoch = math.ceil(n / config.batch_size)
    total = config.epochs * steps_per_epoch
    warmup = max(1, math.ceil(config.warmup_ratio * total))
    run = {"preset": asdict(config), "seed": seed, "data": _fingerprint(conversations), "examples": n}
    run = json.loads(json.dumps(run))  # the form it takes in state.json (tuples become lists)

    torch.manual_seed(seed)
    dev = pick_device(device)
    checkpoint = latest_checkpoint(out / CHECKPOINTS)
    start_step, losses = 0, []
    if checkpoint is not None:
        saved = _check_resume(checkpoint, run)
        # checkpoints written before the shared module kept no loss history (only the last "loss")
        start_step, losses = int(saved["step"]), list(saved.get("losses", []))
    base = _base_model_path(config, out, [c.answer for c in conversations], seed)
    model = _build_model(config, base, dev, checkpoint / "weights" if checkpoint else None)
    processor = load_processor(base)
    optimizer = _optimizer(model, config)
    resumed_optimizer = False
    if checkpoint is not None:
        resumed_optimizer = restore_optimizer(checkpoint, optimizer, dev)
        _restore_rng(checkpoint)
    model.train()
    every = save_every or steps_per_epoch
    token_cache: dict = {}

    for step in range(start_step, total):
        epoch, index = divmod(step, steps_per_epoch)
        # the order depends only on (seed, epoch), so a resumed run sees the batches it would have seen
        order = np.random.default_rng([seed, epoch]).permutation(n)
        batch = [conversations[i] for i in order[index * config.batch_size : (index + 1) * config.batch_size]]
        factor = _lr_factor(step, total, warmup)
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        encoded = [
            encode_training_batch(
                processor,
                [read_rgb(c.image) for c in part],
                [c.question for c in part],
                [c.answer for c in part],
                token_cache,
            )
            for part in (batch[i : i + micro] for i in range(0, len(batch), micro))
        ]
        # weight micro-batches by their answer tokens so accumulation equals one big batch
        counts = [int((e["labels"][:, 1:] != IGNORE_INDEX).sum()) for e in encoded]
        loss_value = 0.0
        for e, count in zip(encoded, counts, strict=True):
            inputs = {k: v.to(dev) for k, v in e.items()}
            inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
            loss = model(**inputs).loss * (count / sum(counts))
            loss.backward()
            loss_value += float(loss.detach())
        losses.append(loss_value)
        grad_norm = torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], MAX_GRAD_NORM)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        done = step + 1
        if log is not None:
            log(
                done,
                {
                    "loss": loss_value,
                    "lr": config.lr * factor,
                    "epoch": done / steps_per_epoch,
                    "grad_norm": float(grad_norm),
                },
            )
        if done % every == 0 or done == total:
            saved_optimizer = optimizer if save_optimizer_state else None
            _save_checkpoint(out, done, model, saved_optimizer, {"run": run, "losses": losses}, keep_checkpoints)

    final = out / "final"
    with atomic_dir(final) as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        meta = {
            "preset": config.name,
            "base_model": base if config.lora else None,
            "prompt": conversations[0].question,
            "max_new_tokens": config.max_new_tokens,
            "examples": n,
            "epochs": config.epochs,
            "steps": total,
        }
        write_bytes(json.dumps(meta, indent=1).encode(), tmp / METADATA_FILE)
    return TrainResult(
        model_dir=final,
        steps=total,
        losses=losses,
        resumed_from=start_step,
        seconds=time.perf_counter() - started,
        checkpoint_dir=out / CHECKPOINTS,
        resumed_optimizer_state=resumed_optimizer,
        extra={
            "base_model": base if config.lora else None,
            "preset": config.name,
            "examples": n,
            "epochs": config.epochs,
        },
    )
