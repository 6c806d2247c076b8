"""The `inverse-painting` command line."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tqdm import tqdm

from training.argtypes import int_in_range, positive_float

# Limits of the numeric options, checked while parsing (before any work); see training/argtypes.py.
COUNT = int_in_range(1, unit="videos")
SEED = int_in_range(0)  # numpy's seeds are non-negative
FPS = int_in_range(1, 120, unit="frames per second")  # frame times are whole milliseconds
STEPS = int_in_range(1, unit="steps")
KEYFRAMES = int_in_range(1, unit="keyframes")
SECONDS = positive_float("seconds", "60")
MAX_SIDE = 4096  # the studio renders every frame in memory at this size


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 640x480, got {text!r}") from None
    if width < 64 or height < 64 or width % 2 or height % 2:
        raise argparse.ArgumentTypeError(f"size {text}: width and height must be even and at least 64 (H.264)")
    if max(width, height) > MAX_SIDE:
        raise argparse.ArgumentTypeError(f"size {text}: width and height must be at most {MAX_SIDE}")
    return width, height


def _studio_args(parser: argparse.ArgumentParser, count: int) -> None:
    parser.add_argument("--count", type=COUNT, default=count, help="number of videos")
    parser.add_argument("--seed", type=SEED, default=0, help="the same seed gives the same videos (>= 0)")
    parser.add_argument("--duration", type=SECONDS, default=60.0, help="seconds of video per painting")
    parser.add_argument(
        "--pace",
        type=positive_float("strokes per second", "86"),
        default=None,
        metavar="STROKES_PER_S",
        help="the painter's pace: each video lasts its strokes / pace seconds (instead of --duration)",
    )
    parser.add_argument("--size", type=_size, default=(640, 480), help="video size WxH")
    parser.add_argument("--fps", type=FPS, default=25, help="frames per second (1-120)")
    parser.add_argument(
        "--style",
        choices=("strokes", "timelapse"),
        default="strokes",
        help="strokes: paint appears stroke by stroke; timelapse: the canvas is captured every 5-9 s and each "
        "capture cross-fades into the next, as in real time-lapses",
    )


def _studio_config(args: argparse.Namespace):
    from training.data.studio import StudioConfig

    return StudioConfig(
        duration_s=args.duration, size=args.size, fps=args.fps, strokes_per_s=args.pace, style=args.style
    )


def cmd_synth(args: argparse.Namespace) -> int:
    from training.data.studio import generate_studio

    bar = tqdm(total=args.count, desc="synthetic studio", unit="video")
    videos = generate_studio(
        args.out_dir,
        count=args.count,
        seed=args.seed,
        config=_studio_config(args),
        progress=lambda done, total: bar.update(done - bar.n),
    )
    bar.close()
    for video in videos:
        print(f"{video.video_path}  (truth: {video.truth_path.name}, final: {video.final_path.name})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pipelines.demo import PROFILES, run_demo

    data_root, home = _roots(args)
    missing = [p for p in args.extra_gt if not p.is_dir()]
    if missing:
        print(f"error: --extra-gt {missing[0]}: no such folder (a painting in the released layout)", file=sys.stderr)
        return 2
    profile = None if args.profile == "demo" else PROFILES[args.profile]
    summary = run_demo(
        data_root=data_root,
        dagster_home=home,
        count=args.count,
        seed=args.seed,
        config=_studio_config(args),
        train_steps=args.train_steps,
        profile=profile,
        extra_ground_truth=args.extra_gt,
    )
    print(summary.render())
    return 1 if summary.failures else 0


def _chain_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", type=Path, default=None, help="default: $INVERSE_PAINTING_DATA_ROOT or ./data")
    parser.add_argument(
        "--dagster-home", type=Path, default=None, help="default: $DAGSTER_HOME or .dagster/ in the checkout"
    )


def _roots(args: argparse.Namespace) -> tuple[Path, Path]:
    from pipelines.instance import default_dagster_home
    from training.data_root import default_data_root

    return args.data_root or Path(default_data_root()), args.dagster_home or default_dagster_home()


def _print_report(report, roots: tuple[Path, Path] | None = None) -> int:
    """The summary: outputs, then one line per failure, failed check and warning; where the full logs are."""
    for asset, produced in report.outputs.items():
        print(f"{asset}: {len(produced)} partitions materialized")
    for key, error in report.failures.items():
        print(f"FAILED {key}: {error}")
    for key, why in report.failed_checks.items():
        print(f"CHECK {key}: {why}")
    for key, messages in report.warnings.items():
        for message in dict.fromkeys(messages):
            print(f"WARNING {key}: {message}")
    failed_runs = report.failed_runs()
    if failed_runs:
        runs = ", ".join(f"{label}: {run_id}" for label, run_id in failed_runs.items())
        print(f"Full logs and stack traces of the failed runs (Dagster UI > Runs, or rerun with --verbose): {runs}")
        if roots is not None:
            from pipelines.instance import dagster_dev_command

            data_root, home = roots
            print(f"  UI: {dagster_dev_command(home, data_root)}")
    return 1 if report.failures else 0


def cmd_curate(args: argparse.Namespace) -> int:
    from pipelines.curate import curate, expand_inputs
    from pipelines.demo import chain_config
    from pipelines.settings import chain_settings

    data_root, home = _roots(args)
    for folder, count in expand_inputs(args.files).folders.items():
        if count:  # an empty folder is reported with the failures
            print(f"{folder}: a folder; curating the {count} video file(s) directly inside it")
    run_config = chain_config(args.sample_every, args.keyframes_per_video)
    print(chain_settings(data_root, run_config).note())  # the options are saved as the data root's settings
    report = curate(args.files, data_root, home, run_config=run_config, verbose=args.verbose)
    return _print_report(report, (data_root, home))


def cmd_import_official(args: argparse.Namespace) -> int:
    from pipelines.curate import import_official

    data_root, home = _roots(args)
    report = import_official(args.folder, data_root, home, verbose=args.verbose)
    return _print_report(report, (data_root, home))


def cmd_benchmark(args: argparse.Namespace) -> int:
    """`benchmark --gt ...` scores folders; bare `benchmark` materializes reconstructions + benchmark."""
    if args.gt is not None:
        from evaluation.cli import run_benchmark_cli

        return run_benchmark_cli(args)
    if args.frames is not None or args.baselines or args.steps is not None or args.duration is not None:
        print(
            "error: --frames, --baselines, --steps and --duration need --gt DIR (a ground-truth folder)",
            file=sys.stderr,
        )
        return 2
    from pipelines.demo import evaluate

    data_root, home = _roots(args)
    settings = {"distance": args.distance}
    if args.sampler_steps is not None:
        settings["num_inference_steps"] = args.sampler_steps
    report, table = evaluate(data_root, home, {"ops": {"reconstructions": {"config": settings}}})
    for key, error in report.failures.items():
        print(f"FAILED {key}: {error}")
    if table:
        print(table)
    return 1 if report.failures else 0


def build_parser() -> argparse.ArgumentParser:
    from evaluation.cli import add_benchmark_parser
    from training.inference.cli import add_paint_parser
    from training.labels.cli import add_labels_parser

    parser = argparse.ArgumentParser(prog="inverse-painting", description=__doc__)
    parser.add_argument("--verbose", action="store_true", help="show the traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True)

    synth = commands.add_parser("synth", help="generate synthetic painting videos with ground truth")
    synth.add_argument("out_dir", type=Path)
    _studio_args(synth, count=4)
    synth.set_defaults(func=cmd_synth)

    demo = commands.add_parser("demo", help="synthetic videos -> every asset, offline on a CPU")
    _chain_args(demo)
    _studio_args(demo, count=6)
    demo.add_argument(
        "--train-steps", type=STEPS, default=None, help="cap every model's training steps (default: time budgets)"
    )
    demo.add_argument(
        "--profile",
        choices=("demo", "benchmark"),
        default="demo",
        help="demo: --count videos, 15 min; benchmark: 20 training + 8 held-out videos of an unseen seed, longer "
        "training, about 45 min (--count and --seed are the demo profile's)",
    )
    demo.add_argument(
        "--extra-gt",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="a real painting sequence in the paper's released layout, scored as its own table (repeatable)",
    )
    demo.set_defaults(func=cmd_demo)

    curate = commands.add_parser(
        "curate",
        help="register video files as partitions and run their per-video chain",
        description="Link video files into <data root>/videos and run their per-video chain. A folder stands for "
        "the video files directly inside it (sub-folders are not searched).",
    )
    curate.add_argument(
        "files", type=Path, nargs="+", metavar="VIDEO_FILE_OR_FOLDER", help="video files, or folders of them"
    )
    _chain_args(curate)
    curate.add_argument(
        "--sample-every", type=positive_float("seconds", "2"), default=None, help="seconds between sampled frames"
    )
    curate.add_argument(
        "--keyframes-per-video",
        type=KEYFRAMES,
        default=None,
        help="space keyframes to fit about N per video (short videos; N >= 1)",
    )
    curate.set_defaults(func=cmd_curate)

    imported = commands.add_parser(
        "import-official", help="import curated keyframes in the paper's released layout (rgb/<name>/...)"
    )
    imported.add_argument("folder", type=Path)
    _chain_args(imported)
    imported.set_defaults(func=cmd_import_official)

    add_labels_parser(commands)
    bench = add_benchmark_parser(commands)
    bench.description = (bench.description or "") + (
        " Without --gt: run the benchmark of the data root (every method on every validation painting, "
        "through Dagster, tracked in MLflow) and print its table."
    )
    _chain_args(bench)
    bench.add_argument(
        "--sampler-steps",
        type=STEPS,
        default=None,
        help="without --gt: sampler steps S per canvas update (default: the renderer's own)",
    )
    bench.set_defaults(func=cmd_benchmark)
    add_paint_parser(commands)
    _accept_verbose_anywhere(commands)
    return parser


def _accept_verbose_anywhere(commands: argparse._SubParsersAction) -> None:
    """`--verbose` also after the command name (SUPPRESS: an absent flag keeps the top-level value)."""
    for sub in commands.choices.values():
        sub.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                _accept_verbose_anywhere(action)


def _quiet_model_loading() -> None:
    """Our own tqdm bars show progress; the libraries' per-file loading bars would bury them."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


# Errors a user can fix from the message alone: printed as one line, no traceback.
EXPECTED_ERRORS = (ValueError, LookupError, OSError)


def error_line(exc: BaseException) -> str:
    """One line for the terminal: the message with its line breaks folded, and the way to see more."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    if not isinstance(exc, EXPECTED_ERRORS):
        message = f"{type(exc).__name__}: {message} (an internal error; --verbose shows the traceback)"
    return f"error: {message}"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_model_loading()
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.verbose:
            raise
        print(error_line(exc), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
