"""A real video and no labeller (no LLaVA weights, no studio truth, no corrections) still reaches the dataset."""

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from pipelines.cli import _print_report
from pipelines.curate import curate
from pipelines.definitions import build_definitions
from pipelines.demo import chain_config
from pipelines.job_runs import run_per_video_chain
from training.data.studio import StudioConfig, generate_video
from training.labels.cli import run_import


@pytest.fixture(scope="module")
def unlabelled(tmp_path_factory):
    """A studio video that passes for real footage: its truth file is replaced by a foreign one."""
    work = tmp_path_factory.mktemp("no-labeller")
    config = StudioConfig(duration_s=16, size=(320, 240), fps=10)
    video = generate_video(work / "inputs", "footage", seed=152, config=config)
    video.truth_path.write_text(json.dumps({"camera": "phone", "notes": [{"t": 3, "text": "sky done"}]}))
    mp = pytest.MonkeyPatch()
    mp.delenv("DAGSTER_HOME", raising=False)
    mp.delenv("INVERSE_PAINTING_DATA_ROOT", raising=False)
    data_root, home = work / "data", work / "home"
    try:
        # 8 per video: 5+ keyframes kept, so the blocking enough_keyframes check passes
        report = curate([video.video_path], data_root, home, run_config=chain_config(1.0, 8))
    finally:
        mp.undo()
    return {"report": report, "root": data_root, "home": home}


def test_curate_finishes_with_every_pair_pending_and_says_how_to_label_them(unlabelled, capsys):
    report, root = unlabelled["report"], unlabelled["root"]
    assert not report.failures, report.failures  # the foreign truth file is ignored, nothing fails
    assert _print_report(report) == 0
    printed = capsys.readouterr().out
    assert "CHECK footage/instruction_labels:every_pair_labelled" in printed
    assert "pending" in printed and "labels export --csv" in printed and "LLaVA" in printed and "nearest" in printed
    auto = pd.read_parquet(root / "auto_labels" / "footage.parquet")
    assert len(auto) >= 2 and auto["text"].isna().all()  # no invented text
    assert set(auto["backend"]) == {"none"}
    labels = pd.read_parquet(root / "instruction_labels" / "footage.parquet")
    assert labels["text"].isna().all() and labels["source"].isna().all()


def _materialize_dataset(root: Path, home: Path) -> dg.ExecuteInProcessResult:
    job = build_definitions(str(root)).resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return job.execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey("training_dataset")], raise_on_error=False
        )


def test_training_dataset_refuses_with_no_label_and_leaves_pending_pairs_out(unlabelled, tmp_path):
    root, home = unlabelled["root"], unlabelled["home"]
    refused = _materialize_dataset(root, home)
    assert not refused.success
    message = str(refused.get_step_failure_events()[0].step_failure_data.error)
    assert "none of the" in message and "is labelled yet" in message and "labels export --csv" in message
    assert not (root / "training_dataset" / "latest.json").exists()

    pairs = pd.read_parquet(root / "frame_pairs" / "footage.parquet")
    sheet = tmp_path / "fix.csv"
    sheet.write_text("pair_id,correction\nfootage/000,sky\n")
    assert run_import(root, sheet, author="tester").added == ["footage/000"]
    defs = build_definitions(str(root))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        again = run_per_video_chain(defs, instance, ["footage"], assets=["instruction_labels"])
    assert not again.failures
    assert "footage/instruction_labels:every_pair_labelled" in again.failed_checks  # the others still pending

    done = _materialize_dataset(root, home)
    assert done.success
    metadata = done.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["pairs"].value == 1 and metadata["pending_pairs_left_out"].value == len(pairs) - 1
    manifest = pd.read_parquet(json.loads((root / "training_dataset" / "latest.json").read_text())["manifest"])
    assert manifest["pair_id"].tolist() == ["footage/000"] and manifest["text"].tolist() == ["sky"]
