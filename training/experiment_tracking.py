"""MLflow tracking with explicit run ids (no global active run), usable from plain training code.

The stock ``mlflow.start_run`` keeps the active run in process-global state, which breaks as soon
as two assets log from one process or a step runs in a subprocess. Everything here goes through
``MlflowClient`` with the run id passed explicitly.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any

from filelock import FileLock
from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput, LoggedModelStatus, Metric, Param, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_PARAMS_TAGS_PER_BATCH

# MLflow 3 opens an experiment without this tag on its GenAI (traces) screen; ours train and compare models.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
CUSTOM_MODEL_DEVELOPMENT = "custom_model_development"
DESCRIPTION_TAG = MLFLOW_RUN_NOTE  # the UI shows this tag as an experiment's or a run's description
METRIC_DIRECTION_PREFIX = "metric_direction."  # metric_direction.<metric> = lower | higher (which is better)


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

    def log_model(
        self,
        name: str,
        save: Callable[[Path, Model], Any],
        model_type: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> str:
        """A logged model of this run (MLflow 3: listed under the run's models), filled by ``save(folder, model)``.

        ``save`` writes an MLflow model folder (e.g. ``mlflow.pyfunc.save_model(folder, mlflow_model=model)``);
        it is uploaded as the logged model's artifacts. Returns the model id; the model is READY, or FAILED
        when ``save`` or the upload raised.
        """
        logged = self.client.create_logged_model(
            self.experiment_id,
            name=name,
            source_run_id=self.run_id,
            params={k: str(v) for k, v in (params or {}).items()},
            model_type=model_type,
        )
        try:
            with tempfile.TemporaryDirectory(prefix="mlflow-model-") as tmp:
                folder = Path(tmp) / "model"
                spec = Model(
                    artifact_path=logged.artifact_location,
                    run_id=self.run_id,
                    model_uuid=logged.model_id,
                    model_id=logged.model_id,
                )
                save(folder, spec)
                self.client.log_model_artifacts(logged.model_id, str(folder))
            self.client.log_outputs(self.run_id, [LoggedModelOutput(logged.model_id, step=0)])
        except BaseException:
            self.client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
            raise
        self.client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
        return logged.model_id

    def register_model(
        self,
        name: str,
        model_id: str,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
        model_description: str | None = None,
    ) -> str:
        """Register the logged model ``model_id`` (see :meth:`log_model`) as a new version of ``name``.

        ``description`` describes the version, ``model_description`` the registered model (set on creation
        and refreshed on every registration). Returns the version number.
        """
        try:
            self.client.create_registered_model(name, description=model_description)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            if model_description is not None:
                self.client.update_registered_model(name, description=model_description)
        with _process_tracking_uri(self.client.tracking_uri):
            version = self.client.create_model_version(
                name,
                f"models:/{model_id}",
                run_id=self.run_id,
                tags={k: str(v) for k, v in (tags or {}).items()},
                description=description,
                model_id=model_id,
            )
        return str(version.version)

    def set_description(self, text: str) -> None:
        """The run's description in the MLflow UI (Markdown)."""
        self.client.set_tag(self.run_id, DESCRIPTION_TAG, text)

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
    """Local ``save_pretrained`` folder of a registered model version (the newest when ``version`` is None).

    A version registered from a logged MLflow model (``MLmodel`` file) resolves to the folder its pyfunc wraps
    (artifact ``model``); one registered as a bare folder, as before models were logged, to that folder.
    Remote stores are downloaded; a local store's folder is used in place.
    """
    import mlflow.artifacts

    client = open_client(tracking_uri)
    if version is None:
        found = client.search_model_versions(f"name = '{name}'", order_by=["version_number DESC"], max_results=1)
        if not found:
            raise LookupError(
                f"no version of the model {name!r} is registered in {tracking_uri}; train it first "
                "(materialize the training assets) or pass a model folder"
            )
        version = found[0].version
    location = client.get_model_version_download_uri(name, str(version))
    folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=location, tracking_uri=tracking_uri))
    if not (folder / "MLmodel").is_file():
        return folder
    artifacts = Model.load(folder).flavors.get("python_function", {}).get("artifacts", {})
    if "model" not in artifacts:
        raise LookupError(f"{name} version {version} is an MLflow model without a 'model' folder artifact")
    return folder / artifacts["model"]["path"]


@contextmanager
def _process_tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow's process-wide tracking URI at ``uri`` for one call.

    MLflow's SQL model registry resolves a ``models:/<id>`` source with a client on the process-wide URI (its own
    TODO in ``create_model_version``), whatever store the registering client uses; the previous setting is
    restored after.
    """
    import mlflow

    previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)


def direction_tags(lower_is_better: Mapping[str, bool]) -> dict[str, str]:
    """``metric_direction.<metric>`` tags: which way each metric improves."""
    return {f"{METRIC_DIRECTION_PREFIX}{m}": "lower" if low else "higher" for m, low in lower_is_better.items()}


class Tracker:
    """Creates experiments (with artifacts under a chosen root) and runs on one tracking store."""

    def __init__(self, tracking_uri: str, artifact_root: Path | str | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        self.client = open_client(tracking_uri)

    def experiment_id(self, name: str) -> str:
        """The experiment ``name`` (created when missing), kind ``custom_model_development`` unless set otherwise."""
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            if EXPERIMENT_KIND_TAG not in found.tags:  # made before the kind was set: fix it, keep a user's choice
                self.client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND_TAG, CUSTOM_MODEL_DEVELOPMENT)
            return found.experiment_id
        location = None
        if self.artifact_root is not None:
            # Without an explicit location, MLflow would put artifacts under ./mlruns of whatever
            # directory the process happens to run in.
            location = (Path(self.artifact_root) / name.replace("/", "_")).resolve().as_uri()
        try:
            return self.client.create_experiment(
                name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: CUSTOM_MODEL_DEVELOPMENT}
            )
        except MlflowException as exc:
            # Another process created it between the lookup and the creation: use theirs.
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return self.client.get_experiment_by_name(name).experiment_id

    def describe_experiment(self, name: str, description: str, lower_is_better: Mapping[str, bool]) -> str:
        """Set the experiment's description (Markdown) and a ``metric_direction.<metric>`` tag per metric."""
        experiment_id = self.experiment_id(name)
        for key, value in {DESCRIPTION_TAG: description, **direction_tags(lower_is_better)}.items():
            self.client.set_experiment_tag(experiment_id, key, value)
        return experiment_id

    def start_run(self, experiment: str, run_name: str, tags: Mapping[str, Any] | None = None) -> TrackedRun:
        tags = {"git_sha": git_revision(), **(tags or {})}
        experiment_id = self.experiment_id(experiment)
        run = self.client.create_run(experiment_id, run_name=run_name, tags={k: str(v) for k, v in tags.items()})
        return TrackedRun(self.client, run.info.run_id, experiment_id)
