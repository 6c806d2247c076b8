"""The one result type of the three trainers (text generator, mask generator, renderer)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class TrainResult:
    """Where a trained model is and how its run went.

    Load ``model_dir`` with the model's loader: ``load_mask_generator``, ``load_renderer`` or
    ``TextGenerator.load``. ``extra`` holds what only one model has (the text generator's ``base_model``,
    ``preset``, ``examples``, ``epochs``).
    """

    model_dir: Path  # the save_pretrained folder of the final model
    steps: int  # optimizer steps done (a time budget may stop a run early)
    losses: list[float]  # one per step, including steps done before a resume (when the checkpoint kept them)
    resumed_from: int  # the step resumed from; 0 when the run started fresh
    seconds: float  # wall time of this invocation
    checkpoint_dir: Path
    resumed_optimizer_state: bool = False  # False on a fresh start, or a resume from weights only
    extra: dict = field(default_factory=dict)

    @property
    def final_loss(self) -> float:
        return self.losses[-1] if self.losses else math.nan

    def summary(self) -> dict[str, int | float | str | bool]:
        """The run's facts as flat scalars for MLflow params and Dagster metadata (None values left out)."""
        facts: dict = {"steps": self.steps, "resumed_from_step": self.resumed_from}
        facts["train_seconds"] = round(self.seconds, 1)
        if self.resumed_from:  # only a resume has an optimizer state to restore or not
            facts["resumed_optimizer_state"] = self.resumed_optimizer_state
        facts.update(self.extra)
        return {k: v for k, v in facts.items() if isinstance(v, bool | int | float | str)}
