"""What reconstructions and benchmark store: painted frames with their index, written whole; the summary."""

import json
from pathlib import Path

import numpy as np
import pytest

from evaluation.budget import StepBudget
from evaluation.groups import VAL_GROUP, Group
from evaluation.methods import method_grid
from evaluation.outputs import (
    read_reconstructions_index,
    reconstructions_index,
    saved_settings,
    write_benchmark_summary,
    write_reconstructions,
)
from evaluation.reconstruct import ReconstructConfig
from evaluation.sequences import sequence_from_frames
from training.data.difference import make_backend
from training.data_root import DataRoot

RUNTIME = {"device": "cpu", "dtype": "fp32"}


def _painting() -> Group:
    frames = [np.full((24, 32, 3), value, np.uint8) for value in (200, 120, 40)]
    return Group(VAL_GROUP, [sequence_from_frames("p1", frames, 5.0)])


def _settings() -> ReconstructConfig:
    budget = StepBudget(mean_duration_s=15.0, max_duration_s=20.0, mean_steps=3.0, source="dataset abc")
    return ReconstructConfig(num_inference_steps=2, budget=budget, update_factor=1.5, **RUNTIME)


def test_reconstructions_are_stored_with_the_index_benchmark_reads_back(tmp_path: Path):
    layout = DataRoot(tmp_path)
    groups, settings = [_painting()], _settings()
    fade = [m for m in method_grid(dts=(5.0,), ablations=(), baselines=("fade",), dt_s=5.0) if m.name == "fade"]
    index = reconstructions_index("abc", {"renderer_version": "3"}, settings, RUNTIME, groups)
    said = []
    written = write_reconstructions(layout, index, groups, fade, None, make_backend("colour-structure"), settings,
                                    progress=said.append)  # fmt: skip
    assert "methods" not in index  # the caller's index is not changed
    assert read_reconstructions_index(layout) == written == json.loads(layout.reconstructions_index_path.read_text())
    assert written["models"] == {"renderer_version": "3"} and written["groups"] == [g.record() for g in groups]
    painted = written["methods"][0]["groups"][VAL_GROUP]["p1"]
    assert painted["steps"] == settings.baseline_steps(5.0) == 3
    assert len(list((layout.reconstructions_dir / "fade" / "p1").glob("*.png"))) == painted["steps"]
    assert said and "fade" in said[0]

    restored = saved_settings(written)
    assert (restored.num_inference_steps, restored.update_factor, restored.budget) == (2, 1.5, settings.budget)
    assert (restored.device, restored.dtype) == ("cpu", "fp32")

    # a paint that fails half-way (fade painted, then ours without models) leaves the stored run as it was
    ours = method_grid(dts=(5.0,), ablations=(), baselines=(), dt_s=5.0)[0]
    with pytest.raises(ValueError, match="needs the trained models"):
        write_reconstructions(layout, index, groups, [*fade, ours], None, make_backend("colour-structure"), settings)
    assert read_reconstructions_index(layout) == written
    assert sorted(p.name for p in layout.reconstructions_dir.iterdir()) == ["fade", "reconstructions.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_missing_or_foreign_index_names_the_file_and_the_fix(tmp_path: Path):
    layout = DataRoot(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"reconstructions\.json is missing; materialize reconstructions"):
        read_reconstructions_index(layout)
    layout.reconstructions_dir.mkdir()
    layout.reconstructions_index_path.write_text('{"groups": []}')
    with pytest.raises(ValueError, match="not a reconstructions index"):
        read_reconstructions_index(layout)
    with pytest.raises(ValueError, match="predates step budgets"):
        saved_settings({"settings": {}})
    with pytest.raises(ValueError, match="step budget"):
        reconstructions_index("abc", {}, ReconstructConfig(), RUNTIME, [_painting()])


def test_benchmark_summary_is_written_under_the_benchmark_folder(tmp_path: Path):
    layout = DataRoot(tmp_path)
    summary = {VAL_GROUP: {"ground_truth": "validation split", "wins_over_every_baseline": {"iou": True}}}
    assert write_benchmark_summary(layout, summary) == layout.benchmark_dir / "summary.json"
    assert json.loads(layout.benchmark_summary_path.read_text()) == {"groups": summary}
