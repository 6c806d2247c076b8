from training.data.quality_gates import canvas_found, enough_keyframes, masks_nonempty, target_exists


def test_gates_pass_at_their_thresholds_and_failures_say_what_to_change():
    assert canvas_found(9, 10).passed and not canvas_found(8, 10).passed
    assert "backend" in canvas_found(8, 10).description
    assert not canvas_found(0, 0).passed  # no sampled frame at all is a failure, not a division error
    assert enough_keyframes(5).passed and not enough_keyframes(4).passed
    assert "min_change" in enough_keyframes(4).description
    assert target_exists("kf/9_3:21.jpg").passed and not target_exists(None).passed
    assert masks_nonempty(8, 10).passed and not masks_nonempty(7, 10).passed
    assert "keyframes.min_change" in masks_nonempty(7, 10).description
