"""Where the paper release's real data lies for benchmarks: ../shared/realdata beside the checkout (never in it)."""

from pipelines.instance import REPO_ROOT

OFFICIAL_SAMPLE = REPO_ROOT.parent / "shared" / "realdata" / "official_sample"
