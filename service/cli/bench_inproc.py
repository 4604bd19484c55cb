"""The in-process reference of `switchyard bench`: the same backend, inputs and batch, no server."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from backends.base import Device
from backends.options import default_options
from backends.registry import create_backend
from service.cli.bench_load import LoadResult


def find_artifact(repository: Path, model: str) -> Path:
    """The newest version's model.onnx under <repository>/<model>/."""
    versions = sorted(
        (p for p in (repository / model).iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)
    )
    for folder in reversed(versions):
        if (folder / "model.onnx").is_file():
            return folder / "model.onnx"
    raise FileNotFoundError(f"no <version>/model.onnx for model '{model}' under {repository}")


def inprocess_throughput(
    artifact: Path,
    inputs: dict[str, np.ndarray],
    *,
    backend: str = "onnxruntime",
    seconds: float = 2.0,
    threads: int = 0,
) -> dict:
    """Calls backend.infer(inputs) back to back for `seconds`; infer/s counts items (batch rows)."""
    engine = create_backend(backend)
    options = default_options(backend)
    if threads and backend == "onnxruntime":
        options = options.model_copy(update={"intra_op_threads": threads})
    engine.load(artifact, options, Device("cpu"))
    try:
        for _ in range(20):
            engine.infer(inputs)
        latencies = []
        clock = time.perf_counter_ns
        end = time.perf_counter() + seconds
        started = time.perf_counter()
        while time.perf_counter() < end:
            t0 = clock()
            engine.infer(inputs)
            latencies.append(clock() - t0)
        elapsed = time.perf_counter() - started
    finally:
        engine.unload()
    batch = int(next(iter(inputs.values())).shape[0])
    result = LoadResult(
        concurrency=1, mode=f"in-process {backend}", batch=batch, seconds=elapsed, latencies_ns=latencies
    )
    return result.summary()
