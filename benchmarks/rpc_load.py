"""Closed-loop load on one of the four inference RPCs: Predict, PredictStream, ModelInfer, ModelStreamInfer.

`switchyard bench` loads the Predict API only; this measures the same way (a request built
and serialised once, replies kept as bytes, N workers each with one request outstanding)
for every RPC, so unary and stream and both protocols compare at the same concurrency.
Its numbers are `switchyard bench`'s (service/cli/bench_load.py: LoadResult, Budget).

    python -m benchmarks.rpc_load tiny_cnn --rpc ModelStreamInfer -c 32 --seconds 3 -t 127.0.0.1:8001
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import grpc
import numpy as np

from clients.request import build_request, channel_options
from protos.inference import grpc_service_pb2 as oip
from protos.switchyard.v1 import predict_pb2 as pb
from service.cli.bench_load import Budget, LoadResult, unary_worker

SHAPE = (1, 3, 64, 64)  # the input of tiny_cnn, the model the benchmarks load
# Predict calls before the clock starts (connection and model warm); a server-side measurement
# (benchmarks/request_path.py) counts them among the requests it served.
WARMUP_CALLS = 20

RPCS = {
    "Predict": "/switchyard.v1.Predict/Predict",
    "PredictStream": "/switchyard.v1.Predict/PredictStream",
    "ModelInfer": "/inference.GRPCInferenceService/ModelInfer",
    "ModelStreamInfer": "/inference.GRPCInferenceService/ModelStreamInfer",
}


def payload(rpc: str, model: str, x: np.ndarray) -> bytes:
    """The serialised request of `rpc` carrying `x` as raw contents of input 'input'."""
    if rpc.startswith("Predict"):
        request = build_request(model, {"input": x})
        return (request if rpc == "Predict" else pb.PredictStreamRequest(request=request)).SerializeToString()
    message = oip.ModelInferRequest(model_name=model, raw_input_contents=[x.tobytes()])
    message.inputs.add(name="input", datatype="FP32", shape=x.shape)
    return message.SerializeToString()


def _identity(data: bytes) -> bytes:
    return data


def _stream_failed(rpc: str, reply: bytes) -> bool:
    if rpc == "PredictStream":
        return pb.PredictStreamResponse.FromString(reply).HasField("error")
    return bool(oip.ModelStreamInferResponse.FromString(reply).error_message)


async def _unary(channel, rpc: str, data: bytes, budget: Budget, result: LoadResult) -> None:
    await unary_worker(channel, data, budget, result, 30, RPCS[rpc])


async def _stream(channel, rpc: str, data: bytes, budget: Budget, result: LoadResult) -> None:
    """One stream per worker, one message outstanding on it; the first reply is checked for an error."""
    stream = channel.stream_stream(RPCS[rpc], request_serializer=_identity, response_deserializer=_identity)(
        timeout=600
    )
    clock, latencies, checked = time.perf_counter_ns, result.latencies_ns, False
    while budget.take():
        t0 = clock()
        await stream.write(data)
        reply = await stream.read()
        if reply is grpc.aio.EOF:
            result.errors["EOF"] += 1
            break
        if not checked and _stream_failed(rpc, reply):
            result.errors["IN_BAND"] += 1
            break
        checked = True
        latencies.append(clock() - t0)
    await stream.done_writing()


async def run(target: str, model: str, rpc: str, concurrency: int, seconds: float) -> dict:
    x = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
    data = payload(rpc, model, x)
    worker = _stream if "Stream" in rpc else _unary
    async with grpc.aio.insecure_channel(target, options=channel_options()) as channel:
        warm = Budget(WARMUP_CALLS, None, lambda n: None)
        await _unary(channel, "Predict", payload("Predict", model, x), warm, LoadResult(1, "", 1))
        result = LoadResult(concurrency, rpc, SHAPE[0])
        budget = Budget(None, seconds, lambda n: None)
        started = time.perf_counter()
        await asyncio.gather(*(worker(channel, rpc, data, budget, result) for _ in range(concurrency)))
        result.seconds = time.perf_counter() - started
    return result.summary()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("-t", "--target", default="127.0.0.1:8001")
    parser.add_argument("--rpc", choices=sorted(RPCS), default="Predict")
    parser.add_argument("-c", "--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.target, args.model, args.rpc, args.concurrency, args.seconds))))


if __name__ == "__main__":
    main()
