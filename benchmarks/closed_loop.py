"""A closed loop of unary Predict calls over one grpc.aio channel, and the medians of rounds.

Shared by the overhead benchmarks that compare servers started with different flags
(`benchmarks.tracing_overhead`, `benchmarks.cache_overhead`): the same load runs against
each server in turn, rounds interleaved so a noisy neighbour hits every configuration alike,
and each cell reports the median over the rounds.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
import numpy as np

from protos.switchyard.v1 import predict_pb2 as pb
from protos.switchyard.v1 import predict_pb2_grpc

# request number -> the request to send (the same object for a fixed load)
RequestFactory = Callable[[int], pb.PredictRequest]


@dataclass
class Cell:
    rates: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)

    def add(self, rate: float, p50: float, p99: float) -> None:
        self.rates.append(rate)
        self.p50.append(p50)
        self.p99.append(p99)

    def medians(self) -> tuple[float, float, float]:
        rate, p50, p99 = (statistics.median(values) for values in (self.rates, self.p50, self.p99))
        return rate, p50, p99


async def load(
    address: str, requests: RequestFactory, concurrency: int, seconds: float, timeout: float = 120
) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) of `concurrency` callers sharing one channel for `seconds`."""
    latencies: list[float] = []
    options = [("grpc.use_local_subchannel_pool", 1), ("grpc.max_receive_message_length", 64 << 20)]
    async with grpc.aio.insecure_channel(address, options=options) as channel:
        stub = predict_pb2_grpc.PredictStub(channel)
        await stub.Predict(requests(-1), timeout=timeout)  # connect and warm up outside the clock
        numbers = iter(range(1 << 62))
        deadline = time.perf_counter() + seconds

        async def caller() -> None:
            while time.perf_counter() < deadline:
                request = requests(next(numbers))
                start = time.perf_counter()
                await stub.Predict(request, timeout=timeout)
                latencies.append(time.perf_counter() - start)

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return len(latencies) / elapsed, float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def print_table(rows: list[tuple[str, int, Cell]], baseline: dict[int, float] | None = None) -> None:
    """One line per (label, concurrency): medians, and req/s relative to `baseline[concurrency]`."""
    print(f"{'configuration':<28} {'c':>3} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'vs base':>8} {'rounds':>7}")
    for label, concurrency, cell in rows:
        rate, p50, p99 = cell.medians()
        ratio = f"{rate / baseline[concurrency]:.3f}" if baseline and baseline.get(concurrency) else ""
        print(
            f"{label:<28} {concurrency:>3} {rate:>9.1f} {p50:>9.2f} {p99:>9.2f} {ratio:>8} {len(cell.rates):>7}",
            flush=True,
        )
