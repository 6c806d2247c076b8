"""Issue 22, the cluster deployment (deploy/): its configs against Dagster's schemas, and studio videos processed
by real servers: PostgreSQL for the instance, the daemon's queue, Celery workers on Redis, one worker killed."""

import os
import time
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
import yaml
from dagster._config import validate_config
from dagster._core.events import DagsterEventType
from dagster._core.instance.config import dagster_instance_config_schema
from dagster._serdes import deserialize_value

from pipelines import definitions
from pipelines.demo import chain_config, ensure_demo_videos
from pipelines.instance import REPO_ROOT
from pipelines.jobs import PROCESS_VIDEOS
from pipelines.settings import write_settings
from tests.cluster_services import CLUSTER_ENV, INSTALL_HINT, Cluster, cluster, kill, missing_servers
from tests.conftest import PER_VIDEO_ASSETS
from training.data.studio import StudioConfig

DEPLOY = REPO_ROOT / "deploy"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


# --- the deployment's configs, validated here since no cluster is at hand -----------------------------------


def test_the_deploy_instance_is_valid_and_queues_runs_as_the_one_machine_instance():
    deployed, local = load(DEPLOY / "dagster.yaml"), load(REPO_ROOT / "dagster.yaml")
    result = validate_config(dagster_instance_config_schema(), deployed)
    assert result.success, [error.message for error in result.errors]
    assert deployed["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    # The limits are written three times (instance files cannot include each other): they must not drift.
    for key in ("run_coordinator", "concurrency", "run_monitoring"):
        assert deployed[key] == local[key], key
    helm = load(DEPLOY / "helm" / "values.yaml")["dagsterDaemon"]
    queue = helm["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queue["tagConcurrencyLimits"] == local["concurrency"]["runs"]["tag_concurrency_limits"]
    assert helm["runMonitoring"]["startTimeoutSeconds"] == local["run_monitoring"]["start_timeout_seconds"]
    assert not validate_config(dagster_instance_config_schema(), {**deployed, "storage": {"postgress": {}}}).success


def helm_run_launcher_config(values: dict) -> dict:
    """The K8sRunLauncher config Dagster's chart writes into the instance's dagster.yaml from these values
    (its template helpers/instance/_run-launcher.tpl, "dagsterYaml.runLauncher.k8s")."""
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    config = {
        "load_incluster_config": launcher["loadInclusterConfig"],
        "job_namespace": launcher.get("jobNamespace") or "dagster",  # default: the release's namespace
        "image_pull_policy": launcher["imagePullPolicy"],
        "service_account_name": "dagster",
        "dagster_home": {"env": "DAGSTER_HOME"},
        "instance_config_map": {"env": "DAGSTER_K8S_INSTANCE_CONFIG_MAP"},
        "postgres_password_secret": {"env": "DAGSTER_K8S_PG_PASSWORD_SECRET"},
        "env_config_maps": [{"env": "DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP"}]
        + [item["name"] for item in launcher.get("envConfigMaps", [])],
    }
    renamed = {"envVars": "env_vars", "volumes": "volumes", "volumeMounts": "volume_mounts"}
    config |= {snake: launcher[camel] for camel, snake in renamed.items() if launcher.get(camel)}
    if launcher.get("envSecrets"):
        config["env_secrets"] = [item["name"] for item in launcher["envSecrets"]]
    if launcher.get("runK8sConfig"):
        run_k8s = launcher["runK8sConfig"]
        keys = {"containerConfig": "container_config", "podSpecConfig": "pod_spec_config"}
        config["run_k8s_config"] = {keys[k]: v for k, v in run_k8s.items()}
    return config


def test_the_kubernetes_run_launcher_and_step_executor_configs_validate_against_dagster_k8s(monkeypatch):
    from dagster_k8s import K8sRunLauncher, k8s_job_executor

    values = load(DEPLOY / "helm" / "values.yaml")
    launcher = helm_run_launcher_config(values)
    result = validate_config(K8sRunLauncher.config_type(), launcher)
    assert result.success, [error.message for error in result.errors]
    assert "INVERSE_PAINTING_EXECUTOR=k8s" in launcher["env_vars"]
    # The data root is mounted where the runs are told it is.
    mount = launcher["volume_mounts"][0]["mountPath"]
    assert f"INVERSE_PAINTING_DATA_ROOT={mount}" in launcher["env_vars"]
    assert not validate_config(K8sRunLauncher.config_type(), {**launcher, "env_var": []}).success

    executor = definitions.executor_config("k8s")
    result = validate_config(k8s_job_executor.config_schema.config_type, executor)
    assert result.success, [error.message for error in result.errors]
    monkeypatch.setenv(definitions.EXECUTOR_ENV, "k8s")
    assert definitions.executor_from_env().name == "k8s"


def test_the_executor_is_in_process_unless_the_deployment_names_another(tmp_path, monkeypatch):
    from dagster_celery import celery_executor

    monkeypatch.delenv(definitions.EXECUTOR_ENV, raising=False)
    assert definitions.executor_from_env() is dg.in_process_executor
    config = definitions.executor_config("celery")
    result = validate_config(celery_executor.config_schema.config_type, config)
    assert result.success, [error.message for error in result.errors]
    assert config["broker"] == {"env": "INVERSE_PAINTING_CELERY_BROKER"}
    assert config["config_source"]["task_acks_late"] and config["config_source"]["task_retry_on_worker_lost"]
    job = definitions.build_definitions(str(tmp_path)).resolve_job_def(PROCESS_VIDEOS)
    assert job.executor_def is dg.in_process_executor
    monkeypatch.setenv(definitions.EXECUTOR_ENV, "celery")
    job = definitions.build_definitions(str(tmp_path)).resolve_job_def(PROCESS_VIDEOS)
    assert job.executor_def.name == "celery"
    monkeypatch.setenv(definitions.EXECUTOR_ENV, "dask")
    with pytest.raises(ValueError, match="INVERSE_PAINTING_EXECUTOR='dask': choose one of in_process, celery, k8s"):
        definitions.executor_from_env()


# --- the deployment, running ------------------------------------------------------------------------------


def require_servers() -> None:
    missing = missing_servers()
    if not missing:
        return
    message = f"PostgreSQL/Redis not installed ({', '.join(missing)} missing): {INSTALL_HINT}"
    if os.environ.get(CLUSTER_ENV) == "required":
        pytest.fail(message)
    pytest.skip(message)


KILLED_STEP = "keyframes"  # several seconds per video: long enough to kill its worker while it runs
STUDIO = StudioConfig(duration_s=24, size=(320, 240), fps=5)


def prepare_data_root(data_root: Path, videos: int, seed: int) -> list[str]:
    """``videos`` small studio videos and the settings the sensor's runs use: the demo's sampling, smaller canvases,
    keyframes 1.2 s apart or more (24 samples, ~40 % occluded by the hand; the check needs 5 keyframes)."""
    made = ensure_demo_videos(data_root / "videos", videos, seed, STUDIO)
    settings = chain_config(sample_every_s=1.0, keyframes_per_video=20)
    settings["ops"]["canvas_frames"] = {"config": {"long_side": 256}}
    write_settings(data_root, settings, written_by="tests/pipelines/test_cluster.py")
    return sorted(made)


def step_starts(pg: dict[str, str], step_key: str) -> list[tuple[str, int]]:
    """(run id, pid) of each STEP_START of ``step_key``, from Postgres' event_logs, in order."""
    with psycopg2.connect(**pg) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT run_id, event FROM event_logs WHERE dagster_event_type = 'STEP_START' AND step_key = %s "
            "ORDER BY id",
            (step_key,),
        )
        return [(run_id, deserialize_value(event).dagster_event.pid) for run_id, event in cursor.fetchall()]


def pg_params(deployment: Cluster) -> dict[str, str]:
    env = deployment.env
    return {
        "host": env["DAGSTER_PG_HOST"],
        "port": env["DAGSTER_PG_PORT"],
        "user": env["DAGSTER_PG_USER"],
        "dbname": env["DAGSTER_PG_DB"],
    }


def wait_for_runs(instance: dg.DagsterInstance, count: int, timeout_s: float, deployment: Cluster) -> list:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = instance.get_runs()
        if len(runs) >= count and all(run.is_finished for run in runs):
            return runs
        time.sleep(0.5)
    logs = {name: deployment.log(name)[-2500:] for name in ("daemon", "celery", "code_server")}
    raise AssertionError(f"runs not finished after {timeout_s} s: {[r.status for r in instance.get_runs()]}\n{logs}")


def test_videos_are_processed_on_a_celery_pool_with_postgres_and_a_killed_worker_is_retried(tmp_path, monkeypatch):
    """4 studio videos dropped into the data root: the sensor queues a run per video, the daemon dequeues them,
    every step executes on a pool of 2 Celery processes; the process running one video's keyframes step is
    SIGKILLed, and Celery sends the step again (deploy/celery.yaml), which succeeds on a live process."""
    require_servers()
    data_root = tmp_path / "data"
    ids = prepare_data_root(data_root, videos=4, seed=0)
    with cluster(tmp_path, data_root, daemon=False) as deployment:
        # The worker imports the code location while the code server does; then the daemon starts.
        deployment.start_workers(concurrency=2, wait=False)
        deployment.start_daemon()
        deployment.wait_for_workers()
        pg = pg_params(deployment)
        for key, value in deployment.instance_env.items():
            monkeypatch.setenv(key, value)

        # Kill the pool process that runs the first keyframes step, while it runs.
        deadline = time.monotonic() + 400
        while not (started := step_starts(pg, KILLED_STEP)):
            assert time.monotonic() < deadline, deployment.log("daemon")[-3000:] + deployment.log("celery")[-3000:]
            time.sleep(0.1)
        killed_run, killed_pid = started[0]
        pool = {process.pid for process in deployment.pool_processes()}
        assert killed_pid in pool, (killed_pid, pool)  # the step ran in a Celery pool process
        kill(killed_pid)

        with dg.DagsterInstance.from_config(str(deployment.home)) as instance:
            runs = wait_for_runs(instance, len(ids), 400, deployment)

            assert sorted(run.tags["dagster/partition"] for run in runs) == ids
            failed = {run.run_id: run.status for run in runs if run.status != dg.DagsterRunStatus.SUCCESS}
            assert not failed, (
                failed,
                [line for line in deployment.log("celery").splitlines() if "STEP_FAILURE" in line],
            )
            for run in runs:
                assert run.tags["dagster/sensor_name"] == "new_videos_sensor"
                types = {
                    record.event_log_entry.dagster_event_type
                    for record in instance.get_records_for_run(run.run_id).records
                }
                # Through the queued run coordinator: enqueued by the sensor, launched by the daemon's queue.
                assert {DagsterEventType.RUN_ENQUEUED, DagsterEventType.RUN_STARTING} <= types, run.run_id
            for asset in PER_VIDEO_ASSETS:
                assert instance.get_materialized_partitions(dg.AssetKey(asset)) == set(ids), asset

            # The killed step: started in the killed process, started again in another one, succeeded there.
            events = [
                record.event_log_entry.dagster_event
                for record in instance.get_records_for_run(killed_run).records
                if record.event_log_entry.dagster_event and record.event_log_entry.dagster_event.step_key == KILLED_STEP
            ]
        starts = [event.pid for event in events if event.event_type == DagsterEventType.STEP_START]
        ends = [(event.event_type, event.pid) for event in events if event.is_step_success or event.is_step_failure]
        assert starts[0] == killed_pid and len(starts) >= 2 and starts[-1] != killed_pid, starts
        assert ends == [(DagsterEventType.STEP_SUCCESS, starts[-1])], ends
        assert "WorkerLostError" in deployment.log("celery")  # Celery saw the process die and sent the task again
        assert len(deployment.pool_processes()) == 2  # the pool replaced its process

        # Runs and events are Postgres rows (not SQLite files under DAGSTER_HOME).
        with psycopg2.connect(**pg) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM runs WHERE status = 'SUCCESS'")
            assert cursor.fetchone()[0] == len(ids)
            cursor.execute(
                "SELECT count(DISTINCT (asset_key, partition)) FROM event_logs "
                "WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
            )
            assert cursor.fetchone()[0] == len(ids) * len(PER_VIDEO_ASSETS)
        assert not list(deployment.home.glob("**/*.db"))
