"""The per-video quality gates behind the asset checks; each verdict explains itself."""

from dataclasses import dataclass

MIN_CANVAS_FOUND = 0.90
MIN_KEYFRAMES = 5
MIN_NONEMPTY_MASKS = 0.80


@dataclass(frozen=True)
class Verdict:
    passed: bool
    description: str
    value: float


def canvas_found(found: int, total: int, minimum: float = MIN_CANVAS_FOUND) -> Verdict:
    fraction = found / total if total else 0.0
    text = f"canvas found on {found} of {total} sampled frames ({fraction:.0%}; need {minimum:.0%})"
    if fraction < minimum:
        text += (
            ". Look at the canvas_geometry preview: if the canvas is not in view or a different object is taken "
            "for it, try the other backend (contour / grounding_dino) or trim the video to the painting part."
        )
    return Verdict(fraction >= minimum, text, fraction)


def enough_keyframes(count: int, minimum: int = MIN_KEYFRAMES) -> Verdict:
    text = f"{count} keyframes (need {minimum})"
    if count < minimum:
        text += (
            ". Too few clean, changed frames: lower keyframes.min_change or min_interval_s, sample more often "
            "(sampled_frames.sample_every_s), or check the dropped-frames table for the dominant reason."
        )
    return Verdict(count >= minimum, text, float(count))


def target_exists(target_path: str | None) -> Verdict:
    if target_path:
        return Verdict(True, f"target I_T: {target_path}", 1.0)
    return Verdict(
        False,
        "no target I_T: no clean frame of the finished painting was found (every late frame occluded, or the video "
        "ends before the painting is finished). Check the dropped-frames table.",
        0.0,
    )


def masks_nonempty(nonempty: int, total: int, minimum: float = MIN_NONEMPTY_MASKS) -> Verdict:
    fraction = nonempty / total if total else 0.0
    text = f"{nonempty} of {total} pairs have a non-empty change mask M_t ({fraction:.0%}; need {minimum:.0%})"
    if fraction < minimum:
        text += (
            ". Empty masks mean consecutive keyframes look identical to the distance D: raise keyframes.min_change "
            "or check the difference threshold of the backend."
        )
    return Verdict(fraction >= minimum, text, fraction)
