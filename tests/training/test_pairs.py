"""Frame pairs: the white canvas first, Δt in seconds, clear errors for bad keyframe lists."""

import numpy as np
import pandas as pd
import pytest

from training.data.pairs import PAIR_COLUMNS, make_pairs, white_canvas


def test_white_canvas_is_pure_white_with_width_height_order():
    image = white_canvas((7, 3))
    assert image.shape == (3, 7, 3)
    assert image.dtype == np.uint8
    assert (image == 255).all()


def test_white_canvas_rejects_empty_size():
    with pytest.raises(ValueError, match="positive"):
        white_canvas((0, 5))


def test_pairs_start_from_the_white_canvas_and_chain_keyframes():
    keyframes = [(1500, "k1.jpg"), (21500, "k2.jpg"), (45000, "target.jpg")]
    pairs = make_pairs(keyframes, "target.jpg", "white.png")
    assert list(pairs.columns) == PAIR_COLUMNS
    assert pairs["pair_index"].tolist() == [0, 1, 2]
    assert pairs["prev_path"].tolist() == ["white.png", "k1.jpg", "k2.jpg"]
    assert pairs["next_path"].tolist() == ["k1.jpg", "k2.jpg", "target.jpg"]
    assert pairs["prev_t_ms"].tolist() == [0, 1500, 21500]
    assert pairs["next_t_ms"].tolist() == [1500, 21500, 45000]
    assert pairs["dt_s"].tolist() == pytest.approx([1.5, 20.0, 23.5])
    assert (pairs["target_path"] == "target.jpg").all()


def test_a_single_keyframe_gives_the_white_to_target_pair():
    pairs = make_pairs([(60000, "t.jpg")], "t.jpg", "w.png")
    assert len(pairs) == 1
    row = pairs.iloc[0]
    assert (row["prev_path"], row["next_path"], row["prev_t_ms"], row["dt_s"]) == ("w.png", "t.jpg", 0, 60.0)


def test_pairs_survive_a_parquet_round_trip(tmp_path):
    pairs = make_pairs([(1000, "a.jpg"), (3000, "b.jpg")], "b.jpg", "w.png")
    pairs.to_parquet(tmp_path / "p.parquet", index=False)
    back = pd.read_parquet(tmp_path / "p.parquet")
    pd.testing.assert_frame_equal(back, pairs)
    assert str(back["dt_s"].dtype) == "float64"


def test_no_keyframes_is_an_error_that_names_the_problem():
    with pytest.raises(ValueError, match="at least one keyframe"):
        make_pairs([], "t.jpg", "w.png")


@pytest.mark.parametrize(
    "keyframes",
    [
        [(2000, "a.jpg"), (2000, "b.jpg")],  # duplicate time
        [(5000, "a.jpg"), (3000, "b.jpg")],  # going back in time
    ],
)
def test_non_increasing_times_are_rejected(keyframes):
    with pytest.raises(ValueError, match="strictly increase"):
        make_pairs(keyframes, "b.jpg", "w.png")


def test_a_keyframe_at_time_zero_collides_with_the_white_canvas():
    with pytest.raises(ValueError, match="white canvas"):
        make_pairs([(0, "a.jpg"), (1000, "b.jpg")], "b.jpg", "w.png")
