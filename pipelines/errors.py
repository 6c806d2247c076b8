"""Reading failures out of Dagster results."""

from typing import Any


def root_cause(error: Any) -> str:
    """The user's exception message inside Dagster's step-error wrapper (a SerializableErrorInfo chain).

    Only Dagster's own wrappers are unwrapped: the user's error keeps its message, not the
    lower-level exception it was raised from.
    """
    if error is None:
        return "unknown error"
    while error.cause is not None and (error.cls_name or "").startswith("Dagster"):
        error = error.cause
    return error.message.strip()
