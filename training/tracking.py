"""MLflow tracking with explicit run ids (no global active run), usable from plain training code.

The stock ``mlflow.start_run`` keeps the active run in process-global state, which breaks as soon
as two assets log from one process or a step runs in a subprocess. Everything here goes through
``MlflowClient`` with the run id passed explicitly.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any

from filelock import FileLock
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_PARAMS_TAGS_PER_BATCH


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config -> flat ``a.b.c`` keys with string values, as MLflow params need."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, prefix=f"{name}."))
        else:
            flat[name] = str(value)[:MAX_PARAM_VAL_LENGTH]
    return flat


_REPO_DIR = Path(__file__).resolve().parents[1]


def sqlite_store_path(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` tracking URI (None for other stores and in-memory SQLite)."""
    from sqlalchemy.engine import make_url  # an MLflow dependency
    from sqlalchemy.exc import ArgumentError

    if not tracking_uri.startswith("sqlite:"):
        return None
    try:
        database = make_url(tracking_uri).database
    except ArgumentError:
        return None
    return None if database in (None, "", ":memory:") else Path(database).expanduser().resolve()


def open_client(tracking_uri: str) -> MlflowClient:
    """An ``MlflowClient`` on ``tracking_uri`` whose store is ready to use.

    Creating a client creates (and migrates) a SQLite store that does not exist yet. Two processes doing
    that at once on a fresh data root both run the migrations and one fails (``duplicate column name:
    step``), so for a local SQLite file the creation runs under an inter-process lock beside the file: the
    second process waits and then finds the store complete.
    """
    database = sqlite_store_path(tracking_uri)
    if database is None:
        return MlflowClient(tracking_uri=tracking_uri)
    database.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(database.with_name(f".{database.name}.lock")):
        return MlflowClient(tracking_uri=tracking_uri)


@lru_cache(maxsize=1)
def git_revision(repo_dir: Path = _REPO_DIR) -> str:
    """Commit of the code that produced a result, ``+dirty`` when the work tree has changes."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo_dir, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo_dir,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}+dirty" if dirty else sha


class TrackedRun:
    """One MLflow run, addressed by id. Use as a context manager: it ends FINISHED or FAILED."""

    def __init__(self, client: MlflowClient, run_id: str, experiment_id: str) -> None:
        self.client = client
        self.run_id = run_id
        self.experiment_id = experiment_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        items = [Param(k, v) for k, v in flatten(params).items()]
        for start in range(0, len(items), MAX_PARAMS_TAGS_PER_BATCH):
            self.client.log_batch(self.run_id, params=items[start : start + MAX_PARAMS_TAGS_PER_BATCH])

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        self.client.log_batch(self.run_id, metrics=batch)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_artifacts(self, folder: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifacts(self.run_id, str(folder), artifact_path)

    def register_model(self, name: str, folder: Path, tags: Mapping[str, Any] | None = None) -> str:
        """Log ``folder`` (a ``save_pretrained`` directory) as this run's ``model`` artifact and register it as a
        new version of ``name``; returns the version number."""
        self.log_artifacts(folder, "model")
        try:
            self.client.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        source = f"{self.client.get_run(self.run_id).info.artifact_uri}/model"
        version = self.client.create_model_version(
            name, source, run_id=self.run_id, tags={k: str(v) for k, v in (tags or {}).items()}
        )
        return str(version.version)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, str(value))

    def end(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status)

    def __enter__(self) -> TrackedRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.end(RunStatus.to_string(RunStatus.FAILED if exc_type else RunStatus.FINISHED))


# Names of the trained models in the MLflow model registry (ARCHITECTURE §6), by training asset.
REGISTERED_MODELS = {"text_generator": "text-generator", "mask_generator": "mask-generator", "renderer": "renderer"}


def registered_model_path(tracking_uri: str, name: str, version: str | None = None) -> Path:
    """Local folder of a registered model version (the newest when ``version`` is None), downloaded if remote."""
    import mlflow.artifacts

    client = open_client(tracking_uri)
    if version is None:
        found = client.search_model_versions(f"name = '{name}'", order_by=["version_number DESC"], max_results=1)
        if not found:
            raise LookupError(
                f"no version of the model {name!r} is registered in {tracking_uri}; train it first "
                "(materialize the training assets) or pass a model folder"
            )
        chosen = found[0]
    else:
        chosen = client.get_model_version(name, version)
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=chosen.source, tracking_uri=tracking_uri))


class Tracker:
    """Creates experiments (with artifacts under a chosen root) and runs on one tracking store."""

    def __init__(self, tracking_uri: str, artifact_root: Path | str | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        self.client = open_client(tracking_uri)

    def experiment_id(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        location = None
        if self.artifact_root is not None:
            # Without an explicit location, MLflow would put artifacts under ./mlruns of whatever
            # directory the process happens to run in.
            location = (Path(self.artifact_root) / name.replace("/", "_")).resolve().as_uri()
        try:
            return self.client.create_experiment(name, artifact_location=location)
        except MlflowException as exc:
            # Another process created it between the lookup and the creation: use theirs.
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return self.client.get_experiment_by_name(name).experiment_id

    def start_run(self, experiment: str, run_name: str, tags: Mapping[str, Any] | None = None) -> TrackedRun:
        tags = {"git_sha": git_revision(), **(tags or {})}
        experiment_id = self.experiment_id(experiment)
        run = self.client.create_run(experiment_id, run_name=run_name, tags={k: str(v) for k, v in tags.items()})
        return TrackedRun(self.client, run.info.run_id, experiment_id)
