"""Bad inputs and fault scenarios, tried through the real command line as a user would (issue 18's table).

    python -m benchmarks.bad_inputs --work /tmp/bad_inputs [--only SUBSTRING]

Every case runs `python -m pipelines.cli ...` in a subprocess against a scratch data root (two synthetic
time-lapse videos curated at the start, tiny models trained for a few steps for `paint`) and is judged:

- a refusal is clean when the command exits non-zero, prints no traceback, says `error:` (or, for a batch,
  `FAILED <video>/<step>:`) on one line that names the input (file, option or pair), and leaves every
  file it was pointed at as it was;
- a fault scenario is clean when what must hold afterwards holds (files intact, the queue moves, the
  correction stays on its frames, the good video of a batch is processed).

Prints one row per case (group, case, clean, evidence) and the totals; `--json` writes them too.
Takes about 10 minutes on 2 cores. Needs no model weights and no network.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from training.data_root import DataRoot

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
SAMPLE_EVERY = "1"  # seconds between sampled frames of the 60-s test videos (as the demo samples)


@dataclass
class Result:
    group: str
    case: str
    clean: bool
    evidence: str


@dataclass
class Call:
    rc: int
    out: str
    err: str
    seconds: float

    @property
    def text(self) -> str:
        return self.out + self.err

    def one_line_error(self, *names: str) -> tuple[bool, str]:
        """Non-zero exit, no traceback, an error line that names one of ``names``."""
        lines = [line for line in self.err.splitlines() if "error" in line.lower() and "WARN" not in line]
        named = [line for line in lines if any(name in line for name in names)] if names else lines
        ok = self.rc != 0 and "Traceback" not in self.text and bool(named)
        shown = (named or lines or self.text.strip().splitlines()[-1:] or ["(no output)"])[0]
        return ok, f"rc={self.rc} {shown[:160]}"


class Bench:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.root = work / "data"
        self.home = work / "home"
        self.models_root = work / "models"
        self.results: list[Result] = []

    def cli(self, *args: str, root: Path | None = None, timeout: float = 600, env: dict | None = None) -> Call:
        roots = ["--data-root", str(root or self.root)]
        if args and args[0] in {"curate", "import-official", "demo"}:
            roots += ["--dagster-home", str(self.home)]
        command = [PY, "-m", "pipelines.cli", *args, *roots]
        started = time.perf_counter()
        done = subprocess.run(
            command,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})},
        )
        return Call(done.returncode, done.stdout, done.stderr, time.perf_counter() - started)

    def record(self, group: str, case: str, clean: bool, evidence: str) -> None:
        self.results.append(Result(group, case, clean, evidence))
        print(f"[{'ok' if clean else 'FAIL'}] {group} | {case} | {evidence}", flush=True)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and mode: equal snapshots mean nothing was touched."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mode)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def write_png(path: Path, size: tuple[int, int], seed: int = 0) -> Path:
    width, height = size
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 255, np.uint8)
    image[: height // 2] = rng.integers(0, 255, 3, dtype=np.uint8)
    cv2.imwrite(str(path), image)
    return path


def write_video(path: Path, size: tuple[int, int], seconds: float, fps: int = 10) -> Path:
    from training.data.video_writer import write_mp4

    width, height = size
    frames = [np.full((height, width, 3), 255 - (k * 3) % 200, np.uint8) for k in range(max(1, int(seconds * fps)))]
    write_mp4(frames, path, fps=fps)
    return path


# --- setup ---------------------------------------------------------------------------------------------------


def setup(bench: Bench) -> list[Path]:
    """Two curated time-lapse videos in the data root and tiny trained models in a second root."""
    videos = bench.work / "videos"
    made = subprocess.run(
        [PY, "-m", "pipelines.cli", "synth", str(videos), "--count", "2", "--seed", "2600", "--duration", "60",
         "--size", "320x240", "--style", "timelapse"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    print(made.stdout.strip())
    footage = bench.work / "footage"  # the videos alone, without their ground truth: no labeller applies
    footage.mkdir()
    files = [Path(shutil.copy(video, footage)) for video in sorted(videos.glob("*.mp4"))]
    # The 2-s default is for real footage, whose keyframes are ~20 s apart; the studio paints faster.
    first = bench.cli("curate", *map(str, files), "--sample-every", SAMPLE_EVERY)
    if first.rc != 0:
        raise SystemExit(f"setup: curate failed:\n{first.text[-3000:]}")
    train_tiny_models(bench.models_root)
    return files


def train_tiny_models(root: Path) -> None:
    import dagster as dg

    from pipelines.definitions import build_definitions
    from training.train.synthetic_manifest import write_tiny_training_dataset

    write_tiny_training_dataset(root)
    defs = build_definitions(str(root))
    home = root.parent / "models_home"
    home.mkdir()
    instance = dg.DagsterInstance.local_temp(tempdir=str(home))
    steps = {"text_generator": 2, "mask_generator": 2, "renderer": 2}
    result = defs.resolve_job_def("train_models").execute_in_process(
        instance=instance,
        run_config={"ops": {name: {"config": {"steps": n}} for name, n in steps.items()}},
        asset_selection=[dg.AssetKey(name) for name in steps],
    )
    if not result.success:
        raise SystemExit("setup: training the tiny models failed")


# --- cases ---------------------------------------------------------------------------------------------------


def paint_cases(bench: Bench) -> None:
    group = "paint"
    image = write_png(bench.work / "painting.png", (96, 64))
    quick = ["--steps", "2", "--max-updates", "2", "--distance", "colour-structure"]

    user = bench.work / "user_folder"
    user.mkdir()
    (user / "thesis.tex").write_text("years of work\n")
    (user / "photos").mkdir()
    (user / "photos" / "a.jpg").write_bytes(b"\xff\xd8 not really")
    before = snapshot(user)
    call = bench.cli("paint", str(image), "--out", str(user), *quick, root=bench.models_root)
    ok, why = call.one_line_error(str(user), user.name)
    bench.record(group, "--out a non-empty folder of the user's files", ok and snapshot(user) == before, why)

    before = snapshot(bench.models_root)
    for label, target in (("the data root", bench.models_root), ("a folder holding the data root", bench.work)):
        call = bench.cli("paint", str(image), "--out", str(target), *quick, root=bench.models_root)
        ok, why = call.one_line_error(str(target))
        bench.record(group, f"--out {label}", ok and snapshot(bench.models_root) == before, why)

    out = bench.work / "paint_out"
    first = bench.cli("paint", str(image), "--out", str(out), *quick, root=bench.models_root)
    second = bench.cli("paint", str(image), "--out", str(out), *quick, root=bench.models_root)
    mode = oct(out.stat().st_mode & 0o777) if out.exists() else "missing"
    clean = first.rc == 0 and second.rc == 0 and mode != "0o700" and (out / "000.png").is_file()
    bench.record(
        group, "--out its own earlier output (replaced), folder mode", clean, f"rc={first.rc},{second.rc} mode={mode}"
    )

    huge = bench.work / "huge.png"
    cv2.imwrite(str(huge), np.full((12000, 12000, 3), 200, np.uint8))
    call = bench.cli("paint", str(huge), "--out", str(bench.work / "huge_out"), *quick, root=bench.models_root)
    ok, why = call.one_line_error("huge.png")
    bench.record(
        group, "a 12000x12000 PNG (refused before decoding)", ok and call.seconds < 60, f"{why} in {call.seconds:.0f} s"
    )

    large = write_png(bench.work / "large.png", (4000, 3000))
    large_out = bench.work / "large_out"
    call = bench.cli("paint", str(large), "--out", str(large_out), *quick, root=bench.models_root)
    frame = cv2.imread(str(large_out / "001.png")) if (large_out / "001.png").exists() else None
    shape = "none" if frame is None else f"{frame.shape[1]}x{frame.shape[0]}"
    bench.record(
        group,
        "a 4000x3000 painting (outputs capped)",
        call.rc == 0 and frame is not None and max(frame.shape) <= 2048,
        f"rc={call.rc} frames {shape}",
    )

    for option, value in (("--steps", "0"), ("--steps", "-1"), ("--dt", "-5"), ("--dt", "nan"), ("--dt", "inf"),
                          ("--max-updates", "0"), ("--max-updates", "-3")):  # fmt: skip
        call = bench.cli(
            "paint", str(image), "--out", str(bench.work / "opt_out"), option, value, root=bench.models_root
        )
        ok, why = call.one_line_error(option)
        bench.record(group, f"{option} {value}", ok and not (bench.work / "opt_out").exists(), why)

    text = bench.work / "notes.png"
    text.write_text("this is not an image")
    zero = bench.work / "empty.png"
    zero.write_bytes(b"")
    truncated = bench.work / "truncated.png"
    truncated.write_bytes(image.read_bytes()[:60])
    folder = bench.work / "a_folder.png"
    folder.mkdir()
    for label, path in (("a text file named .png", text), ("a zero-byte file", zero), ("a truncated PNG", truncated),
                        ("a folder as IMAGE", folder), ("a missing file", bench.work / "nowhere.png")):  # fmt: skip
        call = bench.cli("paint", str(path), "--out", str(bench.work / "bad_out"), *quick, root=bench.models_root)
        ok, why = call.one_line_error(path.name)
        bench.record(group, label, ok, why)


CURATE_OPTIONS = [("--sample-every", v) for v in ("-1", "0", "nan", "inf")] + [
    ("--keyframes-per-video", v) for v in ("-1", "0")
]


def curate_cases(bench: Bench, good: list[Path]) -> None:
    group = "curate"
    bad_dir = bench.work / "bad_videos"
    bad_dir.mkdir()
    corrupt = bad_dir / "corrupt.mp4"
    corrupt.write_bytes(os.urandom(4096))
    empty = bad_dir / "empty.mp4"
    empty.write_bytes(b"")
    short = write_video(bad_dir / "one_second.mp4", (320, 240), 1.0)
    tiny = write_video(bad_dir / "tiny16.mp4", (16, 16), 12.0)
    text = bad_dir / "notes.txt"
    text.write_text("hello")
    bad_files = {
        "a corrupt video": corrupt,
        "an empty video file": empty,
        "a 1-second video": short,
        "a 16x16 video": tiny,
        "a .txt file": text,
        "a missing file": bad_dir / "gone.mp4",
    }
    for label, path in bad_files.items():
        call = bench.cli("curate", str(path))
        failed = [line for line in call.text.splitlines() if line.startswith(("FAILED", "error"))]
        named = [line for line in failed if path.stem in line or path.name in line]
        clean = call.rc != 0 and "Traceback" not in call.text and bool(named) and len(call.text) < 4000
        bench.record(
            group, label, clean, f"rc={call.rc} {len(call.text)} B: {(named or failed or ['(none)'])[0][:150]}"
        )

    folder = good[0].parent  # the footage folder
    call = bench.cli("curate", str(folder))
    expanded = call.rc == 0 and "difference_masks: 2 " in call.out
    ok, why = call.one_line_error(str(folder))
    bench.record(group, "a folder of videos", expanded or ok, "expanded to its videos" if expanded else why)

    accented = bench.work / "accents" / "ééé.mp4"
    accented.parent.mkdir()
    shutil.copyfile(good[0], accented)
    cjk = bench.work / "accents" / "日本.mp4"
    shutil.copyfile(good[1], cjk)
    call = bench.cli("curate", str(accented), str(cjk), str(corrupt))
    done = [line for line in call.out.splitlines() if line.startswith("difference_masks:")]
    clean = "Traceback" not in call.text and done and done[0].startswith("difference_masks: 2 ")
    bench.record(
        group,
        "ééé.mp4 + 日本.mp4 + a corrupt video in one call",
        bool(clean),
        f"rc={call.rc} {done[:1]} {len(call.text)} B output",
    )

    for option, value in CURATE_OPTIONS:
        call = bench.cli("curate", str(good[0]), option, value)
        ok, why = call.one_line_error(option)
        bench.record(
            group, f"{option} {value} (before any work)", ok and call.seconds < 30, f"{why} in {call.seconds:.0f} s"
        )

    temp = DataRoot(bench.root).asset_dir("sampled_frames") / f".{video_id(good[0])}.k1ll3d_x.tmp"  # atomic_dir's name
    temp.mkdir(parents=True)
    (temp / "000001.png").write_bytes(b"x" * 1000)
    call = bench.cli("curate", str(good[0]))
    bench.record(
        group,
        "a killed frame write's temp folder",
        call.rc == 0 and not temp.exists(),
        f"rc={call.rc} temp left: {temp.exists()}",
    )


def video_id(path: Path) -> str:
    from training.data.catalog import video_id_for

    return video_id_for(path)


def concurrency_cases(bench: Bench, good: list[Path]) -> None:
    group = "concurrency"
    target = good[1]
    vid = video_id(target)
    base = [
        PY,
        "-m",
        "pipelines.cli",
        "curate",
        str(target),
        "--data-root",
        str(bench.root),
        "--dagster-home",
        str(bench.home),
    ]
    runs = [subprocess.Popen([*base, *extra], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for extra in (["--sample-every", "0.75"], ["--keyframes-per-video", "12"])]  # fmt: skip
    outputs = [run.communicate(timeout=900)[0] for run in runs]
    codes = [run.returncode for run in runs]
    problems = consistency_problems(bench.root, vid)
    clean = not problems and "Traceback" not in "".join(outputs) and 0 in codes
    bench.record(
        group, "two curate runs on one video with other settings", clean, f"rc={codes} {problems[:2] or 'consistent'}"
    )

    fresh = bench.work / "fresh_root"
    base = [
        PY,
        "-m",
        "pipelines.cli",
        "curate",
        "--data-root",
        str(fresh),
        "--dagster-home",
        str(bench.work / "fresh_home"),
    ]
    base += ["--sample-every", SAMPLE_EVERY]
    runs = [subprocess.Popen([*base, str(video)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for video in good]  # fmt: skip
    outputs = [run.communicate(timeout=900)[0] for run in runs]
    text = "".join(outputs)
    clean = "OperationalError" not in text and all(run.returncode == 0 for run in runs)
    bench.record(
        group, "two runs at once on a fresh data root (MLflow store)", clean, f"rc={[r.returncode for r in runs]}"
    )


def consistency_problems(root: Path, vid: str) -> list[str]:
    """Every path a video's tables name exists, and its keyframes are frames of its sampled_frames table."""
    problems = []
    tables = {
        name: DataRoot(root).table_path(name, vid)
        for name in ("sampled_frames", "keyframes", "frame_pairs", "difference_masks")
    }
    frames = {name: pd.read_parquet(path) for name, path in tables.items() if path.exists()}
    for name, frame in frames.items():
        for column in [c for c in frame.columns if c.endswith("path")]:
            missing = [p for p in frame[column].dropna() if p and not Path(p).exists()]
            if missing:
                problems.append(f"{name}.{column}: {len(missing)} missing, e.g. {missing[0]}")
    if "sampled_frames" in frames and "keyframes" in frames:
        extra = set(frames["keyframes"]["t_ms"]) - set(frames["sampled_frames"]["t_ms"])
        if extra:
            problems.append(f"keyframes at {sorted(extra)[:3]} ms are not sampled frames of the same run")
    return problems


def labels_cases(bench: Bench, good: list[Path]) -> None:
    group = "labels"
    work = bench.work / "labels"
    work.mkdir()
    call = bench.cli("labels", "export", "--csv", "--out", str(work / "sheet.csv"))
    sheet = pd.read_csv(work / "sheet.csv", dtype=str, keep_default_na=False) if (work / "sheet.csv").exists() else None
    pairs = sum(len(pd.read_parquet(p)) for p in DataRoot(bench.root).asset_dir("frame_pairs").glob("*.parquet"))
    clean = call.rc == 0 and sheet is not None and len(sheet) == pairs
    bench.record(
        group,
        "labels export --csv with no labeller (hand-labelling route)",
        clean,
        f"rc={call.rc} rows={None if sheet is None else len(sheet)} of {pairs} pairs",
    )
    if sheet is None:
        return

    filled = sheet.assign(correction="sky")
    filled.loc[filled.index[0], "correction"] = '=HYPERLINK("http://x","y")'
    filled.loc[filled.index[1], "correction"] = "@SUM(A1)"
    filled.to_csv(work / "filled.csv", index=False)
    call = bench.cli("labels", "import", str(work / "filled.csv"))
    bench.cli("labels", "export", "--csv", "--out", str(work / "again.csv"))
    cells = pd.read_csv(work / "again.csv", dtype=str, keep_default_na=False).to_numpy().ravel()
    risky = [c for c in cells if c[:1] in {"=", "+", "-", "@", "\t", "\r"}]
    bench.record(
        group,
        "exported cells starting with = + - @ (formula injection)",
        not risky,
        f"import rc={call.rc}; risky cells in the export: {risky[:2]}",
    )

    bad_texts = {"a newline": "sky\nmore", "100 000 characters": "a" * 100_000, "markup": "<script>alert(1)</script>"}
    for label, text in bad_texts.items():
        frame = sheet.head(1).assign(correction=text)
        frame.to_csv(work / "bad_text.csv", index=False)
        call = bench.cli("labels", "import", str(work / "bad_text.csv"))
        ok, why = call.one_line_error("bad_text.csv")
        bench.record(group, f"label text with {label}", ok and len(call.text) < 2000, why)

    junk = work / "junk.csv"
    rng = np.random.default_rng(0)
    lines = ["pair_id,correction"] + [f"junk/{k:06d},{rng.integers(1e9)}" for k in range(120_000)]
    junk.write_text("\n".join(lines))
    call = bench.cli("labels", "import", str(junk))
    count = len(call.text.splitlines())
    bench.record(
        group,
        f"a {junk.stat().st_size / 1e6:.1f} MB junk CSV",
        call.rc != 0 and count <= 30 and "Traceback" not in call.text,
        f"rc={call.rc} {count} lines printed",
    )

    latin = work / "latin1.csv"
    latin.write_bytes(f"pair_id,correction\n{sheet['pair_id'][0]},ciel bleu café\n".encode("latin-1"))
    call = bench.cli("labels", "import", str(latin))
    ok, why = call.one_line_error("latin1.csv")
    bench.record(group, "a latin-1 CSV", ok or (call.rc == 0 and "Traceback" not in call.text), why)

    pid = sheet["pair_id"][0]
    task = {
        "id": 1,
        "data": {"pair_id": pid},
        "annotations": [{"result": [{"from_name": "label", "value": {"text": ["sky"]}}]}],
    }
    malformed = {
        '"annotations": "oops"': [{**task, "annotations": "oops"}],
        "a string data": [{**task, "data": "x"}],
        "a string value": [{**task, "annotations": [{"result": [{"from_name": "label", "value": "sky"}]}]}],
        "a string result": [{**task, "annotations": [{"result": "sky"}]}],
        "a dict as the label": [
            {**task, "annotations": [{"result": [{"from_name": "label", "value": {"text": [{"a": 1}]}}]}]}
        ],
        "a top-level object": {"tasks": []},
        "a list of numbers": [1, 2, 3],
    }
    for label, payload in malformed.items():
        path = work / "export.json"
        path.write_text(json.dumps(payload))
        call = bench.cli("labels", "import", str(path))
        ok, why = call.one_line_error("export.json")
        bench.record(group, f"Label Studio JSON: {label}", ok, why)
    deep = work / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    call = bench.cli("labels", "import", str(deep))
    ok, why = call.one_line_error("deep.json")
    bench.record(group, "Label Studio JSON nested 200 000 deep", ok, why)
    latin_json = work / "latin1.json"
    latin_json.write_bytes(json.dumps([task]).replace("sky", "café").encode("utf-8").replace("é".encode(), b"\xe9"))
    call = bench.cli("labels", "import", str(latin_json))
    ok, why = call.one_line_error("latin1.json")
    bench.record(group, "a latin-1 JSON", ok, why)


def recuration_cases(bench: Bench, good: list[Path]) -> None:
    """A correction stays on its frames when the video is curated again with other settings."""
    group = "corrections"
    vid = video_id(good[0])
    pairs = pd.read_parquet(DataRoot(bench.root).table_path("frame_pairs", vid))
    row = pairs.iloc[min(2, len(pairs) - 1)]
    sheet = bench.work / "one.csv"
    pd.DataFrame({"pair_id": [f"{vid}/{int(row['pair_index']):03d}"], "correction": ["river"]}).to_csv(
        sheet, index=False
    )
    imported = bench.cli("labels", "import", str(sheet))
    # Other settings: denser sampling and more keyframes give other frame times, so the pairs change.
    call = bench.cli("curate", str(good[0]), "--sample-every", "0.5", "--keyframes-per-video", "12")
    labels = pd.read_parquet(DataRoot(bench.root).table_path("instruction_labels", vid))
    new_pairs = pd.read_parquet(DataRoot(bench.root).table_path("frame_pairs", vid))
    joined = labels.merge(new_pairs[["pair_index", "prev_t_ms", "next_t_ms"]], on="pair_index")
    on = joined[joined["text"] == "river"]
    moved = on[(on["prev_t_ms"] != row["prev_t_ms"]) | (on["next_t_ms"] != row["next_t_ms"])]
    history = list(DataRoot(bench.root).corrections_history_dir.glob("*.parquet"))
    old_times = set(zip(pairs["prev_t_ms"], pairs["next_t_ms"], strict=True))
    changed = old_times != set(zip(new_pairs["prev_t_ms"], new_pairs["next_t_ms"], strict=True))
    clean = imported.rc == 0 and call.rc == 0 and changed and moved.empty and history
    evidence = (f"pairs {len(pairs)} -> {len(new_pairs)} (frame times changed: {changed}); 'river' on {len(on)} "
                f"pair(s) with the same frames, {len(moved)} moved; history files {len(history)}")  # fmt: skip
    bench.record(group, "re-curation with other settings after a correction", bool(clean), evidence)

    official = bench.work / "official" / "rgb" / vid
    official.mkdir(parents=True)
    names = [f"{k + 1}_0:{(k + 1) * 2:02d}" for k in range(3)]
    for k, name in enumerate(names):
        write_png(official / f"{name}.jpg", (64, 48), seed=k)
    (official / "last_aligned_frame_inv.json").write_text(json.dumps({names[-1]: names[:-1]}))
    keyframes = DataRoot(bench.root).table_path("keyframes", vid)
    before = len(pd.read_parquet(keyframes))
    call = bench.cli("import-official", str(bench.work / "official"))
    after = len(pd.read_parquet(keyframes))
    ok, why = call.one_line_error(vid)
    bench.record(
        group,
        "import-official of a folder named like a curated video",
        ok and before == after,
        f"{why}; keyframes {before} -> {after}",
    )


# The real training job, executed in-process by its own process as the CLI does; killed by the case.
TRAINING_SCRIPT = """
import sys
import dagster as dg
from pipelines.definitions import build_definitions
defs = build_definitions(sys.argv[1])
defs.resolve_job_def("train_models").execute_in_process(
    instance=dg.DagsterInstance.get(),
    run_config={"ops": {"renderer": {"config": {"steps": 100000}}}},
    asset_selection=[dg.AssetKey("renderer")],
)
"""


def stale_run_cases(bench: Bench) -> None:
    """A training run killed with SIGKILL (STARTED, process gone) must not keep later training runs queued."""
    import signal

    import dagster as dg
    from dagster._utils.tags import TagConcurrencyLimitsCounter

    from pipelines.jobs import TRAINING_TAGS
    from pipelines.sensors import stale_runs_sensor

    group, case = "queue", "a training run killed with SIGKILL (STARTED, process gone)"
    home = bench.work / "stale_home"
    home.mkdir()
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [PY, "-c", TRAINING_SCRIPT, str(bench.models_root)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            started = []
            for _ in range(240):
                started = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
                if started or proc.poll() is not None:
                    break
                time.sleep(0.5)
            if not started:
                bench.record(group, case, False, f"the training run never started (exit {proc.poll()})")
                return
            time.sleep(3)  # into the training loop
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
            queued = dg.DagsterRun(job_name="train_models", tags=TRAINING_TAGS)  # the schedule's next run

            def blocked() -> bool:
                in_progress = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
                return TagConcurrencyLimitsCounter(limits, in_progress).is_blocked(queued)

            blocked_before = blocked()
            with dg.build_sensor_context(instance=instance) as context:
                stale_runs_sensor(context)
            status = instance.get_run_by_id(started[0].run_id).status
            clean = blocked_before and status == dg.DagsterRunStatus.FAILURE and not blocked()
            evidence = f"queue blocked {blocked_before} -> {blocked()}; run {status.value} after the sensor"
            bench.record(group, case, clean, evidence)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


CASES: list[tuple[str, Callable]] = [
    ("paint", lambda b, v: paint_cases(b)),
    ("labels", labels_cases),
    ("corrections", recuration_cases),
    ("curate", curate_cases),
    ("concurrency", concurrency_cases),
    ("queue", lambda b, v: stale_run_cases(b)),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (emptied first)")
    parser.add_argument("--only", default="", help="run only the groups whose name contains this")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    bench = Bench(args.work.resolve())
    started = time.perf_counter()
    videos = setup(bench)
    for name, run in CASES:
        if args.only in name:
            run(bench, videos)
    clean = sum(r.clean for r in bench.results)
    print(f"\n{len(bench.results)} cases, {clean} handled cleanly, {len(bench.results) - clean} failed "
          f"({time.perf_counter() - started:.0f} s)")  # fmt: skip
    print("\n| group | case | clean | evidence |\n|---|---|---|---|")
    for r in bench.results:
        print(f"| {r.group} | {r.case} | {'yes' if r.clean else 'NO'} | {r.evidence.replace('|', '/')} |")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in bench.results], indent=1))
    return 0 if clean == len(bench.results) else 1


if __name__ == "__main__":
    sys.exit(main())
