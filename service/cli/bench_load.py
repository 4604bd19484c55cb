"""The load generator of `switchyard bench`: N closed-loop workers over the real Predict API.

The request is built and serialised once; the stubs send those bytes and keep the
replies as bytes (only the first reply is decoded and checked), so the generator spends
its CPU on gRPC, not on protobuf: the server, not the tool, should be the bottleneck.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
import numpy as np

from clients.pool import ChannelPool
from clients.request import build_request, channel_options, decode_outputs
from clients.security import TlsConfig, open_aio_channel
from protos.switchyard.v1 import predict_pb2 as pb

PREDICT = "/switchyard.v1.Predict/Predict"
PREDICT_STREAM = "/switchyard.v1.Predict/PredictStream"


def _identity(data: bytes) -> bytes:
    return data


@dataclass
class LoadResult:
    concurrency: int
    mode: str
    batch: int
    seconds: float = 0.0
    latencies_ns: list[int] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)

    @property
    def ok(self) -> int:
        return len(self.latencies_ns)

    def summary(self) -> dict:
        lat = np.asarray(self.latencies_ns, dtype=np.float64) / 1e6
        p50, p90, p99 = (np.percentile(lat, q) if lat.size else float("nan") for q in (50, 90, 99))
        return {
            "concurrency": self.concurrency,
            "mode": self.mode,
            "batch": self.batch,
            "requests": self.ok,
            "errors": sum(self.errors.values()),
            "seconds": round(self.seconds, 3),
            "requests_per_s": round(self.ok / self.seconds, 1) if self.seconds else 0.0,
            "infer_per_s": round(self.ok * self.batch / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(p50, 3),
            "p90_ms": round(p90, 3),
            "p99_ms": round(p99, 3),
            "errors_by_code": dict(self.errors),
        }


class Budget:
    """Stops the workers after `requests` calls or `seconds`, whichever is set; reports progress."""

    def __init__(self, requests: int | None, seconds: float | None, progress: Callable[[int], None]) -> None:
        self.left = requests
        self.until = time.perf_counter() + seconds if seconds else None
        self.progress = progress

    def take(self) -> bool:
        if self.left is not None:
            if self.left <= 0:
                return False
            self.left -= 1
        return self.until is None or time.perf_counter() < self.until


async def check_reply(
    target: str,
    model: str,
    inputs: dict[str, np.ndarray],
    timeout: float,
    *,
    tls: TlsConfig | bool | None = None,
    token: str | None = None,
) -> dict[str, np.ndarray]:
    """One real call, decoded: the model answers and the shapes are plausible before load starts."""
    async with open_aio_channel(target, channel_options(), tls=tls, token=token) as channel:
        stub = channel.unary_unary(
            PREDICT,
            request_serializer=pb.PredictRequest.SerializeToString,
            response_deserializer=pb.PredictResponse.FromString,
        )
        return decode_outputs(await stub(build_request(model, inputs), timeout=timeout))


async def run_load(
    target: str,
    model: str,
    inputs: dict[str, np.ndarray],
    *,
    concurrency: int,
    mode: str,
    requests: int | None,
    seconds: float | None,
    timeout: float,
    channels: int = 1,
    progress: Callable[[int], None] = lambda n: None,
    tls: TlsConfig | bool | None = None,
    token: str | None = None,
) -> LoadResult:
    request = build_request(model, inputs)
    # Serialized once: the load is the server's, not this client's protobuf encoder.
    payload = (request if mode == "unary" else pb.PredictStreamRequest(request=request)).SerializeToString()
    batch = int(next(iter(inputs.values())).shape[0]) if inputs else 1
    result = LoadResult(concurrency, mode, batch)
    budget = Budget(requests, seconds, progress)
    # A pool's channels each have a connection of their own (plain channels would share one).
    opened = ChannelPool(
        lambda options: open_aio_channel(target, options, tls=tls, token=token),
        channel_options(),
        max(1, channels),
        lambda channel: channel,
    ).channels
    try:
        worker = unary_worker if mode == "unary" else _stream_worker
        started = time.perf_counter()
        await asyncio.gather(
            *(worker(opened[i % len(opened)], payload, budget, result, timeout) for i in range(concurrency))
        )
        result.seconds = time.perf_counter() - started
    finally:
        for channel in opened:
            await channel.close()
    return result


async def unary_worker(
    channel, payload: bytes, budget: Budget, result: LoadResult, timeout: float, method: str = PREDICT
) -> None:
    """One request outstanding at a time on `method` (a serialised request, replies kept as bytes)."""
    call = channel.unary_unary(method, request_serializer=_identity, response_deserializer=_identity)
    clock = time.perf_counter_ns
    latencies, errors = result.latencies_ns, result.errors
    while budget.take():
        t0 = clock()
        try:
            await call(payload, timeout=timeout)
        except grpc.aio.AioRpcError as error:
            errors[error.code().name] += 1
        else:
            latencies.append(clock() - t0)
        budget.progress(1)


async def _stream_worker(channel, payload: bytes, budget: Budget, result: LoadResult, timeout: float) -> None:
    """One stream per worker, one request outstanding on it (closed loop, like unary)."""
    call = channel.stream_stream(
        PREDICT_STREAM, request_serializer=_identity, response_deserializer=pb.PredictStreamResponse.FromString
    )
    stream = call(timeout=timeout)
    clock = time.perf_counter_ns
    try:
        while budget.take():
            t0 = clock()
            await stream.write(payload)
            reply = await stream.read()
            if reply is grpc.aio.EOF:
                result.errors["EOF"] += 1
                break
            if reply.HasField("error"):
                result.errors[reply.error.code] += 1
            else:
                result.latencies_ns.append(clock() - t0)
            budget.progress(1)
        await stream.done_writing()
    except grpc.aio.AioRpcError as error:
        result.errors[error.code().name] += 1
