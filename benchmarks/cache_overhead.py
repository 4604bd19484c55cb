"""What the response cache saves on a hit and costs on a miss: tiny_cnn (tensor Predict) and
the text detector (image Predict: JPEG in, boxes out), with no cache, the local tier, Redis.

    taskset -c 1 python -m benchmarks.cache_overhead [--seconds 3] [--rounds 3] [--concurrency 1,32]

Both models opt in (`response_cache: {enabled: true}`); three servers pinned to --server-cpu
(default core 0): no tier ("no cache": the model computes every request), `--cache-bytes`
("local"), `--cache-redis` to a redis-server started here on a free loopback port ("redis").
"hit": one request repeated, so every request after the first is answered by the tier;
"miss": every request differs (tiny_cnn: one input value; the detector: a JPEG comment
segment, so the picture is the same but the bytes, and so the key, are not), so every
request is hashed, looked up, computed and stored. Rounds interleave every row; the table
shows medians over the rounds and req/s relative to "no cache".
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.closed_loop import Cell, RequestFactory, arguments, load, print_table
from benchmarks.server import ROOT, start_server, stop_server
from clients.request import build_request
from protos.switchyard.v1 import predict_pb2 as pb
from tests.fixtures.redis_server import redis_server
from tests.fixtures.vision.scenes import encode_jpeg, text_scene

OPT_IN = "response_cache: {enabled: true}\n"
MODELS = ("tiny_cnn", "text_detection")
ROWS = (("no cache", "off", "miss"), ("local miss", "local", "miss"), ("local hit", "local", "hit"))
REDIS_ROWS = (("redis miss", "redis", "miss"), ("redis hit", "redis", "hit"))


def repository(folder: Path) -> Path:
    """The default repository's two models, each with the cache turned on."""
    for name in MODELS:
        source = ROOT / "model_repository" / name
        if not (source / "1" / "model.onnx").is_file():
            raise SystemExit(f"{source}/1/model.onnx is missing: run scripts/fetch_models.py")
        (folder / name / "1").mkdir(parents=True)
        os.symlink(source / "1" / "model.onnx", folder / name / "1" / "model.onnx")
        (folder / name / "config.yaml").write_text((source / "config.yaml").read_text() + OPT_IN)
    return folder


def tensor_requests(kind: str) -> RequestFactory:
    values = np.random.default_rng(0).random((1, 3, 64, 64), np.float32)
    fixed = build_request("tiny_cnn", {"input": values})
    if kind == "hit":
        return lambda _: fixed

    numbers = itertools.count(1)  # across rounds too: a number sent before would be a hit

    def unique(_: int) -> pb.PredictRequest:
        changed = values.copy()
        changed.flat[0] = next(numbers)  # exact in float32 far past the requests a run sends
        return build_request("tiny_cnn", {"input": changed})

    return unique


def image_requests(kind: str) -> RequestFactory:
    jpeg = encode_jpeg(text_scene()[0])
    fixed = build_request("text_detection", {"image": np.array([jpeg], dtype=object)})
    if kind == "hit":
        return lambda _: fixed

    numbers = itertools.count(1)

    def unique(_: int) -> pb.PredictRequest:
        comment = f"request {next(numbers)}".encode()
        # A COM segment right after SOI: decoders skip it, the cache key sees other bytes.
        marked = jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + jpeg[2:]
        return build_request("text_detection", {"image": np.array([marked], dtype=object)})

    return unique


REQUESTS = {"tiny_cnn": tensor_requests, "text_detection": image_requests}


async def measure(addresses: dict[str, tuple[str, int]], rows, levels: list[int], seconds: float, rounds: int) -> list:
    cells = {(model, label, c): Cell() for model in MODELS for label, _, _ in rows for c in levels}
    factories = {(model, kind): REQUESTS[model](kind) for model in MODELS for kind in ("hit", "miss")}
    for _ in range(rounds):
        for model in MODELS:
            for concurrency in levels:
                for label, server, kind in rows:
                    address, pid = addresses[server]
                    result = await load(address, factories[(model, kind)], concurrency, seconds, server_pid=pid)
                    cells[(model, label, concurrency)].add(*result)
    return [(model, label, c, cells[(model, label, c)]) for model in MODELS for c in levels for label, _, _ in rows]


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--cache-bytes", type=int, default=256 << 20)
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    rows = ROWS + (REDIS_ROWS if shutil.which("redis-server") else ())
    if len(rows) == len(ROWS):
        print("redis-server is not installed (scripts/get_redis.sh): the Redis rows are left out")
    servers = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        folder = Path(tmp)
        flags = {"off": [], "local": ["--cache-bytes", str(args.cache_bytes)]}
        if len(rows) > len(ROWS):
            flags["redis"] = ["--cache-redis", stack.enter_context(redis_server()).url]
        try:
            addresses: dict[str, tuple[str, int]] = {}
            for name, extra in flags.items():
                process, port = start_server(
                    repository(folder / name), folder / f"{name}.port", cpu=args.server_cpu, extra=extra
                )
                servers.append(process)
                addresses[name] = (f"127.0.0.1:{port}", process.pid)
            results = asyncio.run(measure(addresses, rows, levels, args.seconds, args.rounds))
        finally:
            for process in servers:
                stop_server(process)
    for model in MODELS:
        print(f"\n{model}")
        table = [(label, c, cell) for m, label, c, cell in results if m == model]
        print_table(table, {c: cell.medians()[0] for label, c, cell in table if label == "no cache"})


if __name__ == "__main__":
    main()
