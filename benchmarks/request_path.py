"""What one request costs the server, RPC by RPC, and where that CPU goes; two source trees side by side.

Serves the tiny CNN (config `backend: onnxruntime`, nothing else) from `switchyard serve`
pinned to --server-cpu, loads it with benchmarks/rpc_load.py pinned to --client-cpu, and
reports per (tree, RPC, concurrency) the median over --rounds of infer/s, p50 and the
server's CPU µs per request (/proc utime+stime). Trees run in turn within each round, so a
noisy neighbour hits both alike. `--tree before=/tmp/old` adds an older checkout (e.g.
`git archive HEAD~5 | tar -x -C /tmp/old`); its `python -m service` runs from that folder.

With --profile, py-spy samples the server (of each tree) during one run per RPC instead, and the
summary lists the functions with the most samples (self and cumulative), as µs per request.

    python -m benchmarks.request_path --rpcs Predict,PredictStream,ModelInfer,ModelStreamInfer -c 1,32
    python -m benchmarks.request_path --rpcs Predict -c 32 --profile --top 25
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import onnx

from benchmarks.rpc_load import WARMUP_CALLS
from benchmarks.server import ROOT, start_server, stop_server
from benchmarks.serving import cpu_seconds
from tests.fixtures.models import tiny_cnn

_LINE = re.compile(r":\d+\)$")


def load(args, port: int, rpc: str, concurrency: int, seconds: float) -> dict:
    done = subprocess.run(
        ["taskset", "-c", args.client_cpu, sys.executable, "-m", "benchmarks.rpc_load", "tiny_cnn"]
        + ["-t", f"127.0.0.1:{port}", "--rpc", rpc, "-c", str(concurrency), "--seconds", str(seconds)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def measured(args, server: subprocess.Popen, port: int, rpc: str, concurrency: int) -> dict:
    before = cpu_seconds(server.pid)
    row = load(args, port, rpc, concurrency, args.seconds)
    served = row["requests"] + WARMUP_CALLS  # + the load generator's warm-up calls
    row["server_cpu_us"] = (cpu_seconds(server.pid) - before) / served * 1e6
    return row


def profile(args, server: subprocess.Popen, port: int, rpc: str, concurrency: int) -> None:
    """py-spy during one run; prints the top functions as µs of server time per request."""
    out = Path(tempfile.mkdtemp()) / "stacks.txt"
    rate = 997
    spy = subprocess.Popen(
        [str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(server.pid), "-r", str(rate)]
        + ["-d", str(int(args.seconds) + 2), "-f", "raw", "-o", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    row = load(args, port, rpc, concurrency, args.seconds)
    spy.wait(60)
    own: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        # "function (file:line)" -> "function (file)": a function's lines count as one.
        frames = [_LINE.sub(")", f) for f in stack.split(";") if f]
        n = int(count)
        total += n
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            cumulative[frame] += n
    per_request = 1e6 / rate / max(1, row["requests"])
    print(f"\n{rpc} c={concurrency}: {row['infer_per_s']:.0f} infer/s, {total} samples; µs per request")
    for title, counts in (("self", own), ("cumulative", cumulative)):
        print(f"  top by {title}:")
        for frame, n in counts.most_common(args.top):
            print(f"    {n * per_request:8.1f}  {frame[:150]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rpcs", default="Predict,PredictStream,ModelInfer,ModelStreamInfer")
    parser.add_argument("-c", "--concurrency", default="1,32")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tree", action="append", default=[], help="NAME=DIR: another source tree to compare")
    parser.add_argument("--serve-args", default="", help="extra serve flags for every tree, space separated")
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--client-cpu", default="1")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    trees = {"this": ROOT, **{name: Path(d) for name, d in (t.split("=", 1) for t in args.tree)}}
    rpcs, levels = args.rpcs.split(","), [int(c) for c in args.concurrency.split(",")]
    rows: dict[tuple[str, str, int], list[dict]] = {}
    extra = args.serve_args.split()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        (repo / "tiny_cnn" / "1").mkdir(parents=True)
        onnx.save(tiny_cnn(), repo / "tiny_cnn" / "1" / "model.onnx")
        (repo / "tiny_cnn" / "config.yaml").write_text("backend: onnxruntime\n")
        for round_ in range(args.rounds if not args.profile else 0):
            for name, tree in trees.items():
                port_file = Path(tmp) / f"port-{name}-{round_}"
                server, port = start_server(repo, port_file, args.server_cpu, extra=extra, cwd=tree)
                try:
                    for rpc in rpcs:
                        for c in levels:
                            rows.setdefault((name, rpc, c), []).append(measured(args, server, port, rpc, c))
                finally:
                    stop_server(server)
        for name, tree in trees.items() if args.profile else ():
            print(f"\n== {name} ({tree})")
            port_file = Path(tmp) / f"port-profile-{name}"
            server, port = start_server(repo, port_file, args.server_cpu, extra=extra, cwd=tree)
            try:
                for rpc in rpcs:
                    for c in levels:
                        profile(args, server, port, rpc, c)
            finally:
                stop_server(server)
    for (name, rpc, c), runs in rows.items():
        median = {k: statistics.median(r[k] for r in runs) for k in ("infer_per_s", "p50_ms", "server_cpu_us")}
        print(
            f"{name:8s} {rpc:17s} c={c:<3d} {median['infer_per_s']:8.0f} infer/s  p50 {median['p50_ms']:6.2f} ms  "
            f"server CPU {median['server_cpu_us']:6.0f} µs/request  (median of {len(runs)})"
        )


if __name__ == "__main__":
    main()
