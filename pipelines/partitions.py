"""One dynamic partition per video file (ARCHITECTURE §1)."""

import dagster as dg

videos_partitions = dg.DynamicPartitionsDefinition(name="videos")
