"""The step budget: every method's number of steps comes from the training split, never from the scored painting."""

from __future__ import annotations

import pandas as pd
import pytest

from evaluation.budget import PAPER_BUDGET, StepBudget, resolve_baseline_steps


def manifest() -> pd.DataFrame:
    """Two training paintings (60 s in 3 pairs, 120 s in 4 pairs) and a long validation one (1000 s)."""
    rows = [("a", "train", 20.0)] * 3 + [("b", "train", 30.0)] * 4 + [("v", "val", 500.0)] * 2
    return pd.DataFrame(rows, columns=["painting", "split", "dt_s"])


def test_budget_from_the_train_split_only():
    budget = StepBudget.from_manifest(manifest(), source="dataset abc")
    assert budget.mean_duration_s == pytest.approx(90.0) and budget.max_duration_s == pytest.approx(120.0)
    assert budget.mean_steps == pytest.approx(3.5)
    assert budget.source == "train split of dataset abc: 2 paintings"
    params = budget.params()
    assert params["budget_mean_duration_s"] == 90.0 and params["budget_source"] == budget.source
    with pytest.raises(ValueError, match="no 'train' rows"):
        StepBudget.from_manifest(manifest()[lambda m: m["split"] == "val"])


def test_baseline_steps_and_our_cap():
    budget = StepBudget(mean_duration_s=90.0, max_duration_s=120.0, mean_steps=3.5)
    assert budget.baseline_steps(20.0) == 5  # 4.5 rounds up
    assert budget.baseline_steps(30.0) == 3 and budget.baseline_steps(1000.0) == 1
    assert budget.max_updates(20.0) == 9  # ceil(1.5 * 120 / 20)
    assert budget.max_updates(20.0, factor=1.0) == 6
    # 0.3 * 10 s over 1 s is 3.0000000000000004 in floats: still 3 updates, not 4
    assert StepBudget(10.0, 10.0).max_updates(1.0, factor=3 * 0.1) == 3
    assert budget.max_updates(1.0) == 50 and budget.max_updates(1.0, hard_cap=7) == 7
    with pytest.raises(ValueError, match="positive"):
        budget.baseline_steps(0.0)
    with pytest.raises(ValueError, match="mean_duration_s <= max_duration_s"):
        StepBudget(mean_duration_s=90.0, max_duration_s=60.0)


def test_command_line_steps_default_to_the_papers_mean_training_duration():
    assert PAPER_BUDGET.mean_duration_s == 561.0
    k, note = resolve_baseline_steps(None, None, 20.0)
    assert k == 28 and "561" in note  # the paper's 561 s over Δt = 20 s
    assert resolve_baseline_steps(None, 100.0, 20.0)[0] == 5
    k, note = resolve_baseline_steps(7, None, 20.0)
    assert k == 7 and "given" in note
    with pytest.raises(ValueError, match="not both"):
        resolve_baseline_steps(7, 100.0, 20.0)


def test_benchmark_asset_reads_the_budget_reconstructions_recorded():
    import json
    from dataclasses import asdict

    from assets.evaluation import EvaluationConfig
    from evaluation.outputs import saved_settings

    budget = StepBudget.from_manifest(manifest(), source="dataset abc")
    index = json.loads(
        json.dumps({"settings": {"num_inference_steps": 3, "update_factor": 1.0}, "budget": asdict(budget)})
    )
    settings = saved_settings(index)
    assert settings.budget == budget and settings.num_inference_steps == 3 and settings.update_factor == 1.0
    with pytest.raises(ValueError, match="materialize reconstructions again"):
        saved_settings({"methods": []})
    assert "step_margin" not in EvaluationConfig.model_fields and EvaluationConfig().update_factor == 1.5
