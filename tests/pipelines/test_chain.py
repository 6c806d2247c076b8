"""The per-video chain through Dagster: contracts on disk, asset checks, bad inputs, the importer."""

import json
from pathlib import Path

import cv2
import dagster as dg
import numpy as np
import pandas as pd
import pytest

from pipelines.curate import curate, import_official
from pipelines.definitions import build_definitions
from pipelines.demo import chain_config
from pipelines.job_runs import run_per_video_chain
from tests.conftest import PER_VIDEO_ASSETS, write_test_video
from training.data.studio import Studio, StudioConfig, generate_video
from training.labels.cli import run_export, run_import

CONFIG = StudioConfig(duration_s=24, size=(320, 240), fps=10)


def corrupt_codec(source: Path, target: Path) -> Path:
    """A well-formed MP4 whose video codec tag no decoder knows."""
    data = source.read_bytes()
    assert b"avc1" in data
    target.write_bytes(data.replace(b"avc1", b"zzzz"))
    return target


def no_canvas_video(path: Path) -> Path:
    """A valid video of a table top and a wall: no canvas anywhere."""
    import av

    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for _ in range(40):  # 4 s: four frames at --sample-every 1, the fewest curating accepts
            frame = np.zeros((240, 320, 3), np.uint8)
            frame[:150] = (120, 90, 70)
            frame[150:] = (70, 50, 30)
            frame = np.clip(frame + rng.normal(0, 6, frame.shape), 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """One good studio video and one file of every bad kind, curated in one command."""
    work = tmp_path_factory.mktemp("chain")
    inputs = work / "inputs"
    video = generate_video(inputs, "studio-150", seed=150, config=CONFIG)
    good_clip = write_test_video(work / "clip.mp4", seconds=2.0)
    bad = {
        "empty": inputs / "empty.mp4",
        "truncated": inputs / "truncated.mp4",
        "notavideo": inputs / "notavideo.mov",
        "badcodec": inputs / "badcodec.mp4",
        "nocanvas": inputs / "nocanvas.mp4",
    }
    bad["empty"].write_bytes(b"")
    data = video.video_path.read_bytes()
    bad["truncated"].write_bytes(data[: len(data) // 2])
    bad["notavideo"].write_text("this is a shopping list, not a video\n" * 50)
    corrupt_codec(good_clip, bad["badcodec"])
    no_canvas_video(bad["nocanvas"])

    mp = pytest.MonkeyPatch()
    mp.delenv("DAGSTER_HOME", raising=False)
    mp.delenv("INVERSE_PAINTING_DATA_ROOT", raising=False)
    data_root, home = work / "data", work / "home"
    try:
        report = curate([video.video_path, *bad.values()], data_root, home, run_config=chain_config(1.0, 8))
    finally:
        mp.undo()
    return {"report": report, "root": data_root, "home": home, "video": video, "bad": bad}


def test_good_video_materializes_every_per_video_asset(curated):
    report = curated["report"]
    for asset in PER_VIDEO_ASSETS:
        assert "studio-150" in [vid for vid, _ in report.outputs[asset]], asset
    assert not [key for key in report.failures if key.startswith("studio-150/")]


def test_on_disk_contracts(curated):
    root = curated["root"]
    geometry = pd.read_parquet(root / "canvas_geometry" / "studio-150.parquet")
    assert {"t_ms", "corners"} <= set(geometry.columns)
    found = geometry["corners"].dropna()
    assert len(found) >= 0.9 * len(geometry)
    corners = np.array([np.asarray(p) for p in found.iloc[0]])
    assert corners.shape == (4, 2)

    truth = json.loads(curated["video"].truth_path.read_text())
    first = np.array(truth["frames"][0]["corners"])
    assert np.abs(corners - first).max() < 0.03 * np.linalg.norm(first[2] - first[0])  # TL first, clockwise

    kept = pd.read_parquet(root / "keyframes" / "studio-150.parquet")
    assert list(kept["t_ms"]) == sorted(kept["t_ms"]) and len(kept) >= 5
    assert kept["is_target"].tolist()[-1] and kept["is_target"].sum() == 1
    assert all(Path(p).is_file() and Path(p).parent == root / "keyframes" / "studio-150" for p in kept["path"])
    dropped = pd.read_parquet(root / "keyframes" / "studio-150.dropped.parquet")
    assert {"t_ms", "reason"} <= set(dropped.columns) and len(dropped) > 0
    assert set(dropped["reason"]) <= {"occluded", "unchanged", "after_completion", "no_canvas"}
    sampled = pd.read_parquet(root / "sampled_frames" / "studio-150.parquet")
    assert sorted([*kept["t_ms"], *dropped["t_ms"]]) == sorted(sampled["t_ms"])  # every frame accounted for

    pairs = pd.read_parquet(root / "frame_pairs" / "studio-150.parquet")
    assert len(pairs) == len(kept) and pairs["prev_t_ms"].iloc[0] == 0 and (pairs["dt_s"] > 0).all()
    masks = pd.read_parquet(root / "difference_masks" / "studio-150.parquet")
    assert len(masks) == len(pairs)
    mask = cv2.imread(masks["mt_mask_path"].iloc[0], cv2.IMREAD_GRAYSCALE)
    canvas = cv2.imread(kept["path"].iloc[0])
    assert mask.shape == canvas.shape[:2] and set(np.unique(mask)) <= {0, 255}
    # The white canvas -> first keyframe change covers what was painted by then.
    assert masks["mt_area"].iloc[0] > 0.05


def test_canvas_frames_carry_surrounds_and_the_keyframes_use_them(curated):
    root = curated["root"]
    table = pd.read_parquet(root / "canvas_frames" / "studio-150.parquet")
    assert (table["surround_margin"] == 0.12).all()
    row = table.dropna(subset=["path"]).iloc[0]
    canvas, around = cv2.imread(row["path"]), cv2.imread(row["surround_path"])
    assert Path(row["surround_path"]).parent == root / "canvas_frames" / "studio-150" / "surround"
    assert max(around.shape[:2]) == 192
    # the canvas sits in the middle, the margin (12 % of each side) around it
    h, w = around.shape[:2]
    y0, x0 = round(h * 0.12 / 1.24), round(w * 0.12 / 1.24)
    middle = around[y0 + 2 : h - y0 - 2, x0 + 2 : w - x0 - 2]
    shrunk = cv2.resize(canvas, (w - 2 * x0, h - 2 * y0), interpolation=cv2.INTER_AREA)[2:-2, 2:-2]
    assert np.abs(middle.astype(int) - shrunk).mean() < 8
    with dg.DagsterInstance.from_config(str(curated["home"])) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("keyframes"))
        assert event.asset_materialization.metadata["occluder_backend"].value == "temporal+border"


def test_corrections_survive_relabelling_and_win(curated):
    root, home = curated["root"], curated["home"]
    auto = pd.read_parquet(root / "auto_labels" / "studio-150.parquet")
    truth = json.loads(curated["video"].truth_path.read_text())
    assert (auto["backend"] == "synthetic").all() and set(auto["text"]) <= {layer["label"] for layer in truth["layers"]}
    labels = pd.read_parquet(root / "instruction_labels" / "studio-150.parquet")
    assert (labels["source"] == "auto").all() and labels["text"].notna().all()

    sheet = Path(run_export(root, None, as_csv=True)[0])
    edited = pd.read_csv(sheet, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    edited.loc[1, "correction"] = "purple giraffe"
    edited.to_csv(sheet, index=False, encoding="utf-8-sig")
    report = run_import(root, sheet, author="tester")
    assert report.added == ["studio-150/001"] and not report.rejected

    defs = build_definitions(str(root))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        again = run_per_video_chain(defs, instance, ["studio-150"], assets=["auto_labels", "instruction_labels"])
    assert not again.failures, again.failures
    labels = pd.read_parquet(root / "instruction_labels" / "studio-150.parquet").set_index("pair_index")
    assert labels.loc[1, "text"] == "purple giraffe" and labels.loc[1, "source"] == "correction"
    assert (labels.drop(index=1)["source"] == "auto").all()
    # the auto label underneath is untouched: a pipeline run never writes the correction store
    assert pd.read_parquet(root / "auto_labels" / "studio-150.parquet")["text"].tolist() == auto["text"].tolist()


def latest_check_status_by_video(instance: dg.DagsterInstance, asset: str, check: str) -> dict[str, str]:
    """The latest execution status of an asset check per video partition (from its runs' partition tags)."""
    key = dg.AssetCheckKey(dg.AssetKey(asset), check)
    latest: dict[str, str] = {}
    for record in instance.event_log_storage.get_asset_check_execution_history(key, limit=50):  # newest first
        video = instance.get_run_by_id(record.run_id).tags.get("dagster/partition")
        latest.setdefault(video, record.status.value)
    return latest


def test_asset_checks_ran_and_passed(curated):
    checks = {
        "canvas_found_on_most_frames": "canvas_geometry",
        "enough_keyframes": "keyframes",
        "target_exists": "keyframes",
        "masks_nonempty": "difference_masks",
        "every_pair_labelled": "instruction_labels",
    }
    with dg.DagsterInstance.from_config(str(curated["home"])) as instance:
        for check, asset in checks.items():
            statuses = latest_check_status_by_video(instance, asset, check)
            assert statuses.get("studio-150") == "SUCCEEDED", (check, statuses)
        # a video without a canvas fails its check rather than passing it
        statuses = latest_check_status_by_video(instance, "canvas_geometry", "canvas_found_on_most_frames")
        assert statuses.get("nocanvas") == "FAILED", statuses


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("empty", "empty.mp4"),
        ("truncated", "truncated.mp4"),
        ("notavideo", "notavideo.mov"),
        ("badcodec", "badcodec.mp4"),
        ("nocanvas", "no canvas"),
    ],
)
def test_bad_input_fails_alone_with_a_clear_message_and_no_partial_output(curated, name, fragment):
    failures = {k: v for k, v in curated["report"].failures.items() if k.startswith(f"{name}/")}
    assert failures, f"{name} should have failed"
    assert any(fragment in message for message in failures.values()), failures
    root = curated["root"]
    # .locks/ holds which run writes each video (pipelines/partition_lock.py): not an output.
    leftovers = [p for p in root.rglob(f"*{name}*") if "videos" not in p.parts and ".locks" not in p.parts]
    # Whatever did complete before the failing stage is complete; no temporary files anywhere.
    assert not [p for p in root.rglob("*.tmp*")]
    if name != "nocanvas":
        assert leftovers == [], leftovers


def official_layout(root: Path, studio: Studio, name: str = "example") -> Path:
    folder = root / "rgb" / name
    folder.mkdir(parents=True)
    fps = studio.config.fps
    names = []
    for index, second in enumerate([3, 7, 11, 15, 19, 23], start=1):
        stem = f"{index}_0:{second:02d}"
        cv2.imwrite(str(folder / f"{stem}.jpg"), cv2.cvtColor(studio.canvas_at(second * fps), cv2.COLOR_RGB2BGR))
        names.append(stem)
    (folder / "last_aligned_frame_inv.json").write_text(json.dumps({names[-1]: names[:-1]}))
    return root


def test_import_official_layout_flows_into_pairs_and_masks(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("INVERSE_PAINTING_DATA_ROOT", raising=False)
    layout = official_layout(tmp_path / "release", Studio("imported", 151, CONFIG))
    data_root = tmp_path / "data"
    report = import_official(layout, data_root, tmp_path / "home")
    assert not report.failures
    assert [vid for vid, _ in report.outputs["difference_masks"]] == ["example"]
    kept = pd.read_parquet(data_root / "keyframes" / "example.parquet")
    assert kept["t_ms"].tolist() == [3000, 7000, 11000, 15000, 19000, 23000]
    pairs = pd.read_parquet(data_root / "frame_pairs" / "example.parquet")
    assert pairs["dt_s"].tolist() == [3.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("keyframes"))
        assert event.asset_materialization.partition == "example"


def test_training_dataset_is_split_by_painting_versioned_and_carries_the_conversations(curated):
    root = curated["root"]
    defs = build_definitions(str(root))
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.from_config(str(curated["home"])) as instance:
        versions = []
        for _ in range(2):
            result = job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("training_dataset")])
            versions.append(result.get_asset_materialization_events()[0].materialization.metadata["version"].value)
    assert versions[0] == versions[1]  # same content, same version, nothing rewritten
    latest = json.loads((root / "training_dataset" / "latest.json").read_text())
    assert latest["version"] == versions[0]
    manifest = pd.read_parquet(latest["manifest"])
    labels = pd.read_parquet(root / "instruction_labels" / "studio-150.parquet")
    assert manifest["pair_id"].tolist() == labels["pair_id"].tolist()
    assert manifest["text"].tolist() == labels["text"].tolist()
    assert set(manifest["split"]) == {"train"}  # one painting: nothing to hold out
    records = json.loads(Path(latest["conversations"]).read_text())
    assert len(records) == len(manifest)
    assert records[0]["conversations"][0]["value"].startswith("<image>\nThere are two images side by side. The left")
    assert records[0]["conversations"][1]["value"] == manifest["text"].iloc[0]
    composed = cv2.imread(str(Path(latest["conversations"]).parent / records[0]["image"]))
    canvas = cv2.imread(manifest["target_path"].iloc[0])
    assert composed.shape[1] == 2 * canvas.shape[1]


def test_a_failed_blocking_check_stops_the_video_and_keeps_it_out_of_the_dataset(curated):
    """Issue 19 item 2: keyframes re-made too few (enough_keyframes fails) must not leave a green run and a
    training dataset built from the pairs of the keyframes that are gone."""
    root, home = curated["root"], curated["home"]
    defs = build_definitions(str(root))
    dataset = defs.resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        too_few = chain_config(keyframes_per_video=2)
        report = run_per_video_chain(defs, instance, ["studio-150"], too_few, assets=["keyframes", "frame_pairs"])
        assert "studio-150/keyframes:enough_keyframes" in report.failed_checks
        assert "enough_keyframes" in report.failures["studio-150/keyframes"]
        assert instance.get_run_by_id(report.runs["studio-150"]).status == dg.DagsterRunStatus.FAILURE
        assert "keyframes" in report.outputs and "frame_pairs" not in report.outputs  # written, then stopped
        refused = dataset.execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey("training_dataset")], raise_on_error=False
        )
        assert not refused.success
        error = refused.get_step_failure_events()[0].step_failure_data.error
        assert "studio-150 (keyframes:enough_keyframes)" in str(error)

        # processed again with the settings it was curated with: the check passes and the video is back
        restored = run_per_video_chain(
            defs, instance, ["studio-150"], run_config=chain_config(keyframes_per_video=8), assets=["keyframes"]
        )
        assert not restored.failures and not restored.failed_checks
        again = dataset.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("training_dataset")])
        assert again.get_asset_check_evaluations()[0].passed
