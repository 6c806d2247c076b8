"""Asset checks as users see them: described, blocking on a per-video ERROR, and a failed video kept out of the
training dataset (issue 19 items 2 and 4); previews that fit the metadata dialog."""

import base64
import re
from pathlib import Path

import cv2
import dagster as dg
import numpy as np
import pandas as pd
import pytest

from assets.dataset import LEFT_OUT_CHECK, blocking_checks
from pipelines.definitions import build_definitions
from pipelines.jobs import PER_VIDEO_GROUPS
from pipelines.partitions import videos_partitions
from pipelines.schedules import retrain_schedule
from training.data.previews import MAX_PREVIEW_WIDTH, frame_strip, markdown_image
from training.data.storage import write_parquet
from training.train.synthetic_manifest import build_synthetic_manifest


def described(defs: dg.Definitions) -> dict[str, str | None]:
    """Every description the UI renders as Markdown: assets, checks, jobs, sensors, schedules."""
    graph = defs.resolve_asset_graph()
    out = {key.to_user_string(): graph.get(key).description for key in graph.get_all_asset_keys()}
    out |= {f"check {key.name}": graph.get(key).description for key in graph.asset_check_keys}
    out |= {f"job {job.name}": job.description for job in defs.resolve_all_job_defs() if job.name != "__ASSET_JOB"}
    out |= {f"sensor {s.name}": s.description for s in defs.sensors or []}
    out |= {f"schedule {s.name}": s.description for s in defs.schedules or []}
    return out


def test_every_check_says_what_it_checks_and_how_to_fix_it(tmp_path: Path):
    defs = build_definitions(str(tmp_path))
    graph = defs.resolve_asset_graph()
    checks = {key.name: graph.get(key).description or "" for key in graph.asset_check_keys}
    assert {"canvas_found_on_most_frames", "enough_keyframes", "target_exists", "masks_nonempty"} <= set(checks)
    assert {"every_pair_labelled", "metrics_finite", LEFT_OUT_CHECK} <= set(checks)
    for name, description in checks.items():
        assert len(description) > 60 and "fix" in description.lower(), (name, description)


def test_descriptions_show_placeholders_instead_of_losing_them_to_markdown(tmp_path: Path):
    """The UI renders descriptions as Markdown, where `<id>` outside backticks is an HTML tag and disappears."""
    texts = described(build_definitions(str(tmp_path)))
    assert "`keyframes/<id>.dropped.parquet`" in texts["keyframes"]
    for name, text in texts.items():
        assert text, f"{name} has no description"
        outside_code = re.sub(r"`[^`]*`", "", text)
        assert not re.findall(r"<[A-Za-z/][^>]*>", outside_code), (name, text)


def test_every_error_check_of_a_per_video_asset_blocks(tmp_path: Path):
    graph = build_definitions(str(tmp_path)).resolve_asset_graph()
    per_video = {key for key in graph.get_all_asset_keys() if graph.get(key).group_name in PER_VIDEO_GROUPS}
    specs = {key: graph.get(key) for key in graph.asset_check_keys if key.asset_key in per_video}
    blocking = {key.name for key, spec in specs.items() if spec.blocking}
    assert blocking == {"canvas_found_on_most_frames", "enough_keyframes", "target_exists", "masks_nonempty"}
    assert {key.name for key in blocking_checks()} == blocking  # what training_dataset looks at
    # a pending label is a warning: the video's other pairs are used
    assert {key.name for key in specs} - blocking == {"every_pair_labelled"}


# --- training_dataset and the schedule leave out a video whose latest blocking check failed -------------------


def write_video_tables(root: Path) -> list[str]:
    """Two labelled videos' frame_pairs, difference_masks and instruction_labels tables (48-px synthetic)."""
    manifest = build_synthetic_manifest(
        root / "synthetic", paintings=2, seed=3, canvas_long_side=48, duration_s=20, val_paintings=0
    )
    videos = sorted(manifest["painting"].unique())
    for video in videos:
        rows = manifest[manifest["painting"] == video].reset_index(drop=True).assign(pair_index=lambda t: t.index)
        rows = rows.assign(pair_id=[f"{video}/{i:03d}" for i in rows["pair_index"]])
        tables = {
            "frame_pairs": ["prev_path", "next_path", "target_path", "dt_s"],
            "difference_masks": ["mt_path", "md_path", "mt_mask_path", "md_mask_path"],
            "instruction_labels": ["pair_id", "text"],
        }
        for asset, columns in tables.items():
            write_parquet(rows[["pair_index", *columns]], root / asset / f"{video}.parquet")
    return videos


def enough_keyframes_result(passed: bool):
    """An asset with the key and check of `keyframes` whose enough_keyframes result is ``passed``: the check
    evaluation it records is what a real keyframes run records (blocking, ERROR severity)."""

    @dg.asset(
        name="keyframes",
        partitions_def=videos_partitions,
        check_specs=[dg.AssetCheckSpec("enough_keyframes", asset="keyframes", blocking=True)],
    )
    def stand_in() -> dg.MaterializeResult:
        return dg.MaterializeResult(
            check_results=[dg.AssetCheckResult(check_name="enough_keyframes", passed=passed, description="3 (need 5)")]
        )

    return stand_in


def manifest_of(result: dg.ExecuteInProcessResult) -> pd.DataFrame:
    folder = result.get_asset_materialization_events()[0].materialization.metadata["path"].value
    return pd.read_parquet(Path(folder) / "manifest.parquet")


def materialize_dataset(root: Path, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    job = build_definitions(str(root)).resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance, asset_selection=[dg.AssetKey("training_dataset")], raise_on_error=False
    )


@pytest.fixture
def two_videos(tmp_path: Path, instance: dg.DagsterInstance):
    root = tmp_path / "data"
    videos = write_video_tables(root)
    instance.add_dynamic_partitions(videos_partitions.name, videos)
    return root, videos


def test_a_video_whose_enough_keyframes_failed_is_left_out_named_and_flagged(two_videos, instance):
    root, (good, bad) = two_videos
    dg.materialize([enough_keyframes_result(True)], partition_key=good, instance=instance)
    dg.materialize([enough_keyframes_result(False)], partition_key=bad, instance=instance, raise_on_error=False)

    result = materialize_dataset(root, instance)
    assert result.success
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert set(manifest_of(result)["video_id"]) == {good}
    assert metadata["videos_left_out"].value == 1
    assert [row.data for row in metadata["left_out_videos"].value.records] == [
        {"video_id": bad, "failed_checks": "keyframes:enough_keyframes"}
    ]
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == LEFT_OUT_CHECK and not check.passed and bad in check.description
    logged = [e.user_message for e in instance.all_logs(result.run_id) if e.level >= 30 and e.user_message]
    assert any(bad in message and "enough_keyframes" in message for message in logged)

    # processed again so that the check passes: the video is back, and the check passes
    dg.materialize([enough_keyframes_result(True)], partition_key=bad, instance=instance)
    again = materialize_dataset(root, instance)
    assert set(manifest_of(again)["video_id"]) == {good, bad}
    assert again.get_asset_check_evaluations()[0].passed


def test_the_schedule_sees_the_dataset_training_dataset_builds(two_videos, instance):
    """Left-out videos are left out of the schedule's version too, else it would ask to retrain every week."""
    root, (_, bad) = two_videos
    dg.materialize([enough_keyframes_result(False)], partition_key=bad, instance=instance, raise_on_error=False)
    built = materialize_dataset(root, instance).get_asset_materialization_events()[0].materialization
    defs = build_definitions(str(root))
    with dg.build_schedule_context(instance=instance, resources=defs.resources) as context:
        request = retrain_schedule(context)
    assert request.tags["inverse-painting/dataset_version"] == built.metadata["version"].value


def test_training_dataset_refuses_when_every_video_failed_a_check(two_videos, instance):
    root, videos = two_videos
    for video in videos:
        dg.materialize([enough_keyframes_result(False)], partition_key=video, instance=instance, raise_on_error=False)
    result = materialize_dataset(root, instance)
    assert not result.success
    message = str(result.get_step_failure_events()[0].step_failure_data.error)
    assert "every labelled video failed a blocking per-video check" in message
    assert all(video in message for video in videos)


# --- previews -----------------------------------------------------------------------------------------------


def test_a_strip_of_ten_keyframes_fits_the_metadata_dialog_in_two_rows():
    canvases = [np.full((384, 512, 3), 20 * i, np.uint8) for i in range(10)]
    strip = frame_strip(canvases, [f"{i} s" for i in range(10)], max_width=MAX_PREVIEW_WIDTH)
    assert MAX_PREVIEW_WIDTH - 20 < strip.shape[1] <= MAX_PREVIEW_WIDTH
    assert 2 * 100 < strip.shape[0] < 2 * 125  # two rows of five, each nearly the full 120 px
    assert frame_strip(canvases, max_width=None).shape[1] > 1500  # without a cap: one row (paint's pictures)
    wide = markdown_image(np.zeros((60, 2400, 3), np.uint8))
    data = base64.b64decode(wide.split("base64,")[1].rstrip(")"))
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape[1] == MAX_PREVIEW_WIDTH
