"""Where this checkout keeps its Dagster instance and data, shared by the CLI commands."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import tomllib
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from training.data_root import DATA_ROOT_ENV

if TYPE_CHECKING:
    from dagster._core.remote_origin import ManagedGrpcPythonEnvCodeLocationOrigin

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


@cache
def code_location_origin() -> ManagedGrpcPythonEnvCodeLocationOrigin:
    """The code location that ``dagster dev`` loads for this checkout, as ``dagster dev`` builds it.

    That of the checkout's ``workspace.yaml`` (the README's ``dagster dev -w <checkout>/workspace.yaml``), else
    pyproject's ``[tool.dagster]`` (``dagster dev`` in the checkout). Runs created with it (pipelines/job_runs.py)
    are that location's runs: the UI lists them under their job and re-executes them there.
    """
    from dagster._core.workspace.load_target import ModuleTarget, WorkspaceFileTarget, get_target_from_toml_data

    with (REPO_ROOT / "pyproject.toml").open("rb") as file:
        target = get_target_from_toml_data(tomllib.load(file))
    if not isinstance(target, ModuleTarget) or not target.location_name:
        raise ValueError(f"{REPO_ROOT / 'pyproject.toml'}: [tool.dagster] must name module_name and code_location_name")
    workspace = REPO_ROOT / "workspace.yaml"
    if workspace.is_file():
        for origin in WorkspaceFileTarget([str(workspace)]).create_origins():
            if origin.location_name == target.location_name:
                return origin
    return ModuleTarget(target.module_name, target.attribute, str(REPO_ROOT), target.location_name).create_origins()[0]


def dagster_dev_command(dagster_home: Path, data_root: Path) -> str:
    """The line that opens an instance and data root in the Dagster UI.

    Started in $DAGSTER_HOME, not the checkout: there `dagster dev` would warn that the checkout's dagster.yaml
    is not the instance's (the commands copy it into $DAGSTER_HOME); workspace.yaml names the code location.
    """
    home, root = dagster_home.resolve(), data_root.resolve()
    dagster = Path(sys.executable).parent / "dagster"
    return (
        f"cd {shlex.quote(str(home))} && DAGSTER_HOME={shlex.quote(str(home))} "
        f"{DATA_ROOT_ENV}={shlex.quote(str(root))} {shlex.quote(str(dagster))} dev "
        f"-w {shlex.quote(str(REPO_ROOT / 'workspace.yaml'))}"
    )
