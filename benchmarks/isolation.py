"""What `isolation: process` costs per call, measured at the backend boundary.

    python -m benchmarks.isolation [--calls 300] [--threads 1] [--json-out out.json]

Loads each model of model_repository/ (tiny_cnn, text_detection) twice: inline (the
ONNX Runtime backend in this process) and isolated (IsolatedBackend: a child process,
tensors through shared memory). Calls alternate between the two on the same input, so a
busy machine slows both alike; the report gives each side's median and the median of the
per-pair difference, which is the isolation's own cost (shared-memory copies in and out,
one pipe round trip, the child's wake-up). Both sessions get --threads intra-op threads: with
ONNX Runtime's default spinning pool in each of the two processes, each side's idle spinning
would slow the other and blur the difference. Bounded by --calls per model.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from backends.base import Device
from backends.onnxruntime_backend import OnnxRuntimeBackend
from backends.options import OnnxRuntimeOptions
from service.scheduling.isolation import IsolatedBackend

ROOT = Path(__file__).resolve().parent.parent / "model_repository"
MODELS: dict[str, dict[str, tuple[int, ...]]] = {
    "tiny_cnn": {"input": (1, 3, 64, 64)},
    "text_detection": {"x": (1, 3, 480, 640)},
}


def measure(name: str, shapes: dict[str, tuple[int, ...]], calls: int, threads: int) -> dict[str, float]:
    artifact = ROOT / name / "1" / "model.onnx"
    inline, isolated = OnnxRuntimeBackend(), IsolatedBackend("onnxruntime", name)
    for backend in (inline, isolated):
        backend.load(artifact, OnnxRuntimeOptions(intra_op_threads=threads), Device("cpu"))
    rng = np.random.default_rng(0)
    inputs = {k: rng.random(shape, dtype=np.float32) for k, shape in shapes.items()}
    try:
        for backend in (inline, isolated):  # first calls allocate and grow the segment
            backend.infer(inputs)
        pairs = []
        for _ in range(calls):
            times = []
            for backend in (inline, isolated):
                start = time.perf_counter()
                backend.infer(inputs)
                times.append(time.perf_counter() - start)
            pairs.append(times)
    finally:
        inline.unload()
        isolated.unload()
    ms = 1e3
    return {
        "inline_median_ms": round(statistics.median(p[0] for p in pairs) * ms, 3),
        "isolated_median_ms": round(statistics.median(p[1] for p in pairs) * ms, 3),
        "overhead_median_ms": round(statistics.median(p[1] - p[0] for p in pairs) * ms, 3),
        "input_mib": round(sum(a.nbytes for a in inputs.values()) / 2**20, 2),
        "calls": calls,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads of both sessions")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    results = {}
    for name, shapes in MODELS.items():
        if not (ROOT / name / "1" / "model.onnx").is_file():
            print(f"{name}: not fetched (python scripts/fetch_models.py); skipped")
            continue
        results[name] = measure(name, shapes, args.calls, args.threads)
        print(name, json.dumps(results[name]))
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
