"""The distributed path: the tiny renderer trained by 2 CPU processes (gloo) through accelerate."""

import json
import os
import socket
from pathlib import Path

import numpy as np
import torch
import torch.multiprocessing as mp

from training.models.presets import tiny_preset
from training.train.renderer import train_renderer
from training.train.synthetic_manifest import build_synthetic_manifest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, root: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    from accelerate.state import AcceleratorState

    # a forked worker inherits the parent's accelerate singletons (single-process if an earlier test ran)
    AcceleratorState._reset_state(reset_partial_state=True)
    import pandas as pd
    from accelerate import PartialState

    manifest = pd.read_parquet(Path(root) / "data" / "manifest.parquet")
    res = train_renderer(
        manifest, tiny_preset(Path(root) / "base"), Path(root) / "run", steps=2, lr=1e-3, batch_size=1, seed=0
    )
    state = PartialState()
    out = {
        "world": state.num_processes,
        "backend": str(state.backend),
        "losses": res.losses,
    }
    (Path(root) / f"rank{rank}.json").write_text(json.dumps(out))


def test_tiny_renderer_trains_on_two_gloo_processes(tmp_path: Path):
    build_synthetic_manifest(tmp_path / "data", paintings=1, seed=2, duration_s=12.0, val_paintings=0)
    tiny_preset(tmp_path / "base")  # build once, not in both workers
    # fork: the workers inherit the imported libraries instead of importing them again (spawn: +30 s here)
    mp.start_processes(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True, start_method="fork")
    r0, r1 = (json.loads((tmp_path / f"rank{i}.json").read_text()) for i in range(2))
    assert r0["world"] == 2 and r1["world"] == 2 and "gloo" in r0["backend"]
    assert len(r0["losses"]) == 2 and all(np.isfinite(r0["losses"]))
    assert r0["losses"] != r1["losses"]  # each process trained on its own share of the batch
    assert (tmp_path / "run" / "model" / "renderer.json").exists()
