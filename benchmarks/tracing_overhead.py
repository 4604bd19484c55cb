"""What tracing costs: the same tiny_cnn Predict load against servers with tracing off, at
`--trace-rate 0.001` and at `--trace-rate 1`, both exporting to a local OTLP receiver.

    taskset -c 1 python -m benchmarks.tracing_overhead [--seconds 3] [--rounds 3] [--concurrency 1,32]

The servers are pinned to --server-cpu (default core 0); run the client on another core.
The receiver is a separate process (opentelemetry-proto's TraceService, counting the spans it
is sent), so decoding exports does not take the client's interpreter. Each round runs every
configuration at every concurrency for --seconds; the table shows medians over the rounds
and each configuration's req/s relative to tracing off.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import tempfile
from concurrent import futures
from pathlib import Path

import numpy as np

from benchmarks.closed_loop import Cell, arguments, load, print_table
from benchmarks.server import ROOT, start_server, stop_server
from clients.request import build_request

# Two identical "off" servers: their difference is the noise floor of the run.
MODES = {"tracing off": None, "rate 0.001": "0.001", "rate 1": "1", "tracing off (again)": None}


def _receiver(port_out, stop, counted) -> None:
    """The OTLP sink, in its own process: accepts exports and counts their spans."""
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    class Sink(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):
            spans = sum(len(scope.spans) for rs in request.resource_spans for scope in rs.scope_spans)
            with counted.get_lock():
                counted.value += spans
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Sink(), server)
    port_out.put(server.add_insecure_port("127.0.0.1:0"))
    server.start()
    stop.wait()
    server.stop(0)


async def measure(addresses: dict[str, tuple[str, int]], levels: list[int], seconds: float, rounds: int) -> list:
    request = build_request("tiny_cnn", {"input": np.random.default_rng(0).random((1, 3, 64, 64), np.float32)})
    cells = {(mode, c): Cell() for mode in addresses for c in levels}
    for round_number in range(rounds):
        order = list(addresses.items())
        if round_number % 2:
            order.reverse()  # no configuration always runs first (or right after another's load)
        for concurrency in levels:
            for mode, (address, pid) in order:
                result = await load(address, lambda _: request, concurrency, seconds, server_pid=pid)
                cells[(mode, concurrency)].add(*result)
    return [(mode, c, cells[(mode, c)]) for c in levels for mode in addresses]


def main() -> None:
    parser = arguments(__doc__)
    args = parser.parse_args()
    if any(name.startswith("OTEL_EXPORTER_OTLP") for name in os.environ):
        raise SystemExit("unset the OTEL_EXPORTER_OTLP_* variables: the 'off' server would trace")
    levels = [int(c) for c in args.concurrency.split(",")]
    spawn = multiprocessing.get_context("spawn")
    port_out, stop, counted = spawn.Queue(), spawn.Event(), spawn.Value("q", 0)
    receiver = spawn.Process(target=_receiver, args=(port_out, stop, counted), daemon=True)
    receiver.start()
    endpoint = f"127.0.0.1:{port_out.get(timeout=60)}"
    servers = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            addresses: dict[str, tuple[str, int]] = {}
            for index, (mode, rate) in enumerate(MODES.items()):
                flags = ["--model", "tiny_cnn"]
                if rate is not None:
                    flags += ["--otel-endpoint", endpoint, "--trace-rate", rate]
                process, port = start_server(
                    ROOT / "model_repository", Path(tmp) / f"{index}.port", cpu=args.server_cpu, extra=flags
                )
                servers.append(process)
                addresses[mode] = (f"127.0.0.1:{port}", process.pid)
            rows = asyncio.run(measure(addresses, levels, args.seconds, args.rounds))
    finally:
        for process in servers:
            stop_server(process)  # flushes the exporters' queues
        stop.set()
        receiver.join(10)
    baseline = {c: cell.medians()[0] for mode, c, cell in rows if mode == "tracing off"}
    print_table(rows, baseline)
    print(f"spans received by the OTLP sink: {counted.value}")


if __name__ == "__main__":
    main()
