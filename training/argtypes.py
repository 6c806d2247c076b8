"""Number types for argparse options: a bad value is refused while parsing, before any work starts.

``argparse`` prefixes the message with the option (``argument --sample-every: ...``), so each message
says what is allowed and what was given. NaN and infinities are refused everywhere: ``float("nan")``
parses, fails every comparison and would otherwise reach the code that uses it.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def _as_float(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r} (not a finite number)")
    return value


def positive_float(unit: str = "seconds", example: str = "2", maximum: float | None = None) -> Callable[[str], float]:
    """A finite number > 0 (seconds, strokes per second, ...), at most ``maximum`` when given."""
    limit = f" and at most {maximum:g}" if maximum is not None else ""
    what = f"a number of {unit} > 0{limit} (e.g. {example})"

    def parse(text: str) -> float:
        value = _as_float(text, what)
        if not value > 0 or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    parse.__name__ = f"positive number of {unit}"
    return parse


def int_in_range(minimum: int, maximum: int | None = None, unit: str = "") -> Callable[[str], int]:
    """A whole number in ``[minimum, maximum]`` (no upper bound when ``maximum`` is None)."""
    noun = f" of {unit}" if unit else ""
    span = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
    what = f"a whole number{noun} {span}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    parse.__name__ = f"whole number{noun}"
    return parse
