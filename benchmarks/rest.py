"""REST vs gRPC on one server: Triton's perf_analyzer (-i http, -i grpc) on the tiny CNN.

    python -m benchmarks.rest [--concurrency 1,32] [--rounds 3] [--interval-ms 2000] [--cpu 0]

Starts `switchyard serve` once with the bundled tiny_cnn on a gRPC and a REST port (pinned to
--cpu when given; pin this command to another core), then runs perf_analyzer against each
protocol at each concurrency, protocols interleaved within a round so a noisy neighbour hits
both alike. perf_analyzer sends binary tensors over HTTP (Triton's binary extension) and raw
contents over gRPC. Prints the median over the rounds of infer/s and client-side p50/p99.
Needs scripts/setup_triton_env.sh (perf_analyzer).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import tempfile
from pathlib import Path

from benchmarks.server import ROOT, start_server, stop_server
from tests.conftest import free_port

PERF_ANALYZER = ROOT / ".cache" / "tools" / "perf_analyzer" / "run"
PROTOCOLS = {"grpc": "grpc", "rest": "http"}


def measure(protocol: str, port: int, concurrency: int, interval_ms: int, scratch: Path) -> tuple[float, float, float]:
    """(infer/s, p50 ms, p99 ms) of one perf_analyzer run."""
    report = scratch / f"{protocol}-{concurrency}.csv"
    command = [
        str(PERF_ANALYZER),
        "-m",
        "tiny_cnn",
        "-i",
        PROTOCOLS[protocol],
        "-u",
        f"127.0.0.1:{port}",
        "--shape",
        "input:1,3,64,64",
        "--concurrency-range",
        f"{concurrency}:{concurrency}",
        "--measurement-interval",
        str(interval_ms),
        # A shared 2-core machine never holds three windows within perf_analyzer's default 10 %.
        "--stability-percentage",
        "500",
        "--max-trials",
        "6",
        "-f",
        str(report),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"perf_analyzer failed ({protocol}, c={concurrency}):\n{done.stdout}\n{done.stderr}")
    with report.open() as rows:
        row = next(csv.DictReader(rows))
    return float(row["Inferences/Second"]), int(row["p50 latency"]) / 1000, int(row["p99 latency"]) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,32")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--interval-ms", type=int, default=2000)
    parser.add_argument("--cpu", default=None, help="pin the server to these cores (taskset -c)")
    args = parser.parse_args()
    if not PERF_ANALYZER.exists():
        raise SystemExit("perf_analyzer is missing: run scripts/setup_triton_env.sh")
    levels = [int(c) for c in args.concurrency.split(",")]
    results: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        http_port = free_port()
        extra = ("--model", "tiny_cnn", "--http-port", str(http_port))
        process, grpc_port = start_server(ROOT / "model_repository", scratch / "port", args.cpu, extra=extra)
        ports = {"grpc": grpc_port, "rest": http_port}
        try:
            for _ in range(args.rounds):
                for concurrency in levels:
                    for protocol in PROTOCOLS:
                        result = measure(protocol, ports[protocol], concurrency, args.interval_ms, scratch)
                        results.setdefault((protocol, concurrency), []).append(result)
        finally:
            stop_server(process)
    print(f"{'protocol':<9}{'c':>4}{'infer/s':>10}{'p50 ms':>9}{'p99 ms':>9}   (medians of {args.rounds} rounds)")
    for concurrency in levels:
        for protocol in PROTOCOLS:
            runs = results[(protocol, concurrency)]
            rate, p50, p99 = (statistics.median(r[i] for r in runs) for i in range(3))
            print(f"{protocol:<9}{concurrency:>4}{rate:>10.0f}{p50:>9.2f}{p99:>9.2f}")


if __name__ == "__main__":
    main()
