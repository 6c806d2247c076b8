"""How many steps a method may take, from the training data only (never from the painting it is scored on).

A baseline makes K = round(mean training duration / Δt) keyframes, so its video lasts as long as the mean
training painting: the paper sets Paint Transformer's Δt from the mean training video duration (561 s,
Sec. 4) and SVD / Timecraft's from the training set's mean interval. Giving a baseline the scored painting's
own duration would hand it the DTS metric (|duration_real − duration_generated|). Our painting loop stops
by its own rules; its cap is a margin over the longest training painting, at most the released code's 50.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

PAPER_MEAN_DURATION_S = 561.0  # Sec. 4: the average training video duration behind Paint Transformer's Δt
RELEASED_MAX_UPDATES = 50  # the released inference code's cap of canvas updates
UPDATE_FACTOR = 1.5  # our cap: this many times the longest training painting, in updates of Δt


def _check_dt(dt_s: float) -> None:
    if not dt_s > 0:
        raise ValueError(f"Δt must be a positive number of seconds, got {dt_s}")


@dataclass(frozen=True)
class StepBudget:
    """Durations of the training paintings that set every method's number of steps.

    ``mean_steps``: mean keyframe pairs per training painting (None when only a duration is known);
    ``source``: where the numbers come from, recorded with every benchmark.
    """

    mean_duration_s: float
    max_duration_s: float
    mean_steps: float | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if not (self.mean_duration_s > 0 and self.max_duration_s >= self.mean_duration_s):
            raise ValueError(
                f"need 0 < mean_duration_s <= max_duration_s, got {self.mean_duration_s} and {self.max_duration_s}"
            )
        if self.mean_steps is not None and not self.mean_steps > 0:
            raise ValueError(f"mean_steps must be positive or None, got {self.mean_steps}")

    @classmethod
    def from_manifest(cls, manifest: pd.DataFrame, source: str = "the manifest", split: str = "train") -> StepBudget:
        """The budget of a training manifest's ``split`` rows (one per keyframe pair: ``painting``, ``dt_s``);
        a painting lasts the sum of its pairs' Δt. ``source`` names the manifest (e.g. "dataset <version>")."""
        rows = manifest[manifest["split"] == split]
        if rows.empty:
            raise ValueError(f"the manifest has no {split!r} rows: the step budget comes from the training paintings")
        per_painting = rows.groupby("painting")["dt_s"].agg(["sum", "size"])
        durations = per_painting["sum"].astype(float)
        return cls(
            mean_duration_s=float(durations.mean()),
            max_duration_s=float(durations.max()),
            mean_steps=float(per_painting["size"].mean()),
            source=f"{split} split of {source}: {len(per_painting)} paintings",
        )

    @classmethod
    def from_duration(cls, mean_duration_s: float, source: str) -> StepBudget:
        """A budget known only by its mean duration (command line); the longest painting is taken as the mean."""
        return cls(float(mean_duration_s), float(mean_duration_s), None, source)

    def baseline_steps(self, dt_s: float) -> int:
        """K keyframes of a baseline at Δt: the mean training duration over Δt, halves up, at least 1."""
        _check_dt(dt_s)
        return max(1, math.floor(self.mean_duration_s / dt_s + 0.5))

    def max_updates(self, dt_s: float, factor: float = UPDATE_FACTOR, hard_cap: int = RELEASED_MAX_UPDATES) -> int:
        """Cap of our loop's updates at Δt: ``factor`` × the longest training painting over Δt, at most ``hard_cap``."""
        _check_dt(dt_s)
        # no training painting took longer than max_duration_s; the tolerance keeps a whole number that float
        # arithmetic lands just above (3.0000000000000004) from costing one more update
        return min(hard_cap, max(1, math.ceil(factor * self.max_duration_s / dt_s - 1e-9)))

    def params(self) -> dict[str, str | float]:
        """MLflow params of the budget."""
        return {
            "budget_mean_duration_s": round(self.mean_duration_s, 3),
            "budget_max_duration_s": round(self.max_duration_s, 3),
            "budget_mean_steps": "unknown" if self.mean_steps is None else round(self.mean_steps, 3),
            "budget_source": self.source,
        }


PAPER_BUDGET = StepBudget.from_duration(
    PAPER_MEAN_DURATION_S, f"paper Sec. 4: mean training video duration {PAPER_MEAN_DURATION_S:g} s"
)


def resolve_baseline_steps(steps: int | None, duration_s: float | None, dt_s: float) -> tuple[int, str]:
    """K for the baselines from the command line: ``steps`` as given, else ``duration_s`` over Δt, else the
    paper's mean training duration over Δt; with a sentence saying which."""
    if steps is not None and duration_s is not None:
        raise ValueError("give either a number of steps or a mean training duration, not both")
    if steps is not None:
        if steps < 1:
            raise ValueError(f"the number of steps must be at least 1, got {steps}")
        return steps, f"K = {steps} steps (given)"
    budget = PAPER_BUDGET if duration_s is None else StepBudget.from_duration(duration_s, "given mean duration")
    k = budget.baseline_steps(dt_s)
    return k, f"K = {k} steps = {budget.mean_duration_s:g} s / Δt {dt_s:g} s ({budget.source})"


__all__ = [
    "PAPER_BUDGET",
    "PAPER_MEAN_DURATION_S",
    "RELEASED_MAX_UPDATES",
    "UPDATE_FACTOR",
    "StepBudget",
    "resolve_baseline_steps",
]
