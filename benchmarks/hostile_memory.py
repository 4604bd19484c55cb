"""What hostile tensor requests cost a real server process: its RSS before, at the peak, right
after, and once it has settled; and how long a health check waits meanwhile.

Two attacks: a 35-byte Predict whose BYTES tensor declares 2^27 elements (sent `--small`
times in a row), and `--requests` concurrent Predicts of `--mib` MiB of raw FP32 that are
4 bytes short of their shape (so every one is refused on its length). Environment variables
reach the server, so allocator settings can be compared:

    python -m benchmarks.hostile_memory --requests 16 --mib 63
    MALLOC_ARENA_MAX=2 python -m benchmarks.hostile_memory --requests 16 --mib 63
"""

from __future__ import annotations

import argparse
import concurrent.futures
import tempfile
import threading
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from onnx import TensorProto

from benchmarks.server import start_server, stop_server
from protos.switchyard.v1 import predict_pb2 as pb
from tests.conftest import write_model
from tests.fixtures.memory import rss_mib
from tests.fixtures.models import add_model, identity_model

MiB = 1 << 20


def hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise KeyError("VmHWM")


def settled_mib(pid: int, floor: float, seconds: float = 5.0) -> tuple[float, float]:
    """(RSS, seconds it took) once RSS is within 64 MiB of `floor`, or after `seconds`."""
    start = time.monotonic()
    while rss_mib(pid) > floor + 64 and time.monotonic() - start < seconds:
        time.sleep(0.05)
    return rss_mib(pid), time.monotonic() - start


def health_while(channel: grpc.Channel, work) -> float:
    """Run work() while checking health in a loop; the longest check, in seconds."""
    stub, longest, done = health_pb2_grpc.HealthStub(channel), [0.0], threading.Event()

    def probe() -> None:
        while not done.is_set():
            t0 = time.perf_counter()
            stub.Check(health_pb2.HealthCheckRequest(), timeout=60)
            longest[0] = max(longest[0], time.perf_counter() - t0)

    thread = threading.Thread(target=probe)
    thread.start()
    try:
        work()
    finally:
        done.set()
        thread.join()
    return longest[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--mib", type=int, default=63)
    parser.add_argument("--small", type=int, default=6)
    args = parser.parse_args()
    limit = (args.mib + 8) * MiB
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repository"
        write_model(repo, "add", add_model(), "backend: onnxruntime\n")
        write_model(repo, "strings", identity_model(TensorProto.STRING, "strings"), "backend: onnxruntime\n")
        process, port = start_server(repo, Path(tmp) / "port", extra=["--max-message-bytes", str(limit)])
        options = [("grpc.max_send_message_length", limit), ("grpc.max_receive_message_length", limit)]
        channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=options)
        call = channel.unary_unary("/switchyard.v1.Predict/Predict")
        try:
            pid, start = process.pid, rss_mib(process.pid)
            tiny = pb.Tensor(name="x", datatype="BYTES", shape=[1, 1 << 27], raw_contents=b"\x01\0\0\0a")
            body = pb.PredictRequest(model="strings", inputs=[tiny]).SerializeToString()
            codes: list[str] = []

            def small() -> None:
                for _ in range(args.small):
                    try:
                        call(body, timeout=60)
                    except grpc.RpcError as error:
                        codes.append(error.code().name)

            waited = health_while(channel, small)
            print(f"{args.small} x {len(body)}-byte BYTES request declaring 2^27 elements: {sorted(set(codes))}")
            now, peak = rss_mib(pid), hwm_mib(pid)
            print(f"  RSS {start:.0f} -> {now:.0f} MiB, peak {peak:.0f} MiB, longest health {waited:.3f} s")

            raw = bytes(args.mib * MiB)
            big = pb.Tensor(name="a", datatype="FP32", shape=[1, len(raw) // 4 + 1], raw_contents=raw)
            body = pb.PredictRequest(model="add", inputs=[big]).SerializeToString()
            before = rss_mib(pid)
            codes.clear()

            def one(_: int) -> None:
                try:
                    call(body, timeout=120)
                except grpc.RpcError as error:
                    codes.append(error.code().name)

            def many() -> None:
                with concurrent.futures.ThreadPoolExecutor(args.requests) as pool:
                    list(pool.map(one, range(args.requests)))

            waited = health_while(channel, many)
            after = rss_mib(pid)
            settled, took = settled_mib(pid, before)
            print(f"{args.requests} concurrent {args.mib} MiB requests, 4 bytes short: {sorted(set(codes))}")
            print(
                f"  RSS {before:.0f} -> {after:.0f} MiB right after, {settled:.0f} MiB {took:.1f} s later; "
                f"peak {hwm_mib(pid):.0f} MiB; longest health {waited:.3f} s"
            )
        finally:
            channel.close()
            stop_server(process)


if __name__ == "__main__":
    main()
