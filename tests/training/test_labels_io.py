"""Label Studio and CSV round trips through `labels export` / `labels import`, and the conversation JSON."""

from __future__ import annotations

import argparse
import csv
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.data.images import read_rgb, write_image
from training.data.storage import write_parquet
from training.labels.auto import SyntheticLabeller, auto_labels
from training.labels.cli import add_labels_parser, run_labels_cli, store_dir
from training.labels.label_studio import read_export
from training.labels.merge import instruction_labels
from training.labels.prompts import P_INSTRUCT, P_LABEL
from training.labels.store import latest_corrections
from training.text_generator.conversations import build_conversation_json

TRUTH = {
    "generator": "test",
    "layers": [
        {"index": 0, "label": "sky", "start_ms": 0, "end_ms": 1500},
        {"index": 1, "label": "hills", "start_ms": 1500, "end_ms": 3000},
    ],
}
# texts a spreadsheet or JSON could mangle: commas, quotes, accents, "NA", leading zeros
EDITS = {"v1/000": 'sky, "clouds"', "v1/002": "NA", "v2/001": "prés fleuris", "v2/000": "007"}


def write_video_tables(
    root: Path, video: str, times: list[int], labeller: object | None = None, seed: int = 0
) -> pd.DataFrame:
    """frame_pairs, difference_masks and auto_labels of one video whose keyframes are at `times` (ms), written
    as the pipeline writes them (re-running it with other times is a re-curation); returns the pairs."""
    rng = np.random.default_rng(seed)
    folder = root / "frame_pairs" / video
    folder.mkdir(parents=True, exist_ok=True)
    frames = [folder / f"{k}_0:0{k}.png" for k in range(len(times))]
    for path in frames:
        write_image(path, rng.integers(0, 255, (12, 16, 3), dtype=np.uint8))
    count = len(times) - 1
    pairs = pd.DataFrame(
        {
            "pair_index": range(count),
            "prev_t_ms": times[:-1],
            "next_t_ms": times[1:],
            "prev_path": [str(p) for p in frames[:-1]],
            "next_path": [str(p) for p in frames[1:]],
            "target_path": str(frames[-1]),
            "dt_s": [(b - a) / 1000 for a, b in itertools.pairwise(times)],
        }
    )
    masks_dir = root / "difference_masks" / video
    masks_dir.mkdir(parents=True, exist_ok=True)
    mask_paths = [masks_dir / f"{i:03d}_mt_mask.png" for i in range(count)]
    for path in mask_paths:
        write_image(path, (rng.random((12, 16)) > 0.5).astype(np.uint8) * 255)
    masks = pd.DataFrame({"pair_index": range(count), "mt_mask_path": [str(p) for p in mask_paths]})
    write_parquet(pairs, root / "frame_pairs" / f"{video}.parquet")
    write_parquet(masks, root / "difference_masks" / f"{video}.parquet")
    if labeller is not None:
        write_parquet(auto_labels(video, pairs, masks, labeller), root / "auto_labels" / f"{video}.parquet")
    return pairs


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """Two curated videos of 3 pairs each, with masks and synthetic auto labels, as the pipeline writes them."""
    root = tmp_path / "data"
    for seed, video in enumerate(("v1", "v2")):
        write_video_tables(root, video, [0, 1000, 2000, 3000], SyntheticLabeller(TRUTH), seed=seed)
    return root


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_labels_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["labels", *argv])
    return args.func(args)


def test_csv_round_trip_is_lossless(data_root, tmp_path, capsys):
    sheet = tmp_path / "sheet.csv"
    assert cli("export", "--csv", "--data-root", str(data_root), "--out", str(sheet)) == 0
    with sheet.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["pair_id"] for r in rows] == ["v1/000", "v1/001", "v1/002", "v2/000", "v2/001", "v2/002"]
    assert [r["auto_label"] for r in rows[:3]] == ["sky", "hills", "hills"] and rows[0]["correction"] == ""
    assert Path(rows[0]["mask_path"]).is_file() and Path(rows[0]["prev_path"]).is_file()
    for r in rows:  # a person types corrections in a spreadsheet
        r["correction"] = EDITS.get(r["pair_id"], "")
    with sheet.open("w", encoding="utf-8", newline="") as f:  # saved without a BOM this time
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert cli("import", str(sheet), "--data-root", str(data_root), "--author", "ann") == 0
    assert "added 4, changed 0, unchanged 0, rejected 0" in capsys.readouterr().out
    latest = latest_corrections(store_dir(data_root))
    assert dict(zip(latest["pair_id"], latest["text"], strict=True)) == EDITS
    assert set(latest["source"]) == {"csv"} and set(latest["author"]) == {"ann"}
    # export again: the sheet shows the corrections in force, byte-for-byte
    again = tmp_path / "again.csv"
    cli("export", "--csv", "--data-root", str(data_root), "--out", str(again))
    shown = pd.read_csv(again, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert dict(zip(shown["pair_id"], shown["correction"], strict=True)) == {
        r["pair_id"]: EDITS.get(r["pair_id"], "") for r in rows
    }
    assert cli("import", str(again), "--data-root", str(data_root)) == 0  # nothing new
    assert "added 0, changed 0, unchanged 4" in capsys.readouterr().out
    assert len(list((store_dir(data_root) / "history").iterdir())) == 1


def test_csv_import_reports_bad_rows_and_keeps_good_ones(data_root, tmp_path, capsys):
    sheet = tmp_path / "bad.csv"
    sheet.write_text("pair_id,correction\nv1/000,lake\nv9/000,sky\nv1/001,  \nv1/002,rocks\nv1/002,trees\n")
    assert cli("import", str(sheet), "--data-root", str(data_root)) == 1
    out = capsys.readouterr().out
    assert "rejected line 3: unknown pair id 'v9/000'" in out
    assert "rejected line 4: empty text for v1/001" in out
    assert "line 5" in out and "line 6" in out and "different texts" in out
    assert latest_corrections(store_dir(data_root))["pair_id"].tolist() == ["v1/000"]
    (tmp_path / "nohead.csv").write_text("id,label\nv1/000,x\n")
    with pytest.raises(ValueError, match=r"nohead.csv: the sheet lacks column\(s\) \['correction', 'pair_id'\]"):
        cli("import", str(tmp_path / "nohead.csv"), "--data-root", str(data_root))


def label_studio_export(tasks: list[dict], edits: dict[str, str]) -> list[dict]:
    """What Label Studio's JSON export holds after annotators edited the pre-annotated tasks."""
    exported = []
    for number, task in enumerate(tasks, start=1):
        pid = task["data"]["pair_id"]
        annotations = [  # an annotation that was skipped: Label Studio keeps it, flagged as cancelled
            {"id": 100 + number, "completed_by": 1, "was_cancelled": True, "result": []}
        ]
        if pid in edits:
            annotations.append(
                {
                    "id": 200 + number,
                    "completed_by": {"id": 2, "email": "ann@example.org"},
                    "was_cancelled": False,
                    "ground_truth": False,
                    "created_at": "2026-01-01T10:00:00.000000Z",
                    "updated_at": "2026-01-01T10:01:00.000000Z",
                    "lead_time": 12.5,
                    "result": [
                        {
                            "id": f"r{number}",
                            "from_name": "label",
                            "to_name": "pair",
                            "type": "textarea",
                            "origin": "manual",
                            "value": {"text": [edits[pid]]},
                        }
                    ],
                    "prediction": task.get("predictions", [{}])[0],
                    "task": number,
                    "project": 1,
                }
            )
        exported.append(
            {"id": number, "data": task["data"], "annotations": annotations, "predictions": [], "project": 1}
        )
    return exported


def test_label_studio_round_trip_is_lossless(data_root, tmp_path, capsys):
    assert cli("export", "--data-root", str(data_root)) == 0
    out_dir = data_root / "label_exports" / "label-studio"
    tasks = json.loads((out_dir / "tasks.json").read_text(encoding="utf-8"))
    config = (out_dir / "labeling_config.xml").read_text(encoding="utf-8")
    assert '<TextArea name="label" toName="pair"' in config and '<Image name="pair" value="$image"' in config
    assert len(tasks) == 6
    first = tasks[0]
    assert first["data"]["pair_id"] == "v1/000" and first["data"]["question"] == P_LABEL
    assert first["data"]["image"] == "/data/local-files/?d=label_exports/label-studio/images/v1/000.png"
    assert first["data"]["mask"] == "/data/local-files/?d=difference_masks/v1/000_mt_mask.png"
    prediction = first["predictions"][0]
    assert prediction["model_version"] == "synthetic/studio-truth:test"
    assert prediction["result"][0]["value"]["text"] == ["sky"]
    composite = read_rgb(out_dir / "images" / "v1" / "000.png")
    prev, nxt = (read_rgb(data_root / "frame_pairs" / "v1" / f"{k}_0:0{k}.png") for k in (0, 1))
    assert composite.shape == (12, 32, 3)
    assert np.abs(composite.astype(int) - np.concatenate([prev, nxt], axis=1)).max() <= 1

    export = tmp_path / "project-1-at-2026.json"
    export.write_text(json.dumps(label_studio_export(tasks, EDITS), ensure_ascii=False), encoding="utf-8")
    read = read_export(export)
    assert dict(zip(read["pair_id"], read["text"], strict=True)) == EDITS
    assert set(read["author"]) == {"ann@example.org"}
    assert cli("import", str(export), "--data-root", str(data_root)) == 0
    latest = latest_corrections(store_dir(data_root))
    assert dict(zip(latest["pair_id"], latest["text"], strict=True)) == EDITS
    assert set(latest["source"]) == {"label-studio"}

    # JSON-MIN export of the same project, one label changed
    minimal = [{"id": 9, "pair_id": "v1/002", "image": "x", "label": "rocks", "annotator": 2}]
    export_min = tmp_path / "min.json"
    export_min.write_text(json.dumps(minimal))
    assert cli("import", str(export_min), "--data-root", str(data_root)) == 0
    assert "changed v1/002: 'NA' -> 'rocks'" in capsys.readouterr().out
    # the re-exported tasks show the current correction to the annotator
    cli("export", "--data-root", str(data_root))
    tasks = json.loads((out_dir / "tasks.json").read_text(encoding="utf-8"))
    assert {t["data"]["pair_id"]: t["data"]["correction"] for t in tasks}["v1/002"] == "rocks"


def test_read_export_rejects_non_exports(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"tasks": []}')
    with pytest.raises(ValueError, match="JSON list of tasks"):
        read_export(bad)
    bad.write_text('[{"id": 1, "foo": 2}]')
    with pytest.raises(ValueError, match=r"bad\.json: task 1: has neither"):
        read_export(bad)


def test_conversation_json_matches_the_release(data_root, tmp_path):
    auto = pd.concat([pd.read_parquet(p) for p in sorted((data_root / "auto_labels").glob("*.parquet"))])
    pairs = pd.concat(
        [pd.read_parquet(p).assign(video_id=p.stem) for p in sorted((data_root / "frame_pairs").glob("*.parquet"))]
    )
    labels = instruction_labels(auto, latest_corrections(store_dir(data_root)), pairs)
    rows = labels.merge(pairs, on=["video_id", "pair_index"])
    path = build_conversation_json(rows, tmp_path / "text")
    records = json.loads(path.read_text(encoding="utf-8"))
    release = (
        Path(__file__).resolve().parents[3]
        / "shared/realdata/official_sample/sample_data_processed/train/llava_json.json"
    )
    if release.is_file():  # same structure, key for key
        reference = json.loads(release.read_text(encoding="utf-8"))[0]
        assert records[0].keys() == reference.keys()
        assert [c.keys() for c in records[0]["conversations"]] == [c.keys() for c in reference["conversations"]]
        assert records[0]["conversations"][0]["value"] == reference["conversations"][0]["value"]
    assert [r["id"] for r in records] == list(range(6))
    assert records[0]["image"] == "v1/0_0:00_3_0:03.png"
    assert records[0]["conversations"] == [
        {"from": "human", "value": "<image>\n" + P_INSTRUCT},
        {"from": "gpt", "value": "sky"},
    ]
    image = read_rgb(tmp_path / "text" / records[1]["image"])
    prev, target = read_rgb(rows["prev_path"].iloc[1]), read_rgb(rows["target_path"].iloc[1])
    assert np.abs(image.astype(int) - np.concatenate([prev, target], axis=1)).max() <= 1  # left current, right target
    rows.loc[2, "text"] = pd.NA
    with pytest.raises(ValueError, match="without an instruction label"):
        build_conversation_json(rows, tmp_path / "text2")


def test_cli_errors_are_one_line_naming_the_input_and_the_fix(tmp_path, capsys):
    from pipelines.cli import main

    assert main(["labels", "export", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "curate videos first (inverse-painting curate VIDEO ...)" in err
    (tmp_path / "x.txt").write_text("")
    assert main(["labels", "import", str(tmp_path / "x.txt"), "--data-root", str(tmp_path)]) == 2
    assert "x.txt: import takes a .csv sheet or a Label Studio .json export" in capsys.readouterr().err
    with pytest.raises(ValueError, match="curate videos first"):  # --verbose: the exception itself
        main(["labels", "export", "--data-root", str(tmp_path), "--verbose"])
    assert run_labels_cli  # the entry point the lead wires


def test_nearest_backend_learns_from_the_store_and_never_writes_it(data_root, tmp_path):
    from training.labels.auto import choose_backend, make_pair_labeller, read_pair_tables

    with pytest.raises(ValueError, match="no corrected pair to learn from"):
        make_pair_labeller("nearest", None, data_root)
    sheet = tmp_path / "c.csv"
    sheet.write_text("pair_id,correction\nv1/000,sky\nv1/001,hills\nv1/002,lake\n")
    assert cli("import", str(sheet), "--data-root", str(data_root)) == 0
    history = sorted((store_dir(data_root) / "history").iterdir())
    labeller = make_pair_labeller("nearest", None, data_root, k=1)
    assert labeller.backend == "nearest" and labeller.model_id.endswith(":k=1:n=3")
    pairs, masks = read_pair_tables(data_root, "v1")
    table = auto_labels("v1", pairs, masks, labeller)
    assert table["text"].tolist() == ["sky", "hills", "lake"]  # each corrected pair is its own neighbour
    assert sorted((store_dir(data_root) / "history").iterdir()) == history
    # auto: no local LLaVA, no truth file beside this path -> nearest, since corrections exist
    assert choose_backend("auto", tmp_path / "none.mp4", tmp_path / "no-llava", has_corrections=True) == "nearest"
    # nothing usable: every pair pending, no text invented
    assert choose_backend("auto", tmp_path / "none.mp4", tmp_path / "no-llava") == "none"
    pending = auto_labels("v1", pairs, masks, make_pair_labeller("none", None, data_root))
    assert pending["text"].isna().all() and set(pending["backend"]) == {"none"}
    with pytest.raises(ValueError, match="unknown label backend"):
        choose_backend("gpt", None)
