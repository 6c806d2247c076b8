"""The paper-scale renderer and mask generator on a GPU: time per canvas update, training samples/s, peak memory.

    .venv/bin/python -m benchmarks.gpu_paper_scale [--init random] [--dtype bf16] [--out result.json]
    .venv/bin/python -m benchmarks.gpu_paper_scale --smoke      # a scaled-down config on the CPU, < 60 s

The models are the paper preset's (SD-1.5 UNets for g_u, g_r and g_mask, the SD VAE, CLIP ViT-L/14), built with
random weights (``--init random``, nothing downloaded) or from the pretrained ones (``--init pretrained``). Time
does not depend on the weights' values, so random weights measure what the trained models would cost.

- **Canvas update**: one mask prediction plus one renderer update at ``--resolution`` (512) with ``--steps``
  (25) Euler-ancestral steps and App. A.4's guidance (5 / 5 / 5 / 2: four g_u passes per step); the text
  generator (LLaVA) is not included. Median over ``--updates`` after one warm-up update.
- **Training**: optimizer steps (AdamW, float32 weights, autocast in ``--dtype``, as ``training.train.loop``
  trains) of each model on random batches of ``--batch-size``, reported as samples/s; peak GPU memory of each
  phase (``torch.cuda.max_memory_allocated``).
- **Fraction of peak**: FLOPs of one update / training step counted by ``torch.utils.flop_counter`` (matmuls and
  convolutions) over the measured time, divided by ``--peak-tflops`` (default 989: an H100 SXM's dense bf16).
  Only reported on CUDA.

Nothing here has been run on a GPU by its author: the numbers are what a run prints, not claims.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from training.device import dtype_name, resolve
from training.models.mask_generator import MaskGenerator
from training.models.presets import Preset, get_preset
from training.models.renderer import CONDITIONS, RenderPipeline

H100_BF16_DENSE_TFLOPS = 989.0
# --smoke: the paper's architectures scaled down (the same classes and code path), CPU-sized
SMOKE_ARCHITECTURE = {
    "unet": dict(block_out_channels=(32, 32, 32, 32), layers_per_block=1, cross_attention_dim=32, norm_num_groups=8),
    "vae": dict(block_out_channels=(8, 8, 8, 8), layers_per_block=1, norm_num_groups=4),
    "text_encoder": dict(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, projection_dim=32
    ),
    "image_encoder": dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=28,
        projection_dim=32,
    ),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_memory(device: torch.device) -> float | None:
    """GiB allocated at most since the last reset (CUDA only)."""
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _flops(fn: Callable[[], object]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def _timed(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median seconds of ``fn`` over ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        started = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _canvas(resolution: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (resolution, resolution, 3), dtype=np.uint8)


def canvas_update(renderer: RenderPipeline, masks: MaskGenerator, resolution: int, steps: int) -> Callable[[], None]:
    """One canvas update of the painting loop: M̂_t from the mask generator, then Î_t from the renderer."""
    current, target = _canvas(resolution, 0), _canvas(resolution, 1)
    md = np.random.default_rng(2).random((resolution, resolution)).astype(np.float32)
    guidance = renderer.default_guidance  # the preset's: App. A.4's 5 / 5 / 5 / 2 for the paper

    def update() -> None:
        region = masks.predict(target, current, md, "sky", 20.0) > 0.5
        renderer.generate(current, target, "sky", region, 20.0, num_steps=steps, guidance=guidance)

    return update


def _autocast(device: torch.device, dtype: torch.dtype):
    return torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)


def renderer_train_step(
    rend: RenderPipeline, batch: int, device: torch.device, dtype: torch.dtype
) -> Callable[[], None]:
    """One optimizer step of g_u + g_r + g_f + g_t + g_c on a random batch (Eq. 1's loss)."""
    r, core = rend.resolution, rend.core.train()
    optimizer = torch.optim.AdamW([p for p in core.parameters() if p.requires_grad], lr=1e-5)
    images = torch.rand(3, batch, 3, r, r, device=device) * 2 - 1
    with torch.no_grad():
        z0, zt = rend.encode(images[0]), rend.encode(images[1])
        text = rend.text_embeddings(["sky"] * batch)
        clips = rend.clip(torch.cat([images[2], images[1]])).view(2, batch, -1)
    masks = (torch.rand(batch, 1, r, r, device=device) > 0.5).float()
    keep = {c: torch.ones(batch, device=device) for c in CONDITIONS}
    dt = torch.full((batch,), 20.0, device=device)

    def step() -> None:
        noise = torch.randn_like(z0)
        s = torch.randint(0, 1000, (batch,), device=device)
        with _autocast(device, dtype):
            pred = core(noise, s, zt, images[2], masks, text, clips[0], clips[1], dt, keep)
        F.mse_loss(pred.float(), noise).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def mask_train_step(gen: MaskGenerator, batch: int, device: torch.device, dtype: torch.dtype) -> Callable[[], None]:
    """One optimizer step of g_mask + g_t on a random batch (Eq. 3's BCE)."""
    r, core = gen.resolution, gen.core.train()
    optimizer = torch.optim.AdamW([p for p in core.parameters() if p.requires_grad], lr=1e-5)
    images = torch.rand(2, batch, 3, r, r, device=device) * 2 - 1
    with torch.no_grad():
        spatial = gen.spatial_input(images[0], images[1], torch.rand(batch, 1, r, r, device=device))
        text = gen.text_embeddings(["sky"] * batch)
    dt = torch.full((batch,), 20.0, device=device)

    def step() -> None:
        with _autocast(device, dtype):
            logits = core(spatial, text, dt)
        F.binary_cross_entropy_with_logits(logits.float(), torch.rand_like(logits.float())).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def _fraction(flops: int, seconds: float, device: torch.device, peak_tflops: float) -> float | None:
    return flops / seconds / (peak_tflops * 1e12) if device.type == "cuda" and seconds > 0 else None


def run(preset: Preset, device: torch.device, dtype: torch.dtype, steps: int, updates: int, batch: int, peak: float):
    out: dict = {"device": str(device), "dtype": dtype_name(dtype), "init": preset.init}
    out |= {"resolution": preset.resolution, "sampler_steps": steps, "batch_size": batch}
    if device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)
    # inference: models cast to the dtype, as paint / reconstructions run them
    _reset_peak(device)
    renderer = RenderPipeline.from_preset(preset).to(device, dtype)
    masks = MaskGenerator.from_preset(preset).to(device, dtype)
    update = canvas_update(renderer, masks, preset.resolution, steps)
    seconds = _timed(update, device, updates)
    flops = _flops(update)
    out["canvas_update"] = {
        "seconds": seconds,
        "tflop": flops / 1e12,
        "fraction_of_peak": _fraction(flops, seconds, device, peak),
        "peak_memory_gib": _peak_memory(device),
    }
    del renderer, masks, update
    # training: float32 weights, autocast in the dtype (accelerate's mixed precision)
    for name, build, make in (
        ("renderer_training", RenderPipeline.from_preset, renderer_train_step),
        ("mask_generator_training", MaskGenerator.from_preset, mask_train_step),
    ):
        _reset_peak(device)
        model = build(preset).to(device)
        step = make(model, batch, device, dtype)
        seconds = _timed(step, device, updates)
        flops = _flops(step)
        out[name] = {
            "samples_per_s": batch / seconds,
            "seconds_per_step": seconds,
            "tflop_per_step": flops / 1e12,
            "fraction_of_peak": _fraction(flops, seconds, device, peak),
            "peak_memory_gib": _peak_memory(device),
        }
        del model, step
    return out


def smoke_preset() -> Preset:
    """The paper preset, random init, its architectures scaled down to run on a CPU in seconds."""
    paper = get_preset("paper", init="random")
    small = {"architecture": SMOKE_ARCHITECTURE, "time_hidden_dims": (32, 32), "feature_block_channels": (8, 16, 32)}
    return replace(paper, resolution=64, **small)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init", choices=("random", "pretrained"), default="random")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--dtype", choices=("auto", "fp32", "bf16", "fp16"), default="auto")
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--steps", type=int, default=25, help="sampler steps per canvas update")
    parser.add_argument("--updates", type=int, default=3, help="timed repeats of each measurement")
    parser.add_argument("--batch-size", type=int, default=1, help="training batch (App. A: 1)")
    parser.add_argument("--peak-tflops", type=float, default=H100_BF16_DENSE_TFLOPS)
    parser.add_argument("--smoke", action="store_true", help="a scaled-down config on the CPU (< 60 s)")
    parser.add_argument("--out", type=Path, default=None, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    if args.smoke:
        preset, (device, dtype) = smoke_preset(), resolve("cpu", "fp32")
        steps, updates = 2, 1
    else:
        preset = replace(get_preset("paper", init=args.init), resolution=args.resolution)
        (device, dtype), steps, updates = resolve(args.device, args.dtype), args.steps, args.updates
    torch.manual_seed(0)
    result = run(preset, device, dtype, steps, updates, args.batch_size, args.peak_tflops)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
