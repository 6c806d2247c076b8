"""Where this checkout keeps its Dagster instance and data, shared by the CLI commands."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pipelines.resources import DATA_ROOT_ENV

REPO_ROOT = Path(__file__).resolve().parents[1]


def default_dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or REPO_ROOT / ".dagster")


def prepare_environment(dagster_home: Path, data_root: Path) -> None:
    """Point this process (and the definitions it loads) at one instance and one data root.

    ``$DAGSTER_HOME/dagster.yaml`` is copied from the checkout when absent; an existing one is
    left alone, so local edits there survive.
    """
    dagster_home = dagster_home.resolve()
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        source = REPO_ROOT / "dagster.yaml"
        if not source.exists():
            raise FileNotFoundError(f"{source} is missing: install the project from a checkout (pip install -e .)")
        shutil.copyfile(source, config)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    os.environ[DATA_ROOT_ENV] = str(data_root.resolve())
