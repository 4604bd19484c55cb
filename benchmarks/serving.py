"""Serving benchmark matrix for docs/benchmarks.md: batching off/on x concurrency, vs in-process.

Starts ONE `switchyard serve` pinned to --server-cpu with a temporary repository holding
the tiny CNN and a ~3 ms CNN under several scheduling configs (one model name each), then
runs `switchyard bench` pinned to --client-cpu for every (model, concurrency), reads the
server's CPU time per request from /proc, and runs the in-process ONNX Runtime reference
on the server's core with the same inputs. Every run is bounded (--seconds each).

    python -m benchmarks.serving --seconds 3 --out bench-results.json
    python -m benchmarks.serving --seconds 4 --rounds 3 --models tiny_plain,medium_b500 --concurrency 1,32
    python -m benchmarks.serving --seconds 4 --rounds 5 --models tiny_plain --concurrency 1,32 --modes unary,stream
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from benchmarks.server import ROOT, start_server, stop_server
from tests.fixtures.models import tiny_cnn

CONFIGS = {
    # name suffix -> config.yaml scheduling lines
    "plain": "max_batch_size: 32\n",
    "b0": "max_batch_size: 32\ndynamic_batching: {max_queue_delay_us: 0}\n",
    "b500": "max_batch_size: 32\ndynamic_batching: {max_queue_delay_us: 500}\n",
    "b2000": "max_batch_size: 32\ndynamic_batching: {max_queue_delay_us: 2000}\n",
}


def medium_cnn(classes: int = 10) -> onnx.ModelProto:
    """[N,3,64,64] -> 3 convs (32, 64, 64 channels) -> pool -> fc: ~3 ms per item on one core here."""
    rng = np.random.default_rng(5)
    inits, nodes, last, channels = [], [], "input", 3
    for i, out in enumerate((32, 64, 64)):
        inits += [
            numpy_helper.from_array(rng.normal(0, 0.1, (out, channels, 3, 3)).astype(np.float32), f"w{i}"),
            numpy_helper.from_array(np.zeros(out, np.float32), f"b{i}"),
        ]
        nodes += [
            helper.make_node("Conv", [last, f"w{i}", f"b{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", [f"c{i}"], [f"r{i}"]),
        ]
        last, channels = f"r{i}", out
    inits += [
        numpy_helper.from_array(rng.normal(0, 0.3, (channels, classes)).astype(np.float32), "fc"),
        numpy_helper.from_array(np.array([-1, channels], np.int64), "flat"),
    ]
    nodes += [
        helper.make_node("GlobalAveragePool", [last], ["p"]),
        helper.make_node("Reshape", ["p", "flat"], ["f"]),
        helper.make_node("MatMul", ["f", "fc"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "medium_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 64, 64])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", classes])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def build_repository(root: Path) -> dict[str, Path]:
    artifacts = {}
    for base, model in (("tiny", tiny_cnn()), ("medium", medium_cnn())):
        for suffix, lines in CONFIGS.items():
            folder = root / f"{base}_{suffix}" / "1"
            folder.mkdir(parents=True)
            onnx.save(model, folder / "model.onnx")
            (folder.parent / "config.yaml").write_text("backend: onnxruntime\n" + lines)
            artifacts[base] = folder / "model.onnx"
    return artifacts


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench(args, model: str, concurrency: int, mode: str, port: int, server_pid: int, out: Path) -> dict:
    before = cpu_seconds(server_pid)
    subprocess.run(
        [
            "taskset",
            "-c",
            args.client_cpu,
            sys.executable,
            "-m",
            "service",
            "bench",
            model,
            "--target",
            f"127.0.0.1:{port}",
            "-c",
            str(concurrency),
            "--seconds",
            str(args.seconds),
            "--mode",
            mode,
            "--json-out",
            str(out),
        ],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    row = json.loads(out.read_text())["results"][0]
    served = row["requests"] + row["errors"] + 51  # + the check call and the warm-up
    row["server_cpu_us_per_request"] = round((cpu_seconds(server_pid) - before) / served * 1e6, 1)
    row["model"] = model if mode == "unary" else f"{model} ({mode})"
    return row


def inprocess(args, artifact: Path, batch: int) -> dict:
    code = (
        "import json,sys; from pathlib import Path; import numpy as np;"
        "from service.cli.bench_inproc import inprocess_throughput;"
        f"x={{'input': np.random.default_rng(0).standard_normal(({batch},3,64,64)).astype('float32')}};"
        f"print(json.dumps(inprocess_throughput(Path({str(artifact)!r}), x, seconds={args.seconds}, threads=1)))"
    )
    done = subprocess.run(
        ["taskset", "-c", args.server_cpu, sys.executable, "-c", code],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=1, help="runs per cell; the summary shows their medians")
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--client-cpu", default="1")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--modes", default="unary", help="unary and/or stream (PredictStream), comma separated")
    parser.add_argument("--models", default=",".join(f"{b}_{s}" for b in ("tiny", "medium") for s in CONFIGS))
    parser.add_argument("--serve-args", default="", help="extra serve flags, space separated")
    parser.add_argument("--out", type=Path, default=Path("bench-results.json"))
    args = parser.parse_args()
    rows = []
    models = args.models.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        artifacts = build_repository(repo)
        for _ in range(args.rounds):
            for base, artifact in artifacts.items():
                if not any(m.startswith(base) for m in models):
                    continue
                for batch in (1, 8):
                    row = inprocess(args, artifact, batch)
                    row["model"] = f"{base} in-process (batch {batch})"
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        server, port = start_server(repo, Path(tmp) / "port", cpu=args.server_cpu, extra=args.serve_args.split())
        try:
            for _ in range(args.rounds):
                for model in models:
                    for mode in args.modes.split(","):
                        for concurrency in (int(c) for c in args.concurrency.split(",")):
                            row = bench(args, model, concurrency, mode, port, server.pid, Path(tmp) / "one.json")
                            rows.append(row)
                            print(json.dumps(row), flush=True)
        finally:
            stop_server(server)
    args.out.write_text(json.dumps(rows, indent=2))
    print(f"wrote {args.out}")
    print_medians(rows)


def print_medians(rows: list[dict]) -> None:
    """One line per (model, concurrency): the medians of its runs."""
    cells: dict[tuple[str, int], list[dict]] = {}
    for row in rows:
        cells.setdefault((row["model"], row["concurrency"]), []).append(row)
    print("| model / config | concurrency | infer/s | p50 ms | p99 ms | server CPU µs/request | runs |")
    print("|---|---|---|---|---|---|---|")
    for (model, concurrency), runs in cells.items():

        def median(key: str, runs: list[dict] = runs) -> str:
            values = [r[key] for r in runs if key in r]
            return f"{statistics.median(values):,.2f}" if values else "—"

        print(
            f"| {model} | {concurrency} | {median('infer_per_s')} | {median('p50_ms')} | {median('p99_ms')} "
            f"| {median('server_cpu_us_per_request')} | {len(runs)} |"
        )


if __name__ == "__main__":
    main()
