"""One 640x480 video stream on the text detector: the default selection against ONNX Runtime pinned.

    python -m benchmarks.video_runtimes [--rounds 2] [--seconds 6]

Starts two `switchyard serve` processes on copies of the shipped text_detection folder: one
as shipped (selection auto: the faster CPU runtime by measurement, timed into a fresh cache
folder) and one with `backend: onnxruntime` (the CPU default before). Rounds alternate
between them, so load on a shared machine falls on both alike; each round streams JPEG
frames paced at 25 fps (a camera: fps, p50 and p95 latency) and then unpaced (the ceiling).
Prints the runtime each server chose and the median of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.server import start_server, stop_server
from benchmarks.video_streams import make_repository, run
from clients import AsyncSwitchyardClient


async def chosen(address: str) -> str:
    async with AsyncSwitchyardClient(address) as client:
        info = await client.get_model("text_detection")
    step = next(s for s in info.versions[0].selection if s.outcome == "chosen")
    return f"{step.label} ({step.reason})" if step.reason else step.label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=6.0, help="clip length at 25 fps per round")
    args = parser.parse_args()
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        servers = {}
        try:
            for kind in ("auto", "onnxruntime"):
                repository = make_repository(Path(tmp) / kind, batching=False)
                config = repository / "text_detection" / "config.yaml"
                config.write_text(config.read_text().replace("backend: auto", f"backend: {kind}"))
                cache = ("--cache-dir", str(Path(tmp) / f"cache-{kind}"))
                servers[kind] = start_server(repository, Path(tmp) / f"port-{kind}", extra=cache)
                print(f"{kind}: {asyncio.run(chosen(f'127.0.0.1:{servers[kind][1]}'))}", flush=True)
            for _ in range(args.rounds):
                for kind, (_, port) in servers.items():
                    address = f"127.0.0.1:{port}"
                    (paced,) = asyncio.run(run(address, 1, "jpeg", "paced", 25.0, args.seconds))
                    (ceiling,) = asyncio.run(run(address, 1, "jpeg", "max", 25.0, args.seconds))
                    row = results.setdefault(kind, {"paced": [], "p50": [], "p95": [], "max": []})
                    for name, value in (
                        ("paced", paced["fps"]),
                        ("p50", paced["p50"]),
                        ("p95", paced["p95"]),
                        ("max", ceiling["fps"]),
                    ):
                        row[name].append(float(value))
                    print(f"{kind}: paced {paced['fps']:.1f} fps, max {ceiling['fps']:.1f} fps", flush=True)
        finally:
            for process, _ in servers.values():
                stop_server(process)
    print("| config | paced fps | p50 ms | p95 ms | max fps |")
    print("|---|---|---|---|---|")
    for kind, row in results.items():
        medians = [np.median(row[name]) for name in ("paced", "p50", "p95", "max")]
        print(f"| {kind} | {medians[0]:.1f} | {medians[1]:.0f} | {medians[2]:.0f} | {medians[3]:.1f} |")


if __name__ == "__main__":
    main()
