"""Multi-process training of the mask generator and the renderer, launched by their asset through Dagster Pipes.

The asset (``TrainConfig.processes`` > 1) writes the job (:class:`TrainJob`) beside the model's checkpoints and
runs :func:`launch_command` through ``dg.PipesSubprocessClient``: ``torch.distributed.run`` starts N processes of
this module, each training with the same plain function the in-process path calls (``train_mask_generator`` /
``train_renderer``: same config, output folder and resume; accelerate sets up DDP from torchrun's environment,
gloo on the CPU, NCCL on GPUs). Rank 0 alone opens Dagster Pipes: each logged step is a Pipes log line (live in
the Dagster run's event log) and a custom message; at the end it reports the ``TrainResult``. The asset replays
the steps into its MLflow run (one run, as in-process) and returns the same materialization.

On several nodes, run the same job file on every node (``nnodes`` nodes of ``nproc_per_node`` processes, one
rendezvous endpoint reachable from all), e.g. two nodes of 8 GPUs::

    python -m torch.distributed.run --nnodes 2 --node_rank <0|1> --nproc_per_node 8 \\
        --rdzv_backend c10d --rdzv_endpoint <node 0 host>:29400 --rdzv_id <run id> \\
        -m pipelines.distributed_training <data root>/models/<asset>/<version>-<config hash>/distributed_job.json

Only the process of global rank 0 (on node 0) talks to Dagster: launch node 0's command from the asset (a Pipes
client for the cluster, e.g. dagster-k8s's) and the others beside it. This module imports no ``dagster`` in the
training processes (``dagster_pipes`` only), so each rank starts in the time torch takes to import.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import dagster as dg

    from training.train.result import TrainResult

JOB_FILE = "distributed_job.json"
MODELS = ("mask_generator", "renderer")  # the text generator's trainer has no DDP path
PATH_FIELDS = ("model_dir", "checkpoint_dir")  # TrainResult's Path fields, sent as text


@dataclass(frozen=True)
class TrainJob:
    """The arguments of one model's training function, as the in-process path passes them (JSON-able)."""

    model: str  # mask_generator or renderer
    manifest: str  # training_dataset's manifest.parquet
    preset: str  # tiny or paper
    tiny_root: str  # where the tiny preset's base weights are (built by the asset before launching)
    init: str
    out_dir: str  # models/<asset>/<dataset version>-<config hash>: checkpoints, model, the job file
    steps: int | None
    lr: float | None
    batch_size: int | None  # per process: the global batch is processes x batch_size
    seed: int
    time_budget_s: float | None
    device: str
    mixed_precision: str
    save_optimizer_state: bool
    keep_checkpoints: int

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"multi-process training is for {' and '.join(MODELS)}, not {self.model!r}")

    def write(self, path: Path) -> Path:
        from training.data.storage import atomic_path

        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(dataclasses.asdict(self), indent=2))
        return path

    @classmethod
    def read(cls, path: Path) -> TrainJob:
        try:
            fields = json.loads(Path(path).read_text())
            return cls(**fields)
        except (OSError, ValueError, TypeError) as exc:
            raise ValueError(
                f"{path}: not a training job this version can run ({exc}); materialize the asset again to write it"
            ) from exc


def launch_command(job_file: Path, processes: int) -> list[str]:
    """torchrun on this machine: ``processes`` processes of this module, rendezvous on a free local port."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",  # one node; a free port, so parallel runs never collide
        f"--nproc_per_node={processes}",
        "-m",
        __name__,
        str(job_file),
    ]


def train_in_process(job: TrainJob, log: Callable[[int, dict], None] | None) -> TrainResult:
    """Run the job's training function in this process: the asset's own process (processes 1), or one rank of the
    group torchrun started."""
    from training.models.presets import get_preset

    if job.model == "mask_generator":
        from training.train.mask_generator import train_mask_generator as train_fn
    else:
        from training.train.renderer import train_renderer as train_fn
    import pandas as pd

    return train_fn(
        pd.read_parquet(job.manifest),
        get_preset(job.preset, tiny_root=job.tiny_root, init=job.init),
        Path(job.out_dir),
        steps=job.steps,
        lr=job.lr,
        batch_size=job.batch_size,
        seed=job.seed,
        log=log,
        time_budget_s=job.time_budget_s,
        device=job.device,
        mixed_precision=job.mixed_precision,
        save_optimizer_state=job.save_optimizer_state,
        keep_checkpoints=job.keep_checkpoints,
    )


@contextlib.contextmanager
def _pipes_on_rank_zero() -> Iterator[Any]:
    """Dagster Pipes on global rank 0; ``None`` on the others (one writer of the message stream)."""
    if int(os.environ.get("RANK", "0")) != 0:
        yield None
        return
    from dagster_pipes import open_dagster_pipes

    with open_dagster_pipes() as pipes:
        yield pipes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One rank of a training asset's multi-process training.")
    parser.add_argument("job", type=Path, help=f"the {JOB_FILE} the asset wrote")
    job = TrainJob.read(parser.parse_args(argv).job)
    with _pipes_on_rank_zero() as pipes:
        world = int(os.environ.get("WORLD_SIZE", "1"))

        def log(step: int, metrics: dict) -> None:  # called on the main process only (run_training)
            values = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}
            if pipes is not None:
                loss = f": loss {values['loss']:.4f}" if "loss" in values else ""
                pipes.log.info(f"{job.model} step {step} ({world} processes){loss}")
                pipes.report_custom_message({"kind": "metrics", "step": step, "metrics": values})

        if pipes is not None:
            pipes.log.info(f"{job.model}: {world} processes training into {job.out_dir}")
        result = train_in_process(job, log)
        if pipes is not None:
            payload = dataclasses.asdict(result)
            payload.update({k: str(payload[k]) for k in PATH_FIELDS})
            payload["extra"] = {**payload.get("extra", {}), "world_size": world}
            pipes.report_custom_message({"kind": "result", "result": payload})


def run_distributed(
    context: dg.AssetExecutionContext, job: TrainJob, processes: int, log: Callable[[int, dict], None]
) -> TrainResult:
    """Asset side: write the job, run ``processes`` ranks through Dagster Pipes, replay their logged steps into
    ``log`` (the asset's MLflow run and loss curve) and return rank 0's ``TrainResult`` (``extra.world_size``:
    the processes that trained)."""
    import dagster as dg

    from training.train.result import TrainResult

    job_file = job.write(Path(job.out_dir) / JOB_FILE)
    command = launch_command(job_file, processes)
    context.log.info(f"launching {processes} training processes: {' '.join(command)}")
    invocation = dg.PipesSubprocessClient().run(context=context, command=command)
    result = None
    for message in invocation.get_custom_messages():
        if not isinstance(message, dict):
            continue
        if message.get("kind") == "metrics":
            log(int(message["step"]), message["metrics"])
        elif message.get("kind") == "result":
            result = message["result"]
    if result is None:
        raise RuntimeError(
            f"the training processes of {job_file} exited without reporting a result (rank 0 reports it through "
            "Dagster Pipes); see the run's stderr for their output"
        )
    result.update({k: Path(result[k]) for k in PATH_FIELDS})
    return TrainResult(**result)


if __name__ == "__main__":
    main()
