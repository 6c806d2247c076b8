"""A metric result that may be missing, with the reason why (never a made-up number)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class MetricValue:
    value: float | None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.value is None and not self.reason:
            raise ValueError("a missing metric value needs a reason")
        if self.value is not None and not math.isfinite(self.value):
            raise ValueError(f"metric value {self.value} is not finite; record it as missing with a reason")

    @property
    def available(self) -> bool:
        return self.value is not None
