"""A data root's settings (issue 19 item 2): what the commands ran it with is what the UI's process_videos, the
sensor and later commands use."""

from pathlib import Path

import dagster as dg
import pytest
import yaml

from pipelines.cli import main
from pipelines.definitions import build_definitions
from pipelines.demo import DEMO_KEYFRAMES_PER_VIDEO, DEMO_SAMPLE_EVERY_S, chain_config
from pipelines.sensors import new_videos_sensor
from pipelines.settings import (
    SettingsError,
    apply_chain_settings,
    combine,
    for_assets,
    load_settings,
    settings_path,
)
from tests.conftest import SmallDemo, write_test_video


def default_run_config(data_root: Path, partition: str = "v") -> dict:
    """What the launchpad shows and a run launched without config uses."""
    job = build_definitions(str(data_root)).resolve_job_def("process_videos")
    return job.partitioned_config.get_run_config_for_partition_key(partition)


def test_the_demo_saves_its_settings_as_the_data_roots_and_the_job_defaults_to_them(small_demo: SmallDemo):
    demo = chain_config(DEMO_SAMPLE_EVERY_S, DEMO_KEYFRAMES_PER_VIDEO)
    path = settings_path(small_demo.data_root)
    assert load_settings(small_demo.data_root) == demo
    assert path.read_text().startswith("# Settings of the per-video processing")  # says what it is
    assert default_run_config(small_demo.data_root) == demo
    assert f"saved to {path}" in small_demo.done.stdout


def test_the_job_the_sensor_and_a_run_without_config_use_the_settings(data_root: Path, instance):
    settings = apply_chain_settings(data_root, chain_config(0.5, 10), written_by="test").run_config
    assert default_run_config(data_root) == settings

    write_test_video(data_root / "videos" / "v.mp4", seconds=2.0)
    defs = build_definitions(str(data_root))
    with dg.build_sensor_context(instance=instance, definitions=defs, resources=defs.resources) as context:
        [request] = new_videos_sensor(context).run_requests
    assert request.partition_key == "v" and request.run_config == settings

    # A run given no config (as a UI launch with the launchpad's defaults): 0.5 s, not the asset's 2 s (which
    # this 2-s clip is too short for).
    instance.add_dynamic_partitions("videos", ["v"])
    result = defs.resolve_job_def("process_videos").execute_in_process(
        partition_key="v", instance=instance, asset_selection=[dg.AssetKey("sampled_frames")]
    )
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["sample_every_s"].value == 0.5 and metadata["frames"].value == 4


def test_curate_options_win_are_saved_and_later_runs_use_them(tmp_path: Path, capsys):
    data_root, home = tmp_path / "data", tmp_path / "home"
    notes = tmp_path / "notes.txt"  # no video: the command only links (and refuses) it, in a second
    notes.write_text("not a video")
    argv = ["curate", str(notes), "--data-root", str(data_root), "--dagster-home", str(home)]
    path = settings_path(data_root)

    main([*argv, "--sample-every", "1.5"])
    assert f"settings: sampled_frames.sample_every_s=1.5; saved to {path}" in capsys.readouterr().out
    assert load_settings(data_root) == chain_config(1.5)

    # a profile's time spacing saved by hand; --keyframes-per-video replaces it and keeps the sampling
    edited = yaml.safe_load(path.read_text())
    edited["ops"]["keyframes"] = {"config": {"min_interval_s": 6.0, "occluder_backend": "temporal"}}
    path.write_text(yaml.safe_dump(edited))
    main([*argv, "--keyframes-per-video", "7"])
    saved = load_settings(data_root)
    assert saved["ops"]["keyframes"]["config"] == {"keyframes_per_video": 7, "occluder_backend": "temporal"}
    assert saved["ops"]["sampled_frames"]["config"] == {"sample_every_s": 1.5}
    capsys.readouterr()

    before = path.read_text()
    main(argv)  # no options: the saved settings, the file untouched
    used = "keyframes.keyframes_per_video=7, keyframes.occluder_backend=temporal, sampled_frames.sample_every_s=1.5"
    assert f"settings: {used}, from {path}" in capsys.readouterr().out
    assert path.read_text() == before


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("ops: [1, 2]", "`ops` must map asset names"),
        ("ops:\n  sampled_frames:\n    config:\n      sample_every_s: -1\n", "greater than 0"),
        ("ops:\n  sampled_frame:\n    config: {}\n", 'unexpected config entry "sampled_frame"'),
        ("ops: {keyframes: {config: {keyframes_per_video: many}}}", "keyframes_per_video"),
        ("ops: {keyframes: [", "not valid YAML"),
    ],
)
def test_a_malformed_settings_file_is_one_clear_error_naming_the_file(tmp_path: Path, capsys, text, fragment):
    data_root = tmp_path / "data"
    path = settings_path(data_root)
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(SettingsError, match=fragment) as raised:
        build_definitions(str(data_root))
    assert str(path) in str(raised.value) and "delete it" in str(raised.value)
    code = main(["curate", str(tmp_path / "v.mp4"), "--data-root", str(data_root), "--dagster-home", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: {path}: ") and err.count("\n") == 1


def test_options_replace_what_they_set_and_a_run_of_a_few_assets_gets_only_theirs():
    saved = {
        "ops": {
            "keyframes": {"config": {"min_interval_s": 6.0, "min_change": 0.01}},
            "canvas_geometry": {"config": {"backend": "contour"}},
        }
    }
    merged = combine(saved, chain_config(1.0, 10))
    assert merged["ops"]["keyframes"]["config"] == {"min_change": 0.01, "keyframes_per_video": 10}
    assert merged["ops"]["sampled_frames"]["config"] == {"sample_every_s": 1.0}
    assert merged["ops"]["canvas_geometry"] == saved["ops"]["canvas_geometry"]
    assert combine({}, {}) == {} and combine(saved, {}) == saved
    assert for_assets(merged, ["frame_pairs", "keyframes"]) == {"ops": {"keyframes": merged["ops"]["keyframes"]}}
