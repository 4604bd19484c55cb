"""The default model on each CPU runtime: PP-OCRv4 text detection at 320x256, single requests.

    python -m benchmarks.detector_runtimes [--runs 30]

Loads model_repository/text_detection through the project's own backends (ONNX Runtime CPU,
OpenVINO CPU exact f32) at 1 and 2 threads and times single requests on one preprocessed
640x480 frame ([1,3,256,320]) in interleaved rounds, so load on a shared machine falls on
every configuration alike. Prints the median and p90 per configuration, the largest output
difference from ONNX Runtime, and what the server's default selection ("auto") picks for
the model, with its trail.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from backends.base import Device
from backends.loading import load_with_fallback
from backends.options import OnnxRuntimeOptions, OpenVinoOptions
from backends.probe import probe
from backends.registry import create_backend
from backends.selection import select_candidates
from backends.timing import TimingCache
from benchmarks.server import ROOT

MODEL = ROOT / "model_repository" / "text_detection" / "1" / "model.onnx"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30, help="timed calls per configuration")
    args = parser.parse_args()
    x = {"x": np.random.default_rng(0).random((1, 3, 256, 320), dtype=np.float32)}
    configs = {
        f"{name} {threads} thread{'s' if threads > 1 else ''}": (name, options)
        for threads in (1, 2)
        for name, options in (
            ("onnxruntime", OnnxRuntimeOptions(intra_op_threads=threads)),
            ("openvino f32", OpenVinoOptions(precision_hint="f32", num_threads=threads)),
        )
    }
    backends = {}
    for label, (name, options) in configs.items():
        backend = create_backend(name.split()[0])
        backend.load(MODEL, options, Device("cpu"))
        backends[label] = backend
    outputs = {label: next(iter(b.infer(x).values())) for label, b in backends.items()}
    samples: dict[str, list[float]] = {label: [] for label in backends}
    for _ in range(args.runs):
        for label, backend in backends.items():
            start = time.perf_counter()
            backend.infer(x)
            samples[label].append(time.perf_counter() - start)
    reference = outputs["onnxruntime 1 thread"]
    print("| runtime | median ms | p90 ms | max abs diff vs ORT |")
    print("|---|---|---|---|")
    for label, taken in samples.items():
        p90 = float(np.percentile(taken, 90))
        diff = float(np.max(np.abs(outputs[label] - reference)))
        print(f"| {label} | {statistics.median(taken) * 1e3:.1f} | {p90 * 1e3:.1f} | {diff:.1e} |")
    for backend in backends.values():
        backend.unload()
    report = probe()
    with tempfile.TemporaryDirectory() as tmp:
        result = load_with_fallback(
            select_candidates(report, MODEL.parent),
            MODEL.parent,
            selection="auto",
            warmup=lambda signature: x,
            timing_cache=TimingCache(Path(tmp), report),
        )
        result.backend.unload()
    print(f"selection auto chose {result.trail.chosen_label}:")
    for entry in result.trail.entries:
        if entry.infer_seconds is not None:
            print(f"  {entry.label}: {entry.outcome.value} ({entry.reason})")


if __name__ == "__main__":
    main()
