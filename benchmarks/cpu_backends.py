"""ONNX Runtime CPU vs OpenVINO CPU on small CNNs: the measurement behind the CPU default.

    python -m benchmarks.cpu_backends [--seconds 1.5] [--json-out out.json]

Builds seeded CNNs with onnx.helper (no downloads), then for each runtime measures the cold
start (session creation / compile_model), the median and p90 latency of single requests and
the largest output difference from ONNX Runtime. Bounded: each configuration runs for at
most --seconds. Results and the command are recorded in docs/hardware.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def small_cnn(path: Path, size: int, width: int, seed: int = 0) -> Path:
    """conv(3x3) x4 with ReLU and stride-2 downsampling, global pooling, a 10-way Gemm."""
    rng = np.random.default_rng(seed)
    nodes, inits, channels, last = [], [], 3, "x"
    for i, (out, stride) in enumerate([(width, 1), (width * 2, 2), (width * 4, 2), (width * 8, 2)]):
        w = rng.standard_normal((out, channels, 3, 3)).astype(np.float32) * (2 / (9 * channels)) ** 0.5
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(np.zeros(out, np.float32), f"b{i}")]
        nodes += [
            helper.make_node("Conv", [last, f"w{i}", f"b{i}"], [f"c{i}"], pads=[1, 1, 1, 1], strides=[stride] * 2),
            helper.make_node("Relu", [f"c{i}"], [f"r{i}"]),
        ]
        channels, last = out, f"r{i}"
    inits += [
        numpy_helper.from_array(rng.standard_normal((channels, 10)).astype(np.float32) * 0.1, "fc"),
        numpy_helper.from_array(np.zeros(10, np.float32), "fcb"),
    ]
    nodes += [
        helper.make_node("GlobalAveragePool", [last], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc", "fcb"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def timed(run, x, seconds: float, max_iters: int = 2000) -> list[float]:
    for _ in range(5):
        run(x)
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline and len(samples) < max_iters:
        start = time.perf_counter()
        run(x)
        samples.append(time.perf_counter() - start)
    return samples


def ort_runner(path: Path):
    import onnxruntime as ort

    start = time.perf_counter()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    cold = time.perf_counter() - start
    return cold, lambda x: session.run(None, {"x": x})[0]


def ov_runner(path: Path, precision: str | None):
    import openvino as ov

    core = ov.Core()
    config = {"PERFORMANCE_HINT": "LATENCY"}
    if precision:
        config["INFERENCE_PRECISION_HINT"] = precision
    start = time.perf_counter()
    compiled = core.compile_model(str(path), "CPU", config)
    cold = time.perf_counter() - start
    request = compiled.create_infer_request()
    return cold, lambda x: request.infer({"x": x})[compiled.output(0)].copy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="time budget per configuration")
    parser.add_argument("--json-out", type=Path, help="also write the results here")
    args = parser.parse_args()
    import onnxruntime as ort
    import openvino as ov

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size, width in [(64, 16), (224, 32)]:
            path = small_cnn(Path(tmp) / f"cnn{size}.onnx", size, width)
            x = np.random.default_rng(1).standard_normal((1, 3, size, size)).astype(np.float32)
            runners = {
                f"onnxruntime {ort.__version__} CPU": ort_runner(path),
                f"openvino {ov.get_version().split('-')[0]} CPU f32": ov_runner(path, "f32"),
                f"openvino {ov.get_version().split('-')[0]} CPU default": ov_runner(path, None),
            }
            reference = None
            for name, (cold, run) in runners.items():
                out = run(x)
                reference = out if reference is None else reference
                samples = timed(run, x, args.seconds)
                samples.sort()
                row = {
                    "model": f"cnn [1,3,{size},{size}] width {width}",
                    "runtime": name,
                    "cold_start_ms": round(cold * 1e3, 2),
                    "median_ms": round(statistics.median(samples) * 1e3, 3),
                    "p90_ms": round(samples[int(len(samples) * 0.9)] * 1e3, 3),
                    "iterations": len(samples),
                    "max_abs_diff_vs_ort": float(np.max(np.abs(out - reference))),
                }
                results.append(row)
                print(json.dumps(row))
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
