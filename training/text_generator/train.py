"""Fine-tuning g_text on a conversation JSON, with checkpoints a killed run resumes from.

Layout of `out_dir`::

    base/                    tiny preset only: the random-init model the run starts from
    checkpoints/step-0000040/  weights/ (full model or LoRA adapter), optimizer.pt, state.json
    final/                   weights + processor + text_generator.json; load with TextGenerator.load(final)
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from training.data.images import read_rgb
from training.data.storage import atomic_dir, write_bytes

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
_STEP_DIR = re.compile(r"^step-(\d+)$")
KEEP_CHECKPOINTS = 2
LOG = logging.getLogger(__name__)
MAX_GRAD_NORM = 1.0  # HF Trainer's default, which LLaVA-1.5's scripts keep


@dataclass(frozen=True)
class TextGeneratorResult:
    """Where the trained g_text is and how the run went. Load it with `TextGenerator.load(result.path)`."""

    path: Path  # final folder: full model (tiny) or LoRA adapter (paper) + processor + metadata
    base_model: str | None  # what the adapter applies to (hub id or folder); None when `path` is a full model
    preset: str
    examples: int
    epochs: int
    steps: int
    resumed_from_step: int
    final_loss: float
    train_seconds: float
    resumed_optimizer_state: bool = False  # False on a fresh start, or a resume from weights only


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


def _latest_checkpoint(out_dir: Path) -> Path | None:
    folder = out_dir / CHECKPOINTS
    if not folder.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP_DIR.match(p.name)) and p.is_dir()]
    return max(found)[1] if found else None


def _prune_checkpoints(out_dir: Path, keep: int = KEEP_CHECKPOINTS) -> None:
    folder = out_dir / CHECKPOINTS
    found = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP_DIR.match(p.name)) and p.is_dir())
    for _, path in found[:-keep]:
        shutil.rmtree(path, ignore_errors=True)


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
    target = out_dir / CHECKPOINTS / f"step-{step:07d}"
    with atomic_dir(target) as tmp:
        model.save_pretrained(tmp / "weights")
        if optimizer is not None:
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        torch.save(rng, tmp / "rng.pt")
        meta = {**state, "step": step, "optimizer_state": optimizer is not None}
        (tmp / "state.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    _prune_checkpoints(out_dir, keep)
    return target


def _restore_state(checkpoint: Path, optimizer: torch.optim.Optimizer, device: torch.device) -> bool:
    """Optimizer moments (when the checkpoint has them) and RNG state (LoRA dropout) as they were when
    `checkpoint` was written; True when the optimizer state was restored."""
    restored = (checkpoint / "optimizer.pt").is_file()
    if restored:
        optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", map_location=device))
    else:
        LOG.warning("resuming %s from weights only (no optimizer state): AdamW starts fresh", checkpoint)
    rng = torch.load(checkpoint / "rng.pt", weights_only=False)
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    return restored


def _check_resume(checkpoint: Path, run: dict) -> dict:
    saved = json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))
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
) -> TextGeneratorResult:
    """Train g_text on a LLaVA conversation JSON; resumes from the newest checkpoint in `out_dir`.

    `epochs`, `lr`, `batch_size`, `base_model` (hub id or folder), `micro_batch_size` override the preset
    when given. The loss covers only the answer tokens. `log(step, metrics)` is called after every
    optimizer step with loss, lr, epoch and grad_norm. A checkpoint is written every `save_every` steps
    (default: every epoch) and at the end: the trainable weights, and with `save_optimizer_state` the optimizer
    state too (an exact resume; without it a resume starts a fresh optimizer). The `keep_checkpoints` newest
    are kept.
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
    checkpoint = _latest_checkpoint(out)
    start_step, loss_value = 0, float("nan")
    if checkpoint is not None:
        saved = _check_resume(checkpoint, run)
        start_step, loss_value = int(saved["step"]), float(saved.get("loss", "nan"))
    base = _base_model_path(config, out, [c.answer for c in conversations], seed)
    model = _build_model(config, base, dev, checkpoint / "weights" if checkpoint else None)
    processor = load_processor(base)
    optimizer = _optimizer(model, config)
    resumed_optimizer = checkpoint is not None and _restore_state(checkpoint, optimizer, dev)
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
            _save_checkpoint(out, done, model, saved_optimizer, {"run": run, "loss": loss_value}, keep_checkpoints)

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
    return TextGeneratorResult(
        path=final,
        base_model=base if config.lora else None,
        preset=config.name,
        examples=n,
        epochs=config.epochs,
        steps=total,
        resumed_from_step=start_step,
        resumed_optimizer_state=resumed_optimizer,
        final_loss=loss_value,
        train_seconds=time.perf_counter() - started,
    )
