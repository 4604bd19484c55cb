"""What TLS and bearer tokens cost: the same Predict load against plaintext, TLS and TLS + token.

    taskset -c 1 python -m benchmarks.security_overhead [--seconds 3] [--rounds 3] [--concurrency 1,32]

Starts `switchyard serve` three times (pinned to core 0; the client should be pinned to
another core) with the tiny_cnn model and a throwaway CA from trustme (the dev extra):
plaintext; --tls-cert/--tls-key; the same plus --auth-config with one token, sent on every
call as `authorization: Bearer`. Each round runs every mode at every concurrency for
--seconds (modes interleaved so a noisy neighbour hits all of them alike), and the table
shows the median over the rounds of requests/s, p50 and p99. `connect ms` is a new channel's
first call (TCP, plus the TLS handshake where there is one), the median of 20.
"""

from __future__ import annotations

import asyncio
import hashlib
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np

from benchmarks.closed_loop import arguments
from benchmarks.server import ROOT, start_server, stop_server
from clients.request import build_request
from protos.switchyard.v1 import predict_pb2 as pb
from protos.switchyard.v1 import predict_pb2_grpc

TOKEN = "benchmark-token"
MODES = ("plaintext", "tls", "tls+token")


@dataclass
class Target:
    mode: str
    address: str
    credentials: grpc.ChannelCredentials | None
    metadata: tuple[tuple[str, str], ...] = ()

    def channel(self) -> grpc.aio.Channel:
        options = [("grpc.use_local_subchannel_pool", 1)]  # a connection of its own, never a shared one
        if self.credentials is None:
            return grpc.aio.insecure_channel(self.address, options=options)
        return grpc.aio.secure_channel(self.address, self.credentials, options=options)


@dataclass
class Cell:
    rates: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)


async def load(target: Target, concurrency: int, seconds: float) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) of `concurrency` callers sharing one channel."""
    request = build_request("tiny_cnn", {"input": np.random.default_rng(0).random((1, 3, 64, 64), np.float32)})
    latencies: list[float] = []
    async with target.channel() as channel:
        stub = predict_pb2_grpc.PredictStub(channel)
        await stub.Predict(request, metadata=target.metadata)  # connect and warm up outside the clock
        deadline = time.perf_counter() + seconds

        async def caller() -> None:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                await stub.Predict(request, metadata=target.metadata)
                latencies.append(time.perf_counter() - start)

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return len(latencies) / elapsed, float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


async def connect_ms(target: Target, times: int = 20) -> float:
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        async with target.channel() as channel:
            await predict_pb2_grpc.PredictStub(channel).ListModels(pb.ListModelsRequest(), metadata=target.metadata)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def server_flags(folder: Path) -> dict[str, list[str]]:
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    (folder / "ca.pem").write_bytes(ca.cert_pem.bytes())
    leaf.private_key_pem.write_to_path(str(folder / "server.key"))
    leaf.cert_chain_pems[0].write_to_path(str(folder / "server.pem"))
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    (folder / "auth.yaml").write_text(f"tokens:\n  - {{name: bench, sha256: '{digest}', groups: [infer, metadata]}}\n")
    tls = ["--tls-cert", str(folder / "server.pem"), "--tls-key", str(folder / "server.key")]
    model = ["--model", "tiny_cnn"]
    return {
        "plaintext": model,
        "tls": [*model, *tls],
        "tls+token": [*model, *tls, "--auth-config", str(folder / "auth.yaml")],
    }


async def measure(targets: list[Target], levels: list[int], seconds: float, rounds: int) -> None:
    cells = {(t.mode, c): Cell() for t in targets for c in levels}
    for _ in range(rounds):
        for concurrency in levels:
            for target in targets:
                rate, p50, p99 = await load(target, concurrency, seconds)
                cell = cells[(target.mode, concurrency)]
                cell.rates.append(rate)
                cell.p50.append(p50)
                cell.p99.append(p99)
    connects = {t.mode: await connect_ms(t) for t in targets}
    print(f"{'mode':<10} {'c':>3} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'connect ms':>11}")
    for concurrency in levels:
        for target in targets:
            cell = cells[(target.mode, concurrency)]
            rate, p50, p99 = (statistics.median(values) for values in (cell.rates, cell.p50, cell.p99))
            print(
                f"{target.mode:<10} {concurrency:>3} {rate:>8.0f} {p50:>8.2f} {p99:>8.2f} "
                f"{connects[target.mode]:>11.2f}"
            )


def main() -> None:
    parser = arguments(__doc__)
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        flags = server_flags(folder)
        ca = (folder / "ca.pem").read_bytes()
        servers, targets = [], []
        try:
            for mode in MODES:
                process, port = start_server(
                    ROOT / "model_repository", folder / f"{mode}.port", cpu=args.server_cpu, extra=flags[mode]
                )
                servers.append(process)
                credentials = grpc.ssl_channel_credentials(ca) if mode != "plaintext" else None
                metadata = (("authorization", f"Bearer {TOKEN}"),) if mode == "tls+token" else ()
                targets.append(Target(mode, f"127.0.0.1:{port}", credentials, metadata))
            asyncio.run(measure(targets, levels, args.seconds, args.rounds))
        finally:
            for process in servers:
                stop_server(process)


if __name__ == "__main__":
    main()
