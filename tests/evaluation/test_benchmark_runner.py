"""Benchmark runner: methods grid, ablation switches (what the models see), table, files and MLflow runs."""

import shutil
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow import MlflowClient

from evaluation.artifacts import write_frames
from evaluation.benchmark_runner import run_benchmark
from evaluation.budget import StepBudget
from evaluation.curves import curve_slopes, time_map
from evaluation.methods import ABLATIONS, Method, ablation, method_grid
from evaluation.reconstruct import Models, ReconstructConfig, Reconstruction, reconstruct, registered_model_dirs
from evaluation.sequences import Sequence, sequence_from_frames, sequences_from_manifest
from training.data.difference import make_backend
from training.inference.paint import PaintConfig, paint
from training.models.presets import tiny_preset
from training.models.reference_attention import ReferenceReader
from training.models.renderer import Guidance, load_renderer

torch.set_num_threads(1)


# ------------------------------------------------------------------------------------------ methods
def test_method_grid_has_ours_three_dts_five_ablations_four_baselines():
    grid = method_grid()
    names = [m.name for m in grid]
    assert names[0] == "ours" and grid[0].dt_s == 20 and not grid[0].ablate
    assert {"ours-dt10", "ours-dt30"} <= set(names)
    assert {m.name: m.ablate for m in grid if m.ablate} == {f"ours-{c}": frozenset({v}) for c, v in ABLATIONS.items()}
    baselines = [m for m in grid if m.kind == "baseline"]
    assert len(baselines) == 4 and all(m.dt_s == 20 for m in baselines)
    assert len(grid) == 12
    with pytest.raises(ValueError, match="unknown ablation"):
        Method("x", "ours", ablate=frozenset({"colour"}))
    with pytest.raises(ValueError, match="unknown baseline"):
        Method("x", "baseline", baseline="nope")
    with pytest.raises(ValueError, match="unknown ablation"):
        PaintConfig(ablate=frozenset({"TE"}))


# ------------------------------------------------------------------------------------------ ablation switches
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tiny_preset(tmp_path_factory.mktemp("tiny") / "base")
    rend = load_renderer(base)
    saved = rend.save_pretrained(tmp_path_factory.mktemp("saved") / "renderer")
    return load_renderer(saved)  # through the folder loader, as the benchmark loads it


def _seen(renderer, guidance: Guidance) -> dict:
    """Run one 1-step generation and record what g_u received (tokens, masks, reference state)."""
    core = renderer.core
    record: dict = {}
    original = core.denoise

    def spy(noisy, timesteps, prev_images, masks, tokens):
        record.update(
            tokens=tokens.clone(),
            masks=masks.clone(),
            bank=len(core.bank),
            readers=sum(isinstance(p, ReferenceReader) for p in core.unet.attn_processors.values()),
        )
        return original(noisy, timesteps, prev_images, masks, tokens)

    core.denoise = spy
    try:
        r = renderer.resolution
        rng = np.random.default_rng(0)
        current = rng.integers(0, 255, (r, r, 3), dtype=np.uint8)
        target = rng.integers(0, 255, (r, r, 3), dtype=np.uint8)
        mask = np.ones((r, r), bool)
        out = renderer.generate(current, target, "sky", mask, 20.0, 1, guidance, torch.Generator().manual_seed(0))
    finally:
        del core.denoise
    record["out"] = out
    return record


def test_renderer_ablation_switches_change_what_the_unet_sees(tiny):
    full = _seen(tiny, Guidance())
    tokens = full["tokens"]  # [text 77 | predicted CLIP | time] per branch; 1 + 4 guidance branches
    assert tokens.shape[0] == 5 and full["readers"] > 0 and full["bank"] > 0
    assert tokens[0, :77].abs().sum() > 0 and tokens[0, 77].abs().sum() > 0 and tokens[0, 78].abs().sum() > 0
    assert full["masks"][0].sum() > 0

    slots = {"text": slice(0, 77), "clip": slice(77, 78), "time": slice(78, 79)}
    for name, slot in slots.items():
        seen = _seen(tiny, Guidance(removed=frozenset({name})))
        assert seen["tokens"].shape[0] == 4  # no guidance branch for a removed condition
        assert seen["tokens"][:, slot].abs().sum() == 0, name  # its dropped (zero) value in every branch
        others = [s for n, s in slots.items() if n != name]
        assert all(seen["tokens"][0, s].abs().sum() > 0 for s in others), name
        assert not np.array_equal(seen["out"], full["out"]), name
    no_mask = _seen(tiny, Guidance(removed=frozenset({"mask"})))
    assert no_mask["masks"].abs().sum() == 0 and no_mask["tokens"].shape[0] == 4

    no_ref = _seen(tiny, Guidance(reference=False))
    assert no_ref["readers"] == 0 and no_ref["bank"] == 0  # g_u attends to its own tokens only
    assert not np.array_equal(no_ref["out"], full["out"])
    # the reference readers are back for the next call
    assert sum(isinstance(p, ReferenceReader) for p in tiny.core.unet.attn_processors.values()) == full["readers"]
    with pytest.raises(ValueError, match="unknown condition"):
        Guidance(removed=frozenset({"reference"}))


class _Renderer:
    resolution = 32
    default_guidance = Guidance()
    default_steps = 25

    def __init__(self):
        self.calls = []

    def generate(self, current, target, text, mask, dt_s, num_steps, guidance, generator):
        self.calls.append((text, mask.copy(), dt_s, guidance))
        out = current.copy()
        out[mask] = (out[mask] * 0.5 + target[mask] * 0.5).astype(np.uint8)
        return out


class _Masks:
    def __init__(self):
        self.calls = 0

    def predict(self, target, current, md, text, dt_s, use_time=True):
        self.calls += 1
        self.used_time = use_time
        probs = np.zeros(current.shape[:2], np.float32)
        probs[: current.shape[0] // 2] = 0.9
        return probs


def test_paint_loop_ablations_skip_text_and_mask_generators():
    target = np.zeros((32, 32, 3), np.uint8)
    target[:, :, 2] = 200
    distance = make_backend("colour-structure")
    texts = []

    def text_fn(current, tgt):
        texts.append(1)
        return "sky"

    rend, masks = _Renderer(), _Masks()
    paint(target, rend, masks, text_fn, distance, PaintConfig(max_steps=2, dilate_px=0))
    assert texts and masks.calls == 2 and rend.calls[0][0] == "sky" and rend.calls[0][1].mean() == 0.5
    assert rend.calls[0][3] == Guidance()

    rend, masks, texts = _Renderer(), _Masks(), []
    paint(target, rend, masks, text_fn, distance, PaintConfig(max_steps=2, ablate=frozenset({"text", "mask"})))
    assert not texts and masks.calls == 0
    text, mask, _, guidance = rend.calls[0]
    assert text == "" and mask.all() and guidance.removed == frozenset({"text", "mask"}) and guidance.reference

    rend, masks = _Renderer(), _Masks()
    paint(target, rend, masks, text_fn, distance, PaintConfig(max_steps=1, ablate=frozenset({"reference", "time"})))
    assert rend.calls[0][3].reference is False and rend.calls[0][3].removed == frozenset({"time"})
    assert masks.used_time is False  # -TE drops Δt from the mask generator too


def test_reconstruct_ours_uses_the_methods_dt_ablation_and_the_gt_size():
    gt = _painting("p", 48, 36, seed=1)
    rend = _Renderer()
    models = Models(rend, _Masks(), None)
    with pytest.raises(ValueError, match="no text generator"):
        reconstruct(Method("ours", "ours"), gt, models, make_backend("colour-structure"))
    # the longest training painting lasted 20 s: at most 1.0 x 20 / 10 = 2 updates, though the scored one lasts 80 s
    config = ReconstructConfig(num_inference_steps=1, budget=StepBudget(20.0, 20.0), update_factor=1.0)
    method = replace(ablation("TG"), dt_s=10.0)
    rec = reconstruct(method, gt, models, make_backend("colour-structure"), config=config)
    assert rec.sequence.size == gt.size and rec.sequence.times_s[1] == 10.0
    assert all(c[2] == 10.0 and c[0] == "" for c in rend.calls)
    assert 1 <= len(rend.calls) <= 2 and config.paint_config(method, seed=0).max_steps == 2
    assert rec.masks[0].shape == (36, 48) and rec.texts == [""] * len(rend.calls)
    assert ReconstructConfig().steps_cap(10.0) == 50  # no budget: the released code's cap, not the painting's


def test_a_baselines_frame_count_comes_from_the_budget_not_the_ground_truth():
    fade = Method("fade", "baseline", 20.0, baseline="fade")
    config = ReconstructConfig(budget=StepBudget(60.0, 100.0))
    distance = make_backend("colour-structure")
    for steps in (2, 4, 12):  # ground truths of 40 s, 80 s and 240 s
        rec = reconstruct(fade, _painting("p", 32, 24, seed=0, steps=steps), None, distance, config=config)
        assert len(rec.sequence.recorded()) == 3 and rec.sequence.duration_s == 60.0
    assert config.step_params(fade) == {"baseline_steps": 3}
    assert config.step_params(Method("ours", "ours")) == {"max_updates": 8}  # ceil(1.5 * 100 / 20)
    with pytest.raises(ValueError, match="step budget"):
        reconstruct(fade, _painting("p", 32, 24, seed=0), None, distance)


# ------------------------------------------------------------------------------------------ runner
def _painting(name: str, w: int, h: int, seed: int, steps: int = 4, dt: float = 20.0) -> Sequence:
    """A painting process: coloured bands appear top to bottom, one per step."""
    rng = np.random.default_rng(seed)
    canvas = np.full((h, w, 3), 255, np.uint8)
    frames = [canvas.copy()]
    for k in range(steps):
        canvas[k * h // steps : (k + 1) * h // steps] = rng.integers(0, 200, 3)
        frames.append(canvas.copy())
    return Sequence(name, frames, [k * dt for k in range(steps + 1)])


def _fake_ours(method, gt, models, distance, seed=0, config=None):
    """Ours replaced by a near-perfect painter (reveals the real frames), as a trained model would aim to."""
    if method.kind != "ours":
        return reconstruct(method, gt, models, distance, seed=seed, config=config)
    frames = gt.recorded()
    if "mask" in method.ablate:  # a worse variant: everything at once
        frames = [gt.target] * len(frames)
    seq = sequence_from_frames(method.name, frames, method.dt_s, gt.size)
    masks = [np.ones(gt.frames[0].shape[:2], bool)] * len(frames)
    return Reconstruction(seq, ["sky"] * len(frames), masks, "close to target")


def test_run_benchmark_table_files_and_mlflow_parent_child_runs(tmp_path: Path):
    paintings = [_painting("alpha", 48, 32, 0), _painting("beta", 40, 40, 1)]
    methods = [
        m for m in method_grid(dts=(20.0,), ablations=("MG",)) if m.kind == "ours" or m.baseline in ("fade", "strokes")
    ]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    from training.experiment_tracking import Tracker

    messages = []
    # training paintings lasted 60 s on average, 100 s at most; the scored ones last 80 s (4 steps of 20 s)
    budget = StepBudget(60.0, 100.0, 3.0, "train split of dataset abc123: 2 paintings")
    result = run_benchmark(
        paintings,
        methods,
        None,
        make_backend("colour-structure"),
        tmp_path / "bench",
        tracker=Tracker(uri, tmp_path / "artifacts"),
        params={"dataset_version": "abc123", "renderer_version": "7"},
        fid_weights=None,
        config=ReconstructConfig(budget=budget),
        reconstruct_fn=_fake_ours,
        progress=messages.append,
    )
    table = result.table
    assert list(table["method"]) == ["ours", "ours-MG", "fade", "strokes"]
    assert {"distance", "iou", "ddc", "dts", "fid"} <= set(table.columns)
    assert table["fid"].isna().all() and (table["paintings"] == 2).all()
    ours = table.set_index("method").loc["ours"]
    assert ours["distance"] == pytest.approx(0.0, abs=1e-6) and ours["iou"] == pytest.approx(1.0)
    # the baselines paint 3 steps (60 s) for 80 s paintings: no longer handed DTS = 0
    assert result.wins_over_baselines("ours") == {"distance": True, "iou": True, "ddc": True, "dts": True}
    assert table.set_index("method").loc[["fade", "strokes"], "dts"].tolist() == pytest.approx([20 / 60] * 2)
    assert len(result.per_painting) == 8 and len(messages) == 8

    csv = pd.read_csv(result.csv_path)
    assert list(csv["method"]) == list(table["method"])
    # what users read names the distance by its backend: a colour-structure distance is never "lpips"
    assert "distance_colour_structure" in csv.columns and "lpips" not in csv.columns
    per_painting = pd.read_csv(tmp_path / "bench" / "fade" / "scores.csv")
    assert "distance_colour_structure" in per_painting.columns and "lpips" not in per_painting.columns
    md = result.markdown_path.read_text()
    # the distance column goes by its backend's name: a colour-structure distance is not reported as LPIPS
    assert "D (colour-structure-v1) ↓" in md and "LPIPS" not in md and "IoU ↑" in md and "n/a" in md
    assert sum(line.startswith("| ") for line in md.splitlines()) == 5  # header + 4 methods
    assert len(list((tmp_path / "bench" / "ours" / "alpha").glob("*.png"))) == 4
    with av.open(str(tmp_path / "bench" / "fade" / "beta.mp4")) as video:
        assert sum(1 for _ in video.decode(video=0)) == 4  # white + the budget's 3 steps

    client = MlflowClient(tracking_uri=uri)
    parent = client.get_run(result.parent_run_id)
    assert parent.data.params["dataset_version"] == "abc123"
    assert parent.data.params["baseline_steps"] == "3" and parent.data.params["budget_source"] == budget.source
    assert parent.data.params["budget_mean_duration_s"] == "60.0" and "step_margin" not in parent.data.params
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {"comparison.csv", "comparison.md"}
    assert "ours.distance_colour_structure" in parent.data.metrics
    assert not any("lpips" in m for m in parent.data.metrics)
    assert "| ours |" in parent.data.tags["mlflow.note.content"]  # the table is the parent run's description
    experiment = client.get_experiment(parent.info.experiment_id).tags
    assert experiment["mlflow.experimentKind"] == "custom_model_development"  # not MLflow's GenAI screen
    assert experiment["metric_direction.distance_colour_structure"] == "lower"
    assert experiment["metric_direction.iou"] == "higher" and experiment["metric_direction.dts"] == "lower"
    assert "metric_direction.lpips" not in experiment and "higher is better" in experiment["mlflow.note.content"]
    assert set(result.child_run_ids) == {"ours", "ours-MG", "fade", "strokes"}
    for name, run_id in result.child_run_ids.items():
        child = client.get_run(run_id)
        assert child.info.experiment_id == parent.info.experiment_id and child.info.status == "FINISHED"
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.params["method"] == name and child.data.params["renderer_version"] == "7"
        assert child.data.params["budget_max_duration_s"] == "100.0"
        step_param = ("max_updates", "8") if name.startswith("ours") else ("baseline_steps", "3")
        assert child.data.params[step_param[0]] == step_param[1]
        assert {"distance_colour_structure", "iou", "ddc", "dts"} <= set(child.data.metrics)
        assert "lpips" not in child.data.metrics and "fid" not in child.data.metrics
        assert child.data.params["distance_backend"] == "colour-structure-v1"
        assert "Inception" in child.data.tags["fid_unavailable_reason"]
        top = {a.path for a in client.list_artifacts(run_id)}
        assert {"videos", "plots"} <= top
        plots = {a.path for a in client.list_artifacts(run_id, "plots")}
        assert {"plots/slope_histogram.png", "plots/distance_curve_alpha.png", "plots/distance_curve_beta.png"} <= plots
        maps = {a.path for a in client.list_artifacts(run_id, "time_maps")}
        assert (maps == {"time_maps/time_map_alpha.png", "time_maps/time_map_beta.png"}) == name.startswith("ours")
    # the benchmark's models come from the same store's registry: newest version unless one is named
    tracker = Tracker(uri, tmp_path / "artifacts")
    for k in range(2):
        for name in ("renderer", "mask-generator", "text-generator"):
            folder = tmp_path / f"{name}-{k}"
            folder.mkdir()
            (folder / "k.txt").write_text(str(k))
            with tracker.start_run("inverse-painting/training", name) as run:
                run.register_model(name, run.log_model(name, lambda dest, spec, f=folder: shutil.copytree(f, dest)))
    dirs, versions = registered_model_dirs(uri, {"mask_generator": "1"})
    assert versions == {"renderer_version": "2", "mask_generator_version": "1", "text_generator_version": "2"}
    assert [(dirs[k] / "k.txt").read_text() for k in ("renderer", "mask_generator", "text_generator")] == [
        "1",
        "0",
        "1",
    ]
    with pytest.raises(ValueError, match="duplicate painting"):
        run_benchmark(
            paintings * 2,
            methods,
            None,
            make_backend("colour-structure"),
            tmp_path / "x",
            fid_weights=None,
            config=ReconstructConfig(budget=budget),
        )
    runs_before = len(client.search_runs([parent.info.experiment_id]))
    with pytest.raises(ValueError, match="step budget"):  # baselines without one: refused before any run starts
        run_benchmark(paintings, methods, None, make_backend("colour-structure"), tmp_path / "y", tracker=tracker)
    assert len(client.search_runs([parent.info.experiment_id])) == runs_before


def test_time_map_and_slopes_follow_the_painting_order():
    gt = _painting("p", 32, 32, 3, steps=4)
    steps = time_map(gt, make_backend("colour-structure"))
    assert steps[0, 0] == 1 and steps[-1, 0] == 4 and (np.diff(steps[:, 0]) >= 0).all()
    slopes = curve_slopes(np.array([0.0, 0.5, 1.0]), np.array([1.0, 0.5, 0.5]))
    assert slopes.tolist() == [-1.0, 0.0]


def test_sequences_from_manifest_builds_time_ordered_ground_truth(tmp_path: Path):
    from training.data.images import write_image

    frames = [np.full((16, 24, 3), v, np.uint8) for v in (255, 150, 60)]
    paths = []
    for i, f in enumerate(frames):
        paths.append(str(tmp_path / f"{i}.png"))
        write_image(Path(paths[-1]), f)
    manifest = pd.DataFrame(
        {
            "prev_path": paths[:2],
            "next_path": paths[1:],
            "dt_s": [12.0, 8.0],
            "painting": ["v1", "v1"],
            "split": ["val", "val"],
        }
    )
    (seq,) = sequences_from_manifest(manifest)
    assert seq.name == "v1" and seq.times_s == [0.0, 12.0, 20.0] and seq.frames[2][0, 0, 0] == 60
    with pytest.raises(ValueError, match="no 'train' rows"):
        sequences_from_manifest(manifest, split="train")


def test_write_frames_replaces_the_folder_of_an_older_run(tmp_path: Path):
    frames = [np.full((8, 8, 3), v, np.uint8) for v in (10, 20, 30)]
    write_frames(frames, tmp_path / "m" / "p")
    paths = write_frames(frames[:2], tmp_path / "m" / "p")
    assert sorted(p.name for p in (tmp_path / "m" / "p").iterdir()) == ["001.png", "002.png"] == [p.name for p in paths]


def test_only_the_pretrained_lpips_backend_is_reported_as_lpips():
    from evaluation.metrics.score import distance_metric_name
    from training.data.difference import is_true_lpips

    assert is_true_lpips("lpips-alex-v0.1")
    assert not is_true_lpips("lpips-alex-v0.1-random-backbone")
    assert not is_true_lpips("colour-structure-v1")
    assert distance_metric_name("lpips-alex-v0.1") == "lpips"
    assert distance_metric_name("colour-structure-v1") == "distance_colour_structure"
    assert distance_metric_name("lpips-alex-v0.1-random-backbone") == "distance_lpips_alex_random_backbone"


def test_head_to_head_counts_strict_wins_in_each_metrics_direction():
    from evaluation.comparison import head_to_head, head_to_head_markdown

    table = pd.DataFrame(
        [
            {"method": "ours", "distance": 0.3, "iou": 0.5, "ddc": 0.1, "dts": 0.2},
            {"method": "fade", "distance": 0.6, "iou": 0.7, "ddc": 0.1, "dts": 0.02},  # a tie on DDC is no win
            {"method": "ours-TE", "distance": 0.4, "iou": 0.4, "ddc": 0.3, "dts": float("nan")},
        ]
    )
    assert head_to_head(table) == {"fade": ["distance"], "ours-TE": ["distance", "iou", "ddc"]}
    text = head_to_head_markdown(table, make_backend("colour-structure"))
    assert "- ours vs fade: better on 1 of 4 (D (colour-structure-v1))" in text.splitlines()
