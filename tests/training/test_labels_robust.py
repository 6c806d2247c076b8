"""Corrections under re-curation, hostile or malformed sheets and exports, and labelling by hand (issue 18)."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.cli import main
from tests.training.test_labels_io import TRUTH, cli, write_video_tables
from training.data.storage import write_parquet
from training.labels.auto import PendingPairs, SyntheticLabeller, make_pair_labeller
from training.labels.cli import add_labels_parser, current_pairs, export_rows, orphans, run_import, store_dir
from training.labels.csv_io import FORMULA_START, escape_cell, unescape_cell
from training.labels.label_studio import read_export
from training.labels.merge import instruction_labels
from training.labels.store import (
    MAX_LABEL_CHARS,
    import_corrections,
    latest_corrections,
    legacy_corrections,
    read_history,
)

OLD_TIMES = [0, 1000, 2000, 3000]  # pairs 0-1000, 1000-2000, 2000-3000
# re-curated with more keyframes: 0-1000 stays pair 0; 1000-2000 is split; 2000-3000 becomes pair 3
NEW_TIMES = [0, 1000, 1500, 2000, 3000]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    for seed, video in enumerate(("v1", "v2")):
        write_video_tables(data, video, OLD_TIMES, SyntheticLabeller(TRUTH), seed=seed)
    return data


def write_sheet(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_sheet(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def labels_now(root: Path, video: str) -> pd.DataFrame:
    auto = pd.read_parquet(root / "auto_labels" / f"{video}.parquet")
    pairs = pd.read_parquet(root / "frame_pairs" / f"{video}.parquet").assign(video_id=video)
    return instruction_labels(auto, latest_corrections(store_dir(root)), pairs).set_index("pair_id")


# --- (2) corrections belong to the pair's frames, not to its index ---------------------------------------------


def test_a_correction_never_moves_to_the_pair_that_took_its_index(root, tmp_path):
    sheet = tmp_path / "before.csv"
    assert cli("export", "--csv", "--data-root", str(root), "--out", str(sheet)) == 0
    rows = read_sheet(sheet)
    assert [(r["prev_t_ms"], r["next_t_ms"]) for r in rows[:3]] == [("0", "1000"), ("1000", "2000"), ("2000", "3000")]
    edits = {"v1/000": "sky", "v1/001": "lake", "v1/002": "rocks"}
    for r in rows:
        r["correction"] = edits.get(r["pair_id"], "")
    write_sheet(sheet, rows)
    assert cli("import", str(sheet), "--data-root", str(root)) == 0
    stored = read_history(store_dir(root)).set_index("pair_id")
    assert stored.loc["v1/001", ["video_id", "prev_t_ms", "next_t_ms"]].tolist() == ["v1", 1000, 2000]
    history = {p: p.read_bytes() for p in (store_dir(root) / "history").iterdir()}

    write_video_tables(root, "v1", NEW_TIMES, SyntheticLabeller(TRUTH))  # re-curated: 4 pairs now
    labels = labels_now(root, "v1")
    assert labels.loc["v1/000", "text"] == "sky" and labels.loc["v1/000", "source"] == "correction"
    assert labels.loc["v1/003", "text"] == "rocks" and labels.loc["v1/003", "source"] == "correction"  # followed
    # v1/001 and v1/002 are new pairs (1000-1500, 1500-2000): the old corrections are not theirs
    assert (labels.loc[["v1/001", "v1/002"], "source"] == "auto").all()
    assert "lake" not in set(labels["text"]) and labels.loc["v1/002", "text"] != "rocks"

    found = orphans(root)
    assert found["pair_id"].tolist() == ["v1/001"] and found["text"].tolist() == ["lake"]
    assert "now covers frames 1000-1500 ms, not the 1000-2000 ms" in found["reason"].iloc[0]
    assert {p: p.read_bytes() for p in (store_dir(root) / "history").iterdir()} == history  # kept, never rewritten

    # the sheet exported before the re-curation is refused row by row: its rows name other frames now
    for r in rows:
        r["correction"] = {"v1/001": "water", "v1/000": "clouds"}.get(r["pair_id"], "")
    write_sheet(sheet, rows)
    report = run_import(root, sheet, author="ann")
    reasons = dict(report.rejected)
    assert (
        "pair v1/001 now covers other frames (1000-1500 ms" in reasons["line 3"] and "export again" in reasons["line 3"]
    )
    assert report.added == [] and report.changed == [("v1/000", "sky", "clouds")]  # same frames: accepted
    assert labels_now(root, "v1").loc["v1/001", "source"] == "auto"


def test_an_old_label_studio_export_is_refused_for_re_curated_pairs(root, tmp_path):
    assert cli("export", "--data-root", str(root)) == 0
    tasks = json.loads((root / "label_exports" / "label-studio" / "tasks.json").read_text(encoding="utf-8"))
    assert (tasks[1]["data"]["prev_t_ms"], tasks[1]["data"]["next_t_ms"]) == (1000, 2000)
    write_video_tables(root, "v1", NEW_TIMES, SyntheticLabeller(TRUTH))
    exported = [
        {"id": 12, "data": tasks[1]["data"], "annotations": [{"result": [label_result("lake")]}]},
        {"id": 13, "data": tasks[3]["data"], "annotations": [{"result": [label_result("meadow")]}]},
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(exported))
    report = run_import(root, path, author="ann")
    assert "task 12" in dict(report.rejected) and "now covers other frames" in dict(report.rejected)["task 12"]
    assert report.added == ["v2/000"]


def test_legacy_rows_are_read_reported_and_never_applied_by_index(root, tmp_path, capsys):
    legacy = pd.DataFrame(
        {
            "pair_id": ["v1/001", "v2/002"],
            "text": ["lake", "rocks"],
            "corrected_at": pd.Timestamp("2025-01-01", tz="UTC"),
            "source": "csv",
            "author": "ann",
        }
    )
    write_parquet(legacy, store_dir(root) / "history" / "000001-20250101T000000000000Z-csv-2.parquet")
    assert len(read_history(store_dir(root))) == 2 and latest_corrections(store_dir(root)).empty
    assert labels_now(root, "v1").loc["v1/001", "source"] == "auto"  # not applied by index
    assert cli("export", "--csv", "--data-root", str(root), "--out", str(tmp_path / "s.csv")) == 0
    out = capsys.readouterr().out
    assert "note: 2 correction(s) in the history match no current pair" in out
    assert "v1/001 'lake': recorded before corrections were keyed by frame times" in out and "import" in out
    # the person checks v1/001 and imports its label again: the legacy row is settled, not rewritten
    write_sheet(tmp_path / "fix.csv", [{"pair_id": "v1/001", "correction": "lake"}])
    assert run_import(root, tmp_path / "fix.csv", author="ann").added == ["v1/001"]
    assert legacy_corrections(store_dir(root))["pair_id"].tolist() == ["v2/002"]
    assert labels_now(root, "v1").loc["v1/001", "text"] == "lake"
    assert len(read_history(store_dir(root))) == 3


def test_the_asset_reports_orphaned_corrections(root):
    from assets.labels import instruction_labels as asset
    from pipelines.resources import StorageResource

    write_sheet(root.parent / "c.csv", [{"pair_id": "v1/001", "correction": "lake"}])
    run_import(root, root.parent / "c.csv", author="ann")
    write_video_tables(root, "v1", NEW_TIMES, SyntheticLabeller(TRUTH))
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("videos", ["v1"])
        result = dg.materialize(
            [asset], partition_key="v1", instance=instance, resources={"storage": StorageResource(data_root=str(root))}
        )
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["orphaned_corrections"].value == 1
    assert metadata["orphaned"].value.records[0].data["pair_id"] == "v1/001"
    written = pd.read_parquet(root / "instruction_labels" / "v1.parquet").set_index("pair_id")
    assert "lake" not in set(written["text"])


def test_the_nearest_backend_learns_each_correction_on_its_own_frames(root, tmp_path):
    write_sheet(
        tmp_path / "c.csv", [{"pair_id": "v1/000", "correction": "sky"}, {"pair_id": "v1/001", "correction": "lake"}]
    )
    run_import(root, tmp_path / "c.csv", author="ann")
    write_video_tables(root, "v1", NEW_TIMES, SyntheticLabeller(TRUTH))
    labeller = make_pair_labeller("nearest", None, root, k=1)
    assert labeller.model_id.endswith(":n=1")  # only 0-1000 ms still exists; "lake" teaches nothing now


# --- (4) formula injection ---------------------------------------------------------------------------------------


@given(st.text(max_size=12))
def test_escaping_is_exactly_undone_and_never_starts_a_formula(text):
    escaped = escape_cell(text)
    assert unescape_cell(escaped) == text
    assert not escaped.startswith(FORMULA_START)


def test_exported_cells_never_start_a_formula_and_the_round_trip_is_lossless(root, tmp_path, capsys):
    hostile = {"v1/000": '=HYPERLINK("http://evil","x")', "v1/001": "@SUM(1)", "v1/002": "'quoted"}
    auto = pd.read_parquet(root / "auto_labels" / "v1.parquet")
    auto["text"] = auto["pair_id"].map(hostile)
    write_parquet(auto, root / "auto_labels" / "v1.parquet")
    edits = {"v2/000": "=sky", "v2/001": "-dark hills", "v2/002": "'tis", "v1/000": "''x", "v1/001": "+1 tree"}
    sheet = tmp_path / "s.csv"
    cli("export", "--csv", "--data-root", str(root), "--out", str(sheet))
    rows = read_sheet(sheet)
    assert [r["auto_label"] for r in rows[:3]] == ["'" + hostile["v1/000"], "'@SUM(1)", "''quoted"]
    for r in rows:
        r["correction"] = escape_cell(edits.get(r["pair_id"], ""))
    write_sheet(sheet, rows)
    assert cli("import", str(sheet), "--data-root", str(root)) == 0
    latest = latest_corrections(store_dir(root))
    assert dict(zip(latest["pair_id"], latest["text"], strict=True)) == edits
    cli("export", "--csv", "--data-root", str(root), "--out", str(sheet))
    raw = sheet.read_text(encoding="utf-8-sig")
    for cell in (c for line in csv.reader(raw.splitlines()) for c in line):
        assert not cell.startswith(FORMULA_START), cell
    capsys.readouterr()
    assert cli("import", str(sheet), "--data-root", str(root)) == 0  # lossless: nothing changed
    assert "added 0, changed 0, unchanged 5" in capsys.readouterr().out
    # typed by hand: a quote before a letter is part of the label, not an escape
    write_sheet(tmp_path / "hand.csv", [{"pair_id": "v2/002", "correction": "'tis"}])
    assert run_import(root, tmp_path / "hand.csv", author="ann").unchanged == ["v2/002"]


# --- (8) malformed Label Studio exports ----------------------------------------------------------------------------


def label_result(text: object) -> dict:
    return {"from_name": "label", "to_name": "pair", "type": "textarea", "value": {"text": [text]}}


GOOD_TASK = {"id": 1, "data": {"pair_id": "v1/000"}, "annotations": [{"result": [label_result("sky")]}]}


@pytest.mark.parametrize(
    ("task", "problem"),
    [
        ({"id": 12, "data": {"pair_id": "v1/000"}, "annotations": "oops"}, "'annotations' is a string"),
        ({"id": 12, "data": "oops", "annotations": [{"result": []}]}, "'data' is a string"),
        ({"id": 12, "data": {}, "annotations": [{"result": "oops"}]}, "'result' of its annotation is a string"),
        ({"id": 12, "data": {}, "annotations": ["oops"]}, "an item of 'annotations' is a string"),
        ({"id": 12, "data": {}, "annotations": [{"result": [["x"]]}]}, "an item of 'result' is a list"),
        (
            {
                "id": 12,
                "data": {},
                "annotations": [{"result": [{"from_name": "label", "type": "textarea", "value": "x"}]}],
            },
            "'value' of its 'label' result is a string",
        ),
        ({"id": 12, "data": [1], "annotations": []}, "'data' is a list"),
    ],
)
def test_wrong_field_types_are_one_clear_error_naming_the_task(root, tmp_path, task, problem):
    path = tmp_path / "export.json"
    path.write_text(json.dumps([GOOD_TASK, task]))
    with pytest.raises(ValueError) as caught:
        run_import(root, path, author="ann")
    message = str(caught.value)
    assert message.startswith(f"{path}: task 12: {problem}") and "export the project again" in message
    assert "\n" not in message
    assert not (store_dir(root) / "history").exists()  # the good task before it was not imported either


def test_nesting_too_deep_and_non_lists_are_clear_errors(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match=r"deep\.json: nested too deeply"):
        read_export(path)
    path.write_text(
        '[{"id": 1, "data": {"pair_id": "v1/000"}, "annotations": [{"result": [' + "[" * 500 + "]" * 500 + "]}]}]"
    )
    with pytest.raises(ValueError, match=r"task 1: an item of 'result' is a list"):
        read_export(path)
    path.write_text("[1]")
    with pytest.raises(ValueError, match=r"item 1 is a number, not a task object"):
        read_export(path)
    path.write_text('"tasks"')
    with pytest.raises(ValueError, match="a JSON list of tasks; got a string"):
        read_export(path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
any_value = json_values | st.sampled_from(["v1/000", "v2/001", "sky", 1000])


def mostly(shape: st.SearchStrategy, weight: int = 4) -> st.SearchStrategy:
    """`shape` most of the time, any JSON value sometimes: deep enough malformations to reach every reader."""
    return st.sampled_from([True] * weight + [False]).flatmap(lambda keep: shape if keep else any_value)


leaf = st.sampled_from(["sky", "v1/000", "v2/001", 0, 1000, 2000, "1000"]) | any_value
results = st.lists(
    mostly(
        st.fixed_dictionaries(
            {"from_name": mostly(st.just("label")), "type": mostly(st.just("textarea"))},
            optional={"value": mostly(st.fixed_dictionaries({}, optional={"text": mostly(st.lists(leaf)) | leaf}))},
        )
    ),
    max_size=3,
)
annotation = st.fixed_dictionaries(
    {}, optional={"result": mostly(results), "was_cancelled": any_value, "completed_by": any_value}
)
full_task = st.fixed_dictionaries(  # Label Studio's JSON export
    {"annotations": mostly(st.lists(mostly(annotation), max_size=3))},
    optional={
        "id": leaf,
        "data": mostly(st.fixed_dictionaries({}, optional={"pair_id": leaf, "prev_t_ms": leaf, "next_t_ms": leaf})),
    },
)
min_task = st.fixed_dictionaries(  # JSON-MIN: fields flattened
    {"label": mostly(st.lists(leaf)) | leaf},
    optional={"id": leaf, "pair_id": leaf, "prev_t_ms": leaf, "annotator": any_value},
)
task = full_task | min_task


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=mostly(st.lists(mostly(task, 8), max_size=4), 8))
def test_fuzzed_exports_give_rows_or_a_value_error_never_another_exception(tmp_path_factory, items):
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "export.json"
    path.write_text(json.dumps(items))
    try:
        candidates = read_export(path)
    except ValueError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
        return
    pairs = pd.DataFrame(
        {"pair_id": ["v1/000", "v2/001"], "video_id": ["v1", "v2"], "prev_t_ms": [0, 1000], "next_t_ms": [1000, 2000]}
    )
    report = import_corrections(folder / "store", candidates, "label-studio", pairs)
    assert report.accepted + len(report.rejected) == len(candidates)
    assert all(isinstance(t, str) for t in latest_corrections(folder / "store")["text"])


# --- (10) files that are not UTF-8 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["latin.csv", "latin.json"])
def test_latin1_files_name_the_file_and_say_save_as_utf8(root, tmp_path, capsys, name):
    path = tmp_path / name
    body = "pair_id,correction\nv1/000,prés\n" if name.endswith(".csv") else '[{"pair_id": "v1/000", "label": "prés"}]'
    path.write_bytes(body.encode("latin-1"))
    assert main(["labels", "import", str(path), "--data-root", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"error: {path}: not UTF-8 text" in err and "save it as UTF-8" in err


# --- (12) label text validation ------------------------------------------------------------------------------------


def test_labels_must_be_one_short_line_of_plain_text(root, tmp_path, capsys):
    rows = [
        ("v1/000", "two\nlines", "spans several lines"),
        ("v1/001", "x" * 100_000, "100000 characters, at most 64"),
        ("v1/002", "<script>alert(1)</script>", "markup"),
        ("v2/000", "{'a': 1}", "serialized dict/list"),
        ("v2/001", "sky\u202eyks", "control character U+202E"),
        ("v2/002", "x" * (MAX_LABEL_CHARS + 1), f"{MAX_LABEL_CHARS + 1} characters"),
    ]
    write_sheet(tmp_path / "bad.csv", [{"pair_id": p, "correction": t} for p, t, _ in rows])
    with open(tmp_path / "bad.csv", "a", encoding="utf-8") as f:  # and the good ones
        f.write("v1/000,prés fleuris\nv1/001,<3 sky\n")
    assert cli("import", str(tmp_path / "bad.csv"), "--data-root", str(root)) == 1
    out = capsys.readouterr().out
    for number, (pid, _, why) in enumerate(rows, start=2):
        assert f"rejected line {number}: {pid}: " in out and why in out
    assert "x" * 100 not in out  # a rejection names the row, it does not echo the text
    latest = latest_corrections(store_dir(root))
    assert set(latest["text"]) == {"prés fleuris", "<3 sky"}  # the rejected rows were not written
    # Label Studio: a label that is not a string is refused by name, not stored as "{'a': 1}"
    export = [
        {"id": 5, "pair_id": "v2/000", "label": {"a": 1}},
        {"id": 6, "pair_id": "v2/001", "label": 7},
        {"id": 7, "pair_id": "v2/002", "label": [["nested"]]},
        {"id": 8, "pair_id": {"x": 1}, "label": "sky"},
        {"id": 9, "pair_id": "v2/002", "label": "x" * MAX_LABEL_CHARS},
    ]
    (tmp_path / "ls.json").write_text(json.dumps(export))
    report = run_import(root, tmp_path / "ls.json", author="ann")
    reasons = dict(report.rejected)
    assert "the label is a JSON object, not text" in reasons["task 5"]
    assert "the label is a number" in reasons["task 6"] and "a JSON list" in reasons["task 7"]
    assert "the pair id is a JSON object" in reasons["task 8"]
    assert report.added == ["v2/002"]  # exactly 64 characters is a label


# --- (13) a junk file prints a summary, not a line per row ---------------------------------------------------------


def test_a_huge_junk_sheet_is_refused_in_one_line_and_a_big_report_is_summarised(root, tmp_path, capsys):
    junk = tmp_path / "junk.csv"
    junk.write_text("pair_id,correction\n" + "".join(f"junk/{i:05d},x{i}\n" for i in range(20_000)))
    assert main(["labels", "import", str(junk), "--data-root", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "none of its 20000 correction row(s) is valid (unknown pair id 20000)" in err
    assert not (store_dir(root) / "history").exists()

    mixed = tmp_path / "mixed.csv"
    mixed.write_text(
        "pair_id,correction\nv1/000,sky\n"
        + "".join(f"junk/{i:05d},x\n" for i in range(3000))
        + "".join(f"v1/001,{'y' * 70}\n" for _ in range(2))
    )
    assert cli("import", str(mixed), "--data-root", str(root)) == 1
    out = capsys.readouterr().out
    assert len(out.splitlines()) <= 15, out
    assert "rejected rows by reason: unknown pair id 3000, too long 2" in out
    assert "... and 2992 more rejected rows" in out
    report = run_import(root, mixed, author="ann")
    assert len(report.rejected) == 3002 and report.unchanged == ["v1/000"]  # the full list is kept


# --- (14) labelling by hand, with no labeller ----------------------------------------------------------------------


def test_with_no_labeller_export_lists_every_pair_for_hand_labelling(tmp_path, capsys):
    root = tmp_path / "data"
    write_video_tables(root, "mine", [0, 1000, 2000, 3000], PendingPairs())  # auto_labels by backend "none"
    write_video_tables(root, "bare", [0, 500, 1000])  # curated, no auto_labels at all
    (root / "difference_masks" / "bare.parquet").unlink()  # nor masks: still listed
    sheet = tmp_path / "s.csv"
    assert cli("export", "--csv", "--data-root", str(root), "--out", str(sheet)) == 0
    out = capsys.readouterr().out
    assert "5 of 5 pair(s) have no label yet" in out and "pair_id,correction" in out
    rows = read_sheet(sheet)
    assert [r["pair_id"] for r in rows] == ["bare/000", "bare/001", "mine/000", "mine/001", "mine/002"]
    assert {r["auto_label"] for r in rows} == {""} and {r["backend"] for r in rows} == {"none"}
    for r in rows:
        r["correction"] = "sky"
    write_sheet(sheet, rows)
    assert run_import(root, sheet, author="ann").added == [r["pair_id"] for r in rows]
    assert cli("export", "--data-root", str(root)) == 0  # Label Studio too: no predictions, no masks needed
    tasks = json.loads((root / "label_exports" / "label-studio" / "tasks.json").read_text(encoding="utf-8"))
    assert len(tasks) == 5 and not any("predictions" in t for t in tasks) and tasks[0]["data"]["mask"] == ""
    assert len(export_rows(root)) == len(current_pairs(root)) == 5


def test_nothing_curated_says_curate_first_and_help_shows_the_hand_route(tmp_path, capsys):
    assert main(["labels", "export", "--csv", "--data-root", str(tmp_path)]) == 2
    assert "curate videos first (inverse-painting curate VIDEO ...)" in capsys.readouterr().err
    parser = argparse.ArgumentParser()
    add_labels_parser(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit):
        parser.parse_args(["labels", "export", "--help"])
    assert "pair_id,correction" in " ".join(capsys.readouterr().out.split())
