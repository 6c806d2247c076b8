"""The correction store (append-only, latest wins), import validation, the merge into instruction labels."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from training.labels.auto import AUTO_COLUMNS, auto_labels
from training.labels.merge import correction_rate, instruction_labels, most_frequent, unlabelled
from training.labels.store import (
    import_corrections,
    latest_corrections,
    pair_id,
    parse_pair_id,
    read_history,
)

PAIRS = [pair_id("clip", i) for i in range(4)] + [pair_id("other-video", 0)]


def pair_table(pids: list[str] = PAIRS) -> pd.DataFrame:
    """Current frame_pairs rows of `pids` (pair k spans k s to k+1 s), as `labels import` resolves them."""
    rows = []
    for pid in pids:
        video, index = parse_pair_id(pid)
        rows.append(
            {"pair_id": pid, "video_id": video, "pair_index": index}
            | {"prev_t_ms": 1000 * index, "next_t_ms": 1000 * (index + 1)}
        )
    return pd.DataFrame(rows)


CURRENT = pair_table()


def candidates(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"pair_id": p, "text": t, "ref": f"line {i + 2}"} for i, (p, t) in enumerate(rows)],
        columns=["pair_id", "text", "ref"],
    )


def auto_table(texts: dict[str, str | None], backend: str = "synthetic") -> pd.DataFrame:
    rows = []
    for pid, text in texts.items():
        video, index = parse_pair_id(pid)
        rows.append(
            {"pair_id": pid, "video_id": video, "pair_index": index, "text": text, "backend": backend}
            | {"model_id": "m", "prompt_hash": "h", "labelled_at": pd.Timestamp.now(tz="UTC")}
        )
    return pd.DataFrame(rows, columns=AUTO_COLUMNS)


def test_pair_ids_round_trip_and_reject_garbage():
    assert pair_id("a-b_c", 7) == "a-b_c/007"
    assert parse_pair_id("a-b_c/007") == ("a-b_c", 7)
    assert parse_pair_id("v/1234") == ("v", 1234)
    for bad in ("v7", "v/7", "/007", "a/b/007", "v/x07"):
        with pytest.raises(ValueError, match="not a pair id"):
            parse_pair_id(bad)
    with pytest.raises(ValueError, match="no '/'"):
        pair_id("a/b", 1)


def test_imports_append_files_and_latest_wins(tmp_path):
    store = tmp_path / "label_corrections"
    assert latest_corrections(store).empty
    first = import_corrections(store, candidates([(PAIRS[0], "sky"), (PAIRS[1], "hills")]), "csv", CURRENT, "ann")
    assert sorted(first.added) == [PAIRS[0], PAIRS[1]] and first.written is not None
    before = {p: p.read_bytes() for p in (store / "history").iterdir()}
    second = import_corrections(store, candidates([(PAIRS[0], "sun"), (PAIRS[1], " hills ")]), "label-studio", CURRENT)
    assert second.changed == [(PAIRS[0], "sky", "sun")] and second.unchanged == [PAIRS[1]]
    after = sorted((store / "history").iterdir())
    assert len(after) == 2 and all(p.read_bytes() == b for p, b in before.items())  # never rewritten
    latest = latest_corrections(store).set_index("pair_id")
    assert latest.loc[PAIRS[0], "text"] == "sun" and latest.loc[PAIRS[0], "source"] == "label-studio"
    assert latest.loc[PAIRS[1], "author"] == "ann"
    assert len(read_history(store)) == 3
    again = import_corrections(store, candidates([(PAIRS[0], "sun")]), "csv", CURRENT)
    assert again.written is None and again.unchanged == [PAIRS[0]]
    assert len(list((store / "history").iterdir())) == 2


def test_import_rejects_unknown_empty_and_duplicate_rows(tmp_path):
    rows = [
        ("nope/001", "sky"),
        (PAIRS[0], "   "),
        (PAIRS[1], "lake"),
        (PAIRS[1], "lake"),
        (PAIRS[2], "trees"),
        (PAIRS[2], "pine trees"),
        (PAIRS[3], "rocks"),
    ]
    report = import_corrections(tmp_path, candidates(rows), "csv", CURRENT)
    reasons = dict(report.rejected)
    assert "unknown pair id 'nope/001'" in reasons["line 2"]
    assert "empty text" in reasons["line 3"]
    assert "duplicate of line 4" in reasons["line 5"]
    assert "different texts" in reasons["line 6"] and "different texts" in reasons["line 7"]
    assert sorted(report.added) == [PAIRS[1], PAIRS[3]]
    assert "rejected 5" in report.render()
    assert set(latest_corrections(tmp_path)["pair_id"]) == {PAIRS[1], PAIRS[3]}


def test_instruction_labels_prefer_corrections_and_leave_gaps_visible(tmp_path):
    import_corrections(tmp_path, candidates([(PAIRS[1], "lake"), (PAIRS[4], "birds")]), "csv", CURRENT)
    auto = auto_table({PAIRS[0]: "sky", PAIRS[1]: "water", PAIRS[2]: None, PAIRS[3]: "sky"})
    labels = instruction_labels(auto, latest_corrections(tmp_path), CURRENT)
    assert labels["text"].tolist()[:2] == ["sky", "lake"] and pd.isna(labels["text"][2])
    assert labels["source"].tolist()[:2] == ["auto", "correction"] and pd.isna(labels["source"][2])
    assert labels.loc[1, "auto_text"] == "water" and pd.notna(labels.loc[1, "corrected_at"])
    assert PAIRS[4] not in set(labels["pair_id"])  # another video's correction
    assert unlabelled(labels) == [PAIRS[2]]
    assert correction_rate(labels) == 0.25
    top = most_frequent(labels)
    assert top.iloc[0].to_dict() == {"text": "sky", "count": 2}


class Answering:
    """A backend whose answers are given (what a model says is irrelevant to the store's guarantees)."""

    model_id = "fixed"
    prompt_hash = "0" * 12

    def __init__(self, backend: str, answers: dict[str, str | None]) -> None:
        self.backend, self.answers = backend, answers

    def label_table(self, pairs: pd.DataFrame, masks: pd.DataFrame | None) -> list[str | None]:
        return [self.answers[pid] for pid in pairs["pair_id"]]


def pairs_of(video: str) -> pd.DataFrame:
    indices = [parse_pair_id(p)[1] for p in PAIRS if parse_pair_id(p)[0] == video]
    return pd.DataFrame({"pair_index": indices, "pair_id": [pair_id(video, i) for i in indices]})


texts = st.text(alphabet="abcdefghij ,", min_size=1, max_size=12).filter(lambda t: t.strip())
steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("auto"),
            st.sampled_from(["synthetic", "llava", "nearest"]),
            st.lists(st.none() | texts, min_size=5, max_size=5),
        ),
        st.tuples(
            st.just("import"),
            st.sampled_from(["csv", "label-studio"]),
            st.lists(st.tuples(st.sampled_from(PAIRS), texts), max_size=4),
        ),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_relabelling_never_changes_or_loses_a_correction(tmp_path_factory, steps):
    """Any interleaving of auto-label re-runs and imports: every corrected pair shows its latest correction."""
    store: Path = tmp_path_factory.mktemp("store")
    expected: dict[str, str] = {}
    auto = auto_table(dict.fromkeys(PAIRS))
    for kind, name, payload in steps:
        if kind == "auto":  # the real per-video table builder, fed by a backend answering `payload`
            answers = dict(zip(PAIRS, payload, strict=True))
            auto = pd.concat(
                [
                    auto_labels(video, pairs_of(video), None, Answering(name, answers))
                    for video in ("clip", "other-video")
                ],
                ignore_index=True,
            )
        else:
            # duplicates within one import are rejected as a whole when texts differ: mirror that
            by_pair: dict[str, set[str]] = {}
            for pid, text in payload:
                by_pair.setdefault(pid, set()).add(text.strip())
            import_corrections(store, candidates(payload), name, CURRENT)
            expected.update({pid: next(iter(ts)) for pid, ts in by_pair.items() if len(ts) == 1})
        labels = instruction_labels(auto, latest_corrections(store), CURRENT).set_index("pair_id")
        for pid, text in expected.items():
            assert labels.loc[pid, "text"] == text and labels.loc[pid, "source"] == "correction"
        for pid in set(PAIRS) - set(expected):
            source = labels.loc[pid, "source"]
            assert pd.isna(source) or source == "auto"
            assert (
                labels.loc[pid, "text"] is pd.NA
                or labels.loc[pid, "text"] == auto.set_index("pair_id").loc[pid, "text"]
            )
    assert len(read_history(store)) >= len(expected)
