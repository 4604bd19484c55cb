"""The client side of benchmarks/shared_memory.py: tritonclient.grpc, timed in its own process.

Run by .venv-triton's python (tritonclient's protos cannot share a process with the server's):
    .venv-triton/bin/python benchmarks/shared_memory_client.py --url 127.0.0.1:PORT --model M
Prints one JSON line: per mode, every request's latency in ms (the caller takes the medians).

"raw": the input as raw_input_contents, the outputs as raw_output_contents (tritonclient's
default). "shm": the input written into a registered region and the outputs read from
another; both copies are inside the timed request, as they are part of what a caller pays.
Modes alternate in blocks so a noisy neighbour hits both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import tritonclient.grpc as tc
import tritonclient.utils.shared_memory as shm


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--shape", default="1,3,480,640")
    parser.add_argument("--output", required=True, help="output name")
    parser.add_argument("--output-shape", required=True)
    parser.add_argument("--requests", type=int, default=200, help="per mode")
    parser.add_argument("--block", type=int, default=20)
    args = parser.parse_args()
    shape = [int(d) for d in args.shape.split(",")]
    out_shape = [int(d) for d in args.output_shape.split(",")]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    out_bytes = int(np.prod(out_shape)) * 4
    client = tc.InferenceServerClient(args.url)
    client.unregister_system_shared_memory()
    keys = (f"/sy_bench_in_{os.getpid()}", f"/sy_bench_out_{os.getpid()}")
    region_in = shm.create_shared_memory_region("bench_in", keys[0], x.nbytes)
    region_out = shm.create_shared_memory_region("bench_out", keys[1], out_bytes)
    try:
        client.register_system_shared_memory("bench_in", keys[0], x.nbytes)
        client.register_system_shared_memory("bench_out", keys[1], out_bytes)
        raw_input = tc.InferInput("input", shape, "FP32")
        shm_input = tc.InferInput("input", shape, "FP32")
        shm_input.set_shared_memory("bench_in", x.nbytes)
        shm_output = tc.InferRequestedOutput(args.output)
        shm_output.set_shared_memory("bench_out", out_bytes)

        def raw() -> np.ndarray:
            raw_input.set_data_from_numpy(x)
            return client.infer(args.model, [raw_input], outputs=[tc.InferRequestedOutput(args.output)]).as_numpy(
                args.output
            )

        def via_shm() -> np.ndarray:
            shm.set_shared_memory_region(region_in, [x])
            client.infer(args.model, [shm_input], outputs=[shm_output])
            return shm.get_contents_as_numpy(region_out, np.float32, out_shape).copy()

        np.testing.assert_allclose(raw(), via_shm(), rtol=1e-6)  # the same answer both ways, before timing
        times: dict[str, list[float]] = {"raw": [], "shm": []}
        for _ in range(5):  # warm-up
            raw()
            via_shm()
        while len(times["shm"]) < args.requests:
            for mode, call in (("raw", raw), ("shm", via_shm)):
                for _ in range(args.block):
                    started = time.perf_counter()
                    call()
                    times[mode].append((time.perf_counter() - started) * 1000)
        json.dump({"input_bytes": x.nbytes, "output_bytes": out_bytes, "ms": times}, sys.stdout)
        sys.stdout.write("\n")
    finally:
        client.unregister_system_shared_memory()
        shm.destroy_shared_memory_region(region_in)
        shm.destroy_shared_memory_region(region_out)


if __name__ == "__main__":
    main()
