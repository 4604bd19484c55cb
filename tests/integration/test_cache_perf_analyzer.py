"""perf_analyzer (Triton's load generator, its own process) against a real server with the
response cache: it reads the cache figures from OIP ModelStatistics, and only prints them
for a model whose ModelConfig enables the cache, so both must say what Triton's would."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import serving, write_model
from tests.fixtures import models
from tests.service.oip.outside import perf_analyzer

pytestmark = pytest.mark.tritonclient

CACHED = "backend: onnxruntime\nresponse_cache: {enabled: true}\n"


def _figure(output: str, label: str) -> int:
    found = re.findall(rf"^\s*{label}: (\d+)$", output, re.MULTILINE)
    assert len(found) == 1, f"one {label!r} line expected:\n{output}"
    return int(found[0])


def test_perf_analyzer_reports_the_cache_hits(tmp_path: Path) -> None:
    program = perf_analyzer()
    write_model(tmp_path, "add", models.add_model(), CACHED)
    with serving(sys.executable, tmp_path, "--cache-bytes", str(1 << 20)) as (_, address):
        # perf_analyzer sends the same generated inputs every time: after the first, all hits.
        result = subprocess.run(
            [
                str(program),
                "-m",
                "add",
                "-i",
                "grpc",
                "-u",
                address,
                "--shape",
                "a:1,4",
                "--shape",
                "b:1,4",
                "--concurrency-range",
                "1",
                "--measurement-interval",
                "1000",
                "--stability-percentage",
                "100",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    hits, misses = _figure(output, "Cache hit count"), _figure(output, "Cache miss count")
    assert hits > 0 and misses <= 1, output
    # Its server-side section is the window's difference of our statistics: a hit is a
    # successful request that never reached the model. A miss is counted at its lookup and
    # its success (and execution) after the model ran, so the one request in flight (c=1) at
    # either edge of the window can fall on one side for one figure and the other for another.
    assert abs(_figure(output, "Successful request count") - (hits + misses)) <= 1, output
    assert abs(_figure(output, "Execution count") - misses) <= 1, output
    hit_us = re.search(r"Average Cache Hit Latency: (\d+) usec", output)
    assert hit_us is not None and int(hit_us.group(1)) > 0, output
