"""Metadata helpers shared by the assets."""

import dagster as dg
import pandas as pd

from training.data.quality_gates import Verdict


def _plain(value: object) -> object:
    """A cell as a plain Python value; missing values (None, NaN, NA, NaT) become None."""
    if value is None or (not isinstance(value, (list, tuple)) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def table_metadata(frame: pd.DataFrame) -> dg.MetadataValue:
    """A DataFrame as a Dagster table (rendered as a table in the UI)."""
    records = [dg.TableRecord({k: _plain(v) for k, v in row.items()}) for row in frame.to_dict("records")]
    columns = [
        dg.TableColumn(str(name), "number" if pd.api.types.is_numeric_dtype(dtype) else "string")
        for name, dtype in frame.dtypes.items()
    ]
    return dg.MetadataValue.table(records, schema=dg.TableSchema(columns))


def check_result(
    name: str, verdict: Verdict, severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name,
        passed=verdict.passed,
        description=verdict.description,
        metadata={"value": verdict.value},
        severity=severity,
    )


class BlockingCheckFailed(ValueError):
    """A per-video asset was written but failed one of its blocking checks: the run stops for that video."""


def stop_on_failed_checks(video_id: str, results: list[dg.AssetCheckResult], message: str | None = None) -> None:
    """Raise BlockingCheckFailed when a check failed with ERROR severity (call it after yielding the results).

    The materialization and the check results are recorded first, so the UI shows what was written and why it
    failed; the step then fails, the run is not green, and the video's later assets are not materialized in
    this run. ``training_dataset`` leaves the video out until its checks pass (assets/dataset.py).
    """
    failed = [r for r in results if not r.passed and r.severity == dg.AssetCheckSeverity.ERROR]
    if failed:
        why = message or "; ".join(f"{r.check_name}: {r.description}" for r in failed)
        names = ", ".join(r.check_name for r in failed)
        raise BlockingCheckFailed(
            f"{video_id}: {why} (blocking check {names} failed: this video's later assets are not materialized "
            "in this run, and training_dataset leaves the video out until the check passes)"
        )
