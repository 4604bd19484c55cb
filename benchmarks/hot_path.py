"""Where a request's server CPU goes, without gRPC: each stage of the hot path timed alone.

Times, per request of the tiny CNN ([1,3,64,64] FP32, raw contents), on one core:
protobuf parse of the wire bytes, decode_request (codec), runner.infer with the batcher and
executor hand-off, the backend call alone, encode_response, and serialisation. Compare the
sum with benchmarks/grpc_floor.py (grpc.aio doing nothing) to see what the server adds.

    taskset -c 0 python -m benchmarks.hot_path
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np

from backends.base import Device
from backends.options import OnnxRuntimeOptions
from backends.registry import create_backend
from clients.request import build_request
from protos.switchyard.v1 import predict_pb2 as pb
from service.predict.messages import decode_request, encode_response
from service.scheduling.batcher import BatchPolicy
from service.scheduling.runner import ModelRunner

N = 5000


def per_call_us(fn, n: int = N) -> float:
    for _ in range(100):
        fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


async def runner_us(runner: ModelRunner, request, concurrency: int) -> float:
    async def worker(count: int):
        for _ in range(count):
            await runner.infer(request)

    await worker(100)
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(N // concurrency) for _ in range(concurrency)))
    return (time.perf_counter() - t0) / (N // concurrency * concurrency) * 1e6


def main() -> None:
    import tempfile

    import onnx

    from tests.fixtures.models import tiny_cnn

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        onnx.save(tiny_cnn(), path)
        backend = create_backend("onnxruntime")
        signature = backend.load(path, OnnxRuntimeOptions(intra_op_threads=1), Device("cpu"))
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    wire = build_request("tiny_cnn", {"input": x}).SerializeToString()
    message = pb.PredictRequest.FromString(wire)
    infer_request, raw = decode_request(message, None)
    outputs = backend.infer({"input": x})
    reply = encode_response(message, 1, outputs, raw)
    rows = {
        "protobuf parse (48 KB request)": per_call_us(lambda: pb.PredictRequest.FromString(wire)),
        "decode_request (codec)": per_call_us(lambda: decode_request(message, None)),
        "backend.infer (ORT, 1 thread)": per_call_us(lambda: backend.infer({"input": x})),
        "encode_response": per_call_us(lambda: encode_response(message, 1, outputs, raw)),
        "protobuf serialise reply": per_call_us(reply.SerializeToString),
    }
    for label, policy, concurrency, inline in (
        ("runner.infer, no batching, c=1", BatchPolicy(), 1, 0.0),
        ("runner.infer, no batching, c=32", BatchPolicy(), 32, 0.0),
        ("runner.infer, batching delay 0, c=32", BatchPolicy(max_batch_size=32), 32, 0.0),
        # A generous threshold: a busy core must not decide whether the call runs on the loop.
        ("runner.infer, on the event loop (inline), c=1", BatchPolicy(), 1, 0.01),
    ):
        runner = ModelRunner(
            "tiny_cnn", 1, backend, signature, max_batch_size=32, batching=policy, device="cpu", inline_below_s=inline
        )
        rows[label] = asyncio.run(runner_us(runner, infer_request, concurrency))
        rows[label + " (batches run)"] = runner.stats.execution_count
        if inline:
            rows[label + " (of them inline)"] = runner.stats.inline_execution_count
    for label, value in rows.items():
        print(f"{label:45s} {value:10.1f}")


if __name__ == "__main__":
    main()
