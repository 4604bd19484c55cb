"""A closed loop of unary Predict calls over one grpc.aio channel, and the medians of rounds.

Shared by the overhead benchmarks that compare servers started with different flags
(`benchmarks.tracing_overhead`, `benchmarks.cache_overhead`; `benchmarks.security_overhead`
takes its options): the same load runs against
each server in turn, rounds interleaved so a noisy neighbour hits every configuration alike,
and each cell reports the median over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
import numpy as np

from benchmarks.serving import cpu_seconds
from protos.switchyard.v1 import predict_pb2 as pb
from protos.switchyard.v1 import predict_pb2_grpc


def arguments(doc: str | None) -> argparse.ArgumentParser:
    """The options every server-comparing benchmark takes; a benchmark adds its own."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,32")
    parser.add_argument("--server-cpu", default="0", help="taskset core list for the servers")
    return parser


# request number -> the request to send (the same object for a fixed load)
RequestFactory = Callable[[int], pb.PredictRequest]


@dataclass
class Cell:
    rates: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)

    def add(self, rate: float, p50: float, p99: float, cpu_us: float = math.nan) -> None:
        self.rates.append(rate)
        self.p50.append(p50)
        self.p99.append(p99)
        self.cpu_us.append(cpu_us)

    def medians(self) -> tuple[float, float, float, float]:
        rate, p50, p99, cpu = (statistics.median(v) for v in (self.rates, self.p50, self.p99, self.cpu_us))
        return rate, p50, p99, cpu


async def load(
    address: str,
    requests: RequestFactory,
    concurrency: int,
    seconds: float,
    timeout: float = 120,
    server_pid: int | None = None,
) -> tuple[float, float, float, float]:
    """(requests/s, p50 ms, p99 ms, server CPU µs per request) of `concurrency` callers sharing
    one channel for `seconds`; the CPU figure is NaN without `server_pid`."""
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

        cpu_before = cpu_seconds(server_pid) if server_pid is not None else math.nan
        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(server_pid) - cpu_before if server_pid is not None else math.nan
    ms = np.array(latencies) * 1000
    count = len(latencies)
    return count / elapsed, float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), cpu / count * 1e6


def print_table(rows: list[tuple[str, int, Cell]], baseline: dict[int, float] | None = None) -> None:
    """One line per (label, concurrency): medians, and req/s relative to `baseline[concurrency]`."""
    print(
        f"{'configuration':<28} {'c':>3} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'vs base':>8} "
        f"{'server CPU us/req':>18} {'rounds':>7}"
    )
    for label, concurrency, cell in rows:
        rate, p50, p99, cpu = cell.medians()
        ratio = f"{rate / baseline[concurrency]:.3f}" if baseline and baseline.get(concurrency) else ""
        shown_cpu = "" if math.isnan(cpu) else f"{cpu:.0f}"
        print(
            f"{label:<28} {concurrency:>3} {rate:>9.1f} {p50:>9.2f} {p99:>9.2f} {ratio:>8} {shown_cpu:>18} "
            f"{len(cell.rates):>7}",
            flush=True,
        )
