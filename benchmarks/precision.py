"""FP32 vs INT8 (vs BF16 on OpenVINO) latency of tiny_cnn and the PP-OCRv4 text detector on this CPU.

    python -m benchmarks.precision [--runs 3] [--iters 30]

INT8 models are built here exactly as the server builds them (ONNX Runtime static QDQ
per-channel; NNCF for OpenVINO) from generated calibration data, and each row reports the
gate's cosine against FP32 on the same runtime. Latency: single-request median over --iters
calls, then the median of --runs such runs. Results are recorded in docs/precision.md.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from backends.precision.gate import measure
from backends.precision.quantize_onnx import quantize_onnx

ROOT = Path(__file__).resolve().parents[1]
MEAN = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)


def tiny_cnn_inputs(count: int, seed: int) -> list[dict[str, np.ndarray]]:
    base = np.random.default_rng(seed).random((count, 3, 8, 8), dtype=np.float32)
    images = np.repeat(np.repeat(base, 8, axis=2), 8, axis=3)
    return [{"input": images[i : i + 1]} for i in range(count)]


def text_inputs(count: int, seed: int) -> list[dict[str, np.ndarray]]:
    """Pillow-drawn words at 320x256 (the served size for 640x480 frames), BGR, ImageNet-normalised."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        img = Image.new("RGB", (320, 256), (235, 235, 225))
        draw = ImageDraw.Draw(img)
        for _ in range(4):
            x, y = int(rng.integers(0, 200)), int(rng.integers(0, 220))
            draw.text(
                (x, y), "switchyard", fill=(20, 20, 20), font=ImageFont.load_default(size=int(rng.integers(16, 32)))
            )
        bgr = np.asarray(img, np.float32)[None, :, :, ::-1].transpose(0, 3, 1, 2) / 255.0
        out.append({"x": np.ascontiguousarray((bgr - MEAN) / STD)})
    return out


def latency_ms(call: Callable[[], object], iters: int, runs: int) -> tuple[float, float]:
    """(median wall ms, CPU ms per call): on a shared machine the CPU time per call (every thread
    of this process) moves far less with other people's load than the wall clock does."""
    call()
    medians, cpu = [], []
    for _ in range(runs):
        times = []
        cpu_start = time.process_time()
        for _ in range(iters):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        cpu.append((time.process_time() - cpu_start) / iters)
        medians.append(statistics.median(times))
    return statistics.median(medians) * 1e3, statistics.median(cpu) * 1e3


def ort_runner(path: Path, threads: int) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    import onnxruntime

    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return lambda feed: dict(zip(names, session.run(names, feed), strict=True))


def ov_runner(path: Path, hint: str, threads: int) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    import openvino

    compiled = openvino.Core().compile_model(
        str(path), "CPU", {"INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": str(threads)}
    )
    names = [o.get_any_name() for o in compiled.outputs]
    request = compiled.create_infer_request()

    def run(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        result = request.infer(feed)
        return {n: np.array(result[compiled.output(n)]) for n in names}

    return run


def bench_model(name: str, model: Path, make: Callable[[int, int], list], args, work: Path) -> None:
    calib, probe_inputs = make(args.calibration, 7), make(4, 99)
    int8 = work / f"{name}-int8.onnx"
    quantize_onnx(model, int8, calib)
    rows = [
        ("onnxruntime", "fp32", ort_runner(model, args.threads)),
        ("onnxruntime", "int8", ort_runner(int8, args.threads)),
    ]
    rows += [
        ("openvino", "fp32", ov_runner(model, "f32", args.threads)),
        ("openvino", "bf16", ov_runner(model, "bf16", args.threads)),
    ]
    if importlib.util.find_spec("nncf") is not None:
        from backends.precision.quantize_openvino import quantize_openvino

        ov_int8 = work / f"{name}-int8.xml"
        quantize_openvino(model, ov_int8, calib)
        rows.append(("openvino", "int8", ov_runner(ov_int8, "f32", args.threads)))
    reference = {rt: [run(s) for s in probe_inputs] for rt, p, run in rows if p == "fp32"}
    for runtime, precision, run in rows:
        cosine = measure(reference[runtime], [run(s) for s in probe_inputs]).cosine
        ms, cpu_ms = latency_ms(functools.partial(run, probe_inputs[0]), args.iters, args.runs)
        print(f"| {name} | {runtime} | {precision} | {ms:.3f} | {cpu_ms:.3f} | {cosine:.5f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calibration", type=int, default=16)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; median of {args.runs} runs x {args.iters}")
    print("| model | runtime | precision | median ms | CPU ms/call | cosine vs fp32 |\n|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        repo = ROOT / "model_repository"
        bench_model("tiny_cnn", repo / "tiny_cnn" / "1" / "model.onnx", tiny_cnn_inputs, args, Path(tmp))
        bench_model("text_detection", repo / "text_detection" / "1" / "model.onnx", text_inputs, args, Path(tmp))
    print(f"load average {os.getloadavg()[0]:.2f} after the run")


if __name__ == "__main__":
    main()
