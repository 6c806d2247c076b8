"""Metadata helpers shared by the assets."""

import dagster as dg
import pandas as pd

from training.data.quality import Verdict


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


def check_result(name: str, verdict: Verdict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name, passed=verdict.passed, description=verdict.description, metadata={"value": verdict.value}
    )
