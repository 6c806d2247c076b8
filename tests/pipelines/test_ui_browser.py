"""The Dagster UI and MLflow UI in headless Chromium, on the small demo's data root, as a user works in them.

Servers are started with the demo's printed commands (tests/ui_servers.py); Chromium is Debian's
(`apt-get install chromium`, done by `make test` as root): Playwright drives it, its own browser download is
not used. Screenshots go to test-artifacts/screenshots/ (README, "Tests").
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import dagster as dg
import pytest
from mlflow import MlflowClient

from assets.ingest import SampledFramesConfig
from pipelines.definitions import build_definitions
from pipelines.instance import REPO_ROOT
from pipelines.settings import load_settings
from tests.conftest import SmallDemo
from tests.ui_servers import BROWSER_ENV, Server, chromium_path, ui_servers

SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"


if chromium_path() is None:
    if os.environ.get(BROWSER_ENV) == "required":
        raise RuntimeError(f"{BROWSER_ENV}=required but no chromium on PATH: apt-get install chromium")
    pytest.skip(
        "no chromium on PATH (sudo apt-get install chromium; `make test` does it as root)", allow_module_level=True
    )

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402  (after the skip)


@pytest.fixture(scope="module")
def servers(small_demo: SmallDemo) -> Iterator[tuple[Server, Server]]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with ui_servers(small_demo.data_root, small_demo.dagster_home, SCREENSHOTS.parent) as both:
        yield both


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path())
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(60_000)
    page = context.new_page()
    # Dagster's first-visit "Join the community" dialog (remembered per browser profile) covers the page
    # with an overlay whenever it appears: dismissed as a user would.
    page.add_locator_handler(
        page.get_by_text("Join the Dagster community"), lambda: page.get_by_role("button", name="Skip").click()
    )
    yield page
    context.close()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def wait_for_run(home: Path, find, timeout_s: float = 240) -> dg.DagsterRun:
    """The first run ``find(runs)`` returns, once finished (polled in the instance the UI writes to)."""
    started = time.monotonic()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        while time.monotonic() - started < timeout_s:
            run = find(instance.get_runs(limit=50))
            if run is not None and run.is_finished:
                return run
            time.sleep(1)
    raise TimeoutError(f"no finished run after {timeout_s:.0f} s")


# --- Dagster ------------------------------------------------------------------------------------------------


def test_a_partitions_picture_renders(servers, small_demo: SmallDemo, page: Page):
    dagster, _ = servers
    video = sorted(p.stem for p in (small_demo.data_root / "videos").glob("*.mp4"))[0]
    page.goto(f"{dagster.url}/assets/keyframes?view=partitions&partition={video}")
    expect(page.get_by_text("kept_preview").first).to_be_visible()
    # Dagster shows Markdown over 1000 characters (a picture) behind this link, in a dialog.
    page.get_by_text("[Show Markdown]").first.click()
    picture = page.locator("img[src^='data:image']").first
    expect(picture).to_be_visible()
    width = picture.evaluate("img => img.complete ? img.naturalWidth : 0")
    shot(page, "dagster_keyframes_partition")
    assert width > 100  # decoded: a strip of keyframes, not a broken-image icon


def test_a_run_the_cli_made_is_listed_under_its_job_and_re_executes_from_the_ui(
    servers, small_demo: SmallDemo, page: Page
):
    dagster, _ = servers
    with dg.DagsterInstance.from_config(str(small_demo.dagster_home)) as instance:
        cli_run = next(
            r for r in instance.get_runs(filters=dg.RunsFilter(job_name="process_videos"))
            if r.tags.get("inverse-painting/launched-by") == "demo"
        )  # fmt: skip
    page.goto(f"{dagster.url}/locations/inverse-painting/jobs/process_videos/runs")
    expect(page.get_by_text(cli_run.run_id[:8]).first).to_be_visible()
    shot(page, "dagster_job_runs")
    page.goto(f"{dagster.url}/runs/{cli_run.run_id}")
    page.get_by_role("button", name="Re-execute all").click()
    rerun = wait_for_run(
        small_demo.dagster_home, lambda runs: next((r for r in runs if r.parent_run_id == cli_run.run_id), None)
    )
    page.goto(f"{dagster.url}/runs/{rerun.run_id}")
    expect(page.get_by_text("Success").first).to_be_visible()
    shot(page, "dagster_re_executed_run")
    assert rerun.status == dg.DagsterRunStatus.SUCCESS


def test_the_lineage_shows_every_asset_of_the_code_location(servers, small_demo: SmallDemo, page: Page):
    dagster, _ = servers
    page.goto(f"{dagster.url}/asset-groups")
    page.locator("[aria-label=zoom_in]").wait_for()  # the graph's own controls, after the sidebar's
    page.locator("[aria-label=settings]").last.click()
    page.get_by_role("menuitem", name="Expand all groups").click()
    page.keyboard.press("Escape")
    names = sorted(
        key.to_user_string() for key in build_definitions(str(small_demo.data_root)).resolve_all_asset_keys()
    )
    assert len(names) >= 16
    for name in names:
        expect(page.get_by_text(name, exact=True).first).to_be_visible()
    shot(page, "dagster_lineage")


def test_the_launchpad_launches_one_video_with_the_data_roots_settings(servers, small_demo: SmallDemo, page: Page):
    dagster, _ = servers
    wanted = load_settings(small_demo.data_root)["ops"]["sampled_frames"]["config"]["sample_every_s"]
    assert wanted != SampledFramesConfig().sample_every_s  # else the settings would not show
    video = sorted(p.stem for p in (small_demo.data_root / "videos").glob("*.mp4"))[-1]
    page.goto(f"{dagster.url}/locations/inverse-painting/jobs/process_videos/playground")
    page.get_by_role("combobox", name="Partition").fill(video)
    page.keyboard.press("Enter")
    expect(page.get_by_text(f"partition: {video}").first).to_be_visible()
    expect(page.get_by_text(f"sample_every_s: {wanted:g}").first).to_be_visible()
    shot(page, "dagster_launchpad")
    page.get_by_role("button", name="Launch Run").click()
    page.wait_for_url("**/runs/*")
    run_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    run = wait_for_run(small_demo.dagster_home, lambda runs: next((r for r in runs if r.run_id == run_id), None))
    expect(page.get_by_text("Success").first).to_be_visible(timeout=30_000)
    shot(page, "dagster_launched_run")
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.tags.get("dagster/partition") == video
    assert run.run_config["ops"]["sampled_frames"]["config"]["sample_every_s"] == wanted


# --- MLflow -------------------------------------------------------------------------------------------------


def test_mlflow_compares_the_benchmarks_child_runs(servers, small_demo: SmallDemo, page: Page):
    _, mlflow = servers
    client = MlflowClient(f"sqlite:///{small_demo.data_root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("inverse-painting/benchmark")
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.benchmark = 'parent'", max_results=1)
    children = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{runs[0].info.run_id}'"
    )
    ids = [run.info.run_id for run in children]
    metrics = sorted(set().union(*(run.data.metrics for run in children)))
    experiments = quote(json.dumps([experiment.experiment_id]))
    page.goto(f"{mlflow.url}/#/compare-runs?runs={quote(json.dumps(ids))}&experiments={experiments}")
    expect(page.get_by_text(f"Comparing {len(ids)} Runs").first).to_be_visible()
    for metric in ("iou", "ddc", "dts"):
        assert metric in metrics
        expect(page.get_by_text(metric, exact=True).first).to_be_visible()
    shot(page, "mlflow_compare_benchmark")
