"""Checkpoint folders shared by every trainer (mask generator, renderer, text generator).

``<checkpoint_dir>/step-N`` holds the trainable weights (written by the trainer's own writer: a safetensors state
dict, or a ``save_pretrained`` LoRA adapter), ``state.json`` (step, losses and whatever the trainer adds) and, when
asked, the optimizer state. Folders are renamed in whole, so a folder with ``state.json`` is complete; the newest
one is resumed from, the ``keep`` newest are kept.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from training.data.storage import atomic_dir

LOG = logging.getLogger(__name__)
STATE_FILE = "state.json"
OPTIMIZER_FILE = "optimizer.pt"
_STEP_DIR = re.compile(r"^step-(\d+)$")  # step-40; the text generator once wrote step-0000040, read alike


def _step_folders(checkpoint_dir: Path) -> list[tuple[int, Path]]:
    if not checkpoint_dir.is_dir():
        return []
    return sorted((int(m.group(1)), p) for p in checkpoint_dir.iterdir() if (m := _STEP_DIR.match(p.name)))


def latest_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The newest complete step-N folder (complete = has state.json; folders are renamed in whole)."""
    found = [(step, p) for step, p in _step_folders(Path(checkpoint_dir)) if (p / STATE_FILE).is_file()]
    return found[-1][1] if found else None


def read_state(checkpoint: Path) -> dict:
    """The checkpoint's state.json: ``step``, ``losses`` (``loss`` in older text generator ones) and the rest."""
    return json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8"))


def write_checkpoint(
    checkpoint_dir: Path,
    step: int,
    write_weights: Callable[[Path], None],
    state: dict,
    optimizer: torch.optim.Optimizer | None = None,
    keep: int = 2,
) -> Path:
    """Write step-N atomically (``write_weights(folder)``, state.json, the optimizer state unless None) and delete
    all but the ``keep`` newest step folders. Call it on one process only."""
    target = Path(checkpoint_dir) / f"step-{step}"
    with atomic_dir(target) as tmp:
        write_weights(tmp)
        if optimizer is not None:
            torch.save(optimizer.state_dict(), tmp / OPTIMIZER_FILE)
        meta = {**state, "step": step, "optimizer_state": optimizer is not None}
        (tmp / STATE_FILE).write_text(json.dumps(meta), encoding="utf-8")
    for _, old in _step_folders(Path(checkpoint_dir))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def restore_optimizer(checkpoint: Path, optimizer: torch.optim.Optimizer, device: torch.device | str) -> bool:
    """Load the optimizer state when the checkpoint holds one; True if it did. Without it AdamW starts fresh at the
    checkpoint's step: close to, not exactly, the uninterrupted run (logged as a warning)."""
    path = checkpoint / OPTIMIZER_FILE
    if path.is_file():
        optimizer.load_state_dict(torch.load(path, map_location=device))
        return True
    LOG.warning("resuming %s from weights only (no optimizer state): AdamW starts fresh", checkpoint)
    return False
