"""Rollouts under load: time from a file change to the new version serving, and latency during the swap.

Starts `switchyard serve --repository-poll-seconds P` on a temporary copy of the text
detector (model_repository/text_detection), keeps `--concurrency` raw-tensor Predict calls
in flight ([1, 3, 256, 320] float32, the size the config's preprocess feeds it), and per
round makes two changes:

- config: config.yaml gains (or loses) `max_batch_size: 4` and a warmup; served once
  GetModel shows the new max_batch_size;
- version: a new version folder appears whole (written in a hidden folder, then renamed);
  served once a Predict reply comes from it.

Reports each change's time to serving (which includes up to one poll interval, the load and
the warmup) and the p50/p99 latency of requests that started inside a swap window (from the
change until the new version serves, plus --tail seconds of draining) against those that
started outside every window. Bounded: --before seconds of steady load, then --rounds rounds
with --settle seconds between changes.

    python -m benchmarks.rollout [--poll 0.5] [--concurrency 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np

from benchmarks.server import ROOT, start_server, stop_server
from clients.request import build_request
from protos.switchyard.v1 import predict_pb2 as pb
from protos.switchyard.v1 import predict_pb2_grpc

MODEL = "text_detection"
SOURCE = ROOT / "model_repository" / MODEL
INPUT = np.random.default_rng(0).random((1, 3, 256, 320), np.float32)
TIMEOUT = 60.0


@dataclass
class Load:
    """Back-to-back Predict calls: (start, seconds, served version) per reply, and the failures."""

    stub: predict_pb2_grpc.PredictStub
    samples: list[tuple[float, float, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stopping: bool = False

    async def run(self) -> None:
        request = build_request(MODEL, {"x": INPUT})
        while not self.stopping:
            started = time.perf_counter()
            try:
                reply = await self.stub.Predict(request, timeout=TIMEOUT)
            except grpc.aio.AioRpcError as error:
                self.failures.append(f"{error.code().name}: {error.details()}")
                continue
            self.samples.append((started, time.perf_counter() - started, reply.version))


async def until(check, what: str, limit: float = 120.0) -> float:
    """Poll `check` every 10 ms (the measurement's resolution); returns when it held."""
    deadline = time.perf_counter() + limit
    while not await check():
        if time.perf_counter() > deadline:
            raise SystemExit(f"{what} did not happen within {limit:g} s")
        await asyncio.sleep(0.01)
    return time.perf_counter()


def write_config(folder: Path, batched: bool) -> None:
    text = (SOURCE / "config.yaml").read_text()
    if batched:
        text += "max_batch_size: 4\nwarmup: [{batch_size: 1, count: 2}]\n"
    staged = folder / ".config.yaml.new"
    staged.write_text(text)
    staged.replace(folder / "config.yaml")  # appears whole, as a deploy tool writes it


def add_version(folder: Path, number: int) -> None:
    staging = folder.parent / ".staging" / str(number)
    staging.mkdir(parents=True)
    shutil.copy(SOURCE / "1" / "model.onnx", staging / "model.onnx")
    staging.rename(folder / str(number))


def quantiles(values: list[float]) -> tuple[float, float, int]:
    if len(values) < 2:
        return float("nan"), float("nan"), len(values)
    cuts = statistics.quantiles(values, n=100)
    return cuts[49] * 1e3, cuts[98] * 1e3, len(values)


async def measure(port: int, folder: Path, args: argparse.Namespace) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = predict_pb2_grpc.PredictStub(channel)
        load = Load(stub)
        tasks = [asyncio.create_task(load.run()) for _ in range(args.concurrency)]
        await asyncio.sleep(args.before)  # steady load before the first change
        windows: list[tuple[float, float]] = []
        served: dict[str, list[float]] = {"config": [], "version": []}
        batched, version = False, 1
        for _ in range(args.rounds):
            batched = not batched
            changed = time.perf_counter()
            write_config(folder, batched)

            async def shows_config(want: int = 4 if batched else 0) -> bool:
                info = await stub.GetModel(pb.GetModelRequest(model=MODEL), timeout=TIMEOUT)
                return info.model.max_batch_size == want

            done = await until(shows_config, "the config change")
            served["config"].append(done - changed)
            windows.append((changed, done + args.tail))
            await asyncio.sleep(args.settle)

            version += 1
            changed = time.perf_counter()
            add_version(folder, version)
            count = len(load.samples)

            async def answers_from_new(want: str = str(version), seen: int = count) -> bool:
                return any(v == want for _, _, v in load.samples[seen:])

            done = await until(answers_from_new, f"version {version}")
            served["version"].append(done - changed)
            windows.append((changed, done + args.tail))
            await asyncio.sleep(args.settle)
        load.stopping = True
        await asyncio.gather(*tasks)

    inside = [s for t, s, _ in load.samples if any(a <= t <= b for a, b in windows)]
    outside = [s for t, s, _ in load.samples if not any(a <= t <= b for a, b in windows)]
    print(f"poll interval {args.poll:g} s, concurrency {args.concurrency}, rounds {args.rounds}")
    for kind, seconds in served.items():
        shown = ", ".join(f"{s:.2f}" for s in seconds)
        print(f"{kind} change -> new version serving: median {statistics.median(seconds):.2f} s ({shown})")
    for label, values in (("outside swaps", outside), ("during swaps", inside)):
        p50, p99, n = quantiles(values)
        print(f"latency {label}: p50 {p50:.1f} ms, p99 {p99:.1f} ms ({n} requests)")
    print(f"failed requests: {len(load.failures)}" + (f" (first: {load.failures[0]})" if load.failures else ""))
    print(f"load average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poll", type=float, default=0.5, help="the server's --repository-poll-seconds")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=float, default=5.0, help="seconds of load before the first change")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds of load between changes")
    parser.add_argument("--tail", type=float, default=1.0, help="seconds after serving still counted as the swap")
    args = parser.parse_args()
    if not (SOURCE / "1" / "model.onnx").is_file():
        raise SystemExit("the text detector is not fetched: run `python scripts/fetch_models.py`")
    with tempfile.TemporaryDirectory() as scratch:
        repository = Path(scratch) / "models"
        shutil.copytree(SOURCE, repository / MODEL)
        process, port = start_server(
            repository, Path(scratch) / "port", extra=["--repository-poll-seconds", str(args.poll)]
        )
        try:
            asyncio.run(measure(port, repository / MODEL, args))
        finally:
            stop_server(process)


if __name__ == "__main__":
    main()
