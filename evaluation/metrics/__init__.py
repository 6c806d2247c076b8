"""Benchmark metrics of the paper (Sec. 4 "Metrics", docs/ARCHITECTURE.md §5): LPIPS (or the distance that stands
in for it, named after its backend), IoU, DDC, DTS, FID.

Every function takes :class:`evaluation.sequences.Sequence` objects already at one resolution; the
perceptual distance D is a ``training.data.difference`` backend whose ``name`` is reported with every
number computed from it.
"""

from evaluation.metrics.value import MetricValue

__all__ = ["MetricValue"]
