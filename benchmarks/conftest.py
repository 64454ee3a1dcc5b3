"""Prints every benchmark as a ratio to the baseline of its group, measured in the same run.

In each group the benchmark whose name contains ``baseline`` is the reference;
a ratio above 1 means slower than it. Throughputs are reported where a test
stored ``bytes`` in ``benchmark.extra_info``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    groups: dict[str, list[Any]] = defaultdict(list)
    for bench in session.benchmarks:
        if bench.stats is not None:
            groups[bench.group or "ungrouped"].append(bench)
    terminalreporter.section("overlaybd-py: ratios to the baseline of each group")
    for group, benches in sorted(groups.items()):
        base = next((b for b in benches if "baseline" in b.name), None)
        terminalreporter.write_line(f"{group}:")
        for bench in sorted(benches, key=lambda b: b.stats.mean):
            mean = bench.stats.mean
            parts = [f"  {bench.name:<48} mean {mean * 1e3:9.3f} ms"]
            size = bench.extra_info.get("bytes")
            if size:
                parts.append(f"{size / mean / 1e6:9.1f} MB/s")
            ops = bench.extra_info.get("ops")
            if ops:
                parts.append(f"{ops / mean:11.0f} ops/s")
            if base is not None and bench is not base:
                parts.append(f"time ratio {mean / base.stats.mean:6.2f}x baseline")
            for key, value in bench.extra_info.items():
                if key not in ("bytes", "ops"):
                    parts.append(f"{key}={value}")
            terminalreporter.write_line("  ".join(parts))
