"""The methods a benchmark compares: our pipeline (full, other Δt, ablations), the baselines, external sequences.

Ablations are configurations of the one trained pipeline, not separately trained models. The renderer
was trained with each condition (text, predicted CLIP, time, mask) zeroed independently 10 % of the time,
so at test time a condition is removed by feeding that dropped (zero) value in every guidance branch and
giving it no guidance term — the input the model learnt to read as "condition absent":

- ``ours-TE``: the Δt tokens g_t(Δt) of the renderer and of the mask generator are zero (the paper: "omitting
  the time interval in the pipeline"; the mask generator too was trained with Δt dropped 10 % of the time);
- ``ours-TG``: no text generator; the renderer's text embedding is zero and the mask generator reads "" (its
  dropped text);
- ``ours-MG``: no mask generator; the renderer's mask input is zero (its dropped value) and the recorded
  region of every update is the whole canvas;
- ``ours-RN``: g_u's self-attention does not attend to ReferenceNet tokens (the target then reaches g_u
  only through the predicted-CLIP token; the tiny preset's composite output still mixes I_T in by its finish
  field). ReferenceNet was never dropped in training, so this one is out of the training distribution; the
  paper trained each ablation apart, this one switches a route off in the full model;
- ``ours-CE``: the predicted next-CLIP token g_c(·) is zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from evaluation.baselines import BASELINES, DEFAULT_DT_S

# ablation code of the paper's Table 3 -> the switch of the painting loop (PaintConfig.ablate)
ABLATIONS: dict[str, str] = {"TE": "time", "TG": "text", "MG": "mask", "RN": "reference", "CE": "clip"}
OURS = "ours"

Kind = Literal["ours", "baseline", "external"]


@dataclass(frozen=True)
class Method:
    """One row of the comparison table.

    ``ablate``: the removed parts of our pipeline (values of :data:`ABLATIONS`); ``baseline``: the key of
    :data:`evaluation.baselines.BASELINES`; ``frames_root``: for an external method, the folder holding one
    sub-folder of generated frames per painting (``<frames_root>/<painting>/``, frame k at k·Δt).
    """

    name: str
    kind: Kind
    dt_s: float = DEFAULT_DT_S
    ablate: frozenset[str] = field(default_factory=frozenset)
    baseline: str | None = None
    frames_root: Path | None = None

    def __post_init__(self) -> None:
        if not self.dt_s > 0:
            raise ValueError(f"method {self.name}: Δt must be a positive number of seconds, got {self.dt_s}")
        unknown = set(self.ablate) - set(ABLATIONS.values())
        if unknown:
            raise ValueError(
                f"method {self.name}: unknown ablation(s) {sorted(unknown)}; use {sorted(ABLATIONS.values())}"
            )
        if self.kind == "ours" and (self.baseline or self.frames_root):
            raise ValueError(f"method {self.name}: ours takes neither a baseline name nor a frames folder")
        if self.kind == "baseline" and self.baseline not in BASELINES:
            raise ValueError(
                f"method {self.name}: unknown baseline {self.baseline!r}; choose one of {sorted(BASELINES)}"
            )
        if self.kind == "external" and self.frames_root is None:
            raise ValueError(f"method {self.name}: an external method needs frames_root (<root>/<painting>/ frames)")
        if self.kind != "ours" and self.ablate:
            raise ValueError(f"method {self.name}: ablations apply to ours only")

    def params(self) -> dict[str, str | float]:
        """What identifies the method, for MLflow params."""
        out: dict[str, str | float] = {"method": self.name, "kind": self.kind, "dt_s": self.dt_s}
        if self.kind == "ours":
            out["ablate"] = ",".join(sorted(self.ablate)) or "none"
        if self.baseline:
            out["baseline"] = self.baseline
        if self.frames_root:
            out["frames_root"] = str(self.frames_root)
        return out


def ours(dt_s: float = DEFAULT_DT_S, name: str | None = None) -> Method:
    return Method(name or (OURS if dt_s == DEFAULT_DT_S else f"{OURS}-dt{dt_s:g}"), "ours", float(dt_s))


def ablation(code: str, dt_s: float = DEFAULT_DT_S) -> Method:
    """``ablation("TE")`` -> ours-TE (codes: the keys of :data:`ABLATIONS`)."""
    if code not in ABLATIONS:
        raise ValueError(f"unknown ablation {code!r}; choose one of {sorted(ABLATIONS)}")
    return Method(f"{OURS}-{code}", "ours", float(dt_s), frozenset({ABLATIONS[code]}))


def method_grid(
    dts: tuple[float, ...] = (10.0, 20.0, 30.0),
    ablations: tuple[str, ...] = tuple(ABLATIONS),
    baselines: tuple[str, ...] = tuple(BASELINES),
    dt_s: float = DEFAULT_DT_S,
) -> list[Method]:
    """Ours at ``dt_s``, ours at the other Δt of ``dts``, the ablations and the baselines at ``dt_s``."""
    grid = [ours(dt_s)]
    grid += [ours(float(d)) for d in dts if float(d) != dt_s]
    grid += [ablation(code, dt_s) for code in ablations]
    grid += [Method(name, "baseline", dt_s, baseline=name) for name in baselines]
    names = [m.name for m in grid]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate method names in the grid: {names}")
    return grid
