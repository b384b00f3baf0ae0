"""Throughput measurements: models (``regseg benchmark``), the train loader, and the suite
(``regseg benchmark --suite``) that writes ``benchmarks/results/<date>.{json,md}``."""

from __future__ import annotations

from regseg.benchmark.model import (
    DEFAULT_WORKLOAD,
    DEVICES,
    MODES,
    PATHS,
    BenchmarkResult,
    benchmark,
)

__all__ = ["benchmark", "BenchmarkResult", "DEFAULT_WORKLOAD", "MODES", "DEVICES", "PATHS"]
