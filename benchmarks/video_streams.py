"""StreamVideo benchmark: per-stream fps and latency at 640x480 on the text detector.

    python -m benchmarks.video_streams                       # 1, 2, 4 streams; jpeg and h264; batching off and on
    python -m benchmarks.video_streams --streams 1 --encodings jpeg --batching off --seconds 10

Starts `switchyard serve` as a separate process (so client work does not share the
server's cores' GIL) on a temporary copy of the text_detection model folder, once with its
config as shipped (batching off) and once with `max_batch_size: 4` + `dynamic_batching`.
Each stream sends pre-encoded frames of moving text either paced at --fps (a live camera;
latency is meaningful) or as fast as flow control allows (--mode max; throughput).
Latency is client-side: frame handed to gRPC -> its reply received.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.server import ROOT, start_server, stop_server
from clients import AsyncVideoClient, Frame
from tests.fixtures.vision.scenes import encode_h264, encode_jpeg, text_scene

BATCHING = "max_batch_size: 4\ndynamic_batching: {max_queue_delay_us: 3000}\n"


def make_repository(folder: Path, batching: bool) -> Path:
    source = ROOT / "model_repository" / "text_detection"
    target = folder / ("batching" if batching else "plain") / "text_detection"
    (target / "1").mkdir(parents=True)
    os.symlink(source / "1" / "model.onnx", target / "1" / "model.onnx")
    config = (source / "config.yaml").read_text()
    (target / "config.yaml").write_text(config + (BATCHING if batching else ""))
    return target.parent


def clip(encoding: str, count: int) -> list[Frame]:
    images = [text_scene(shift=((5 * i) % 200, (3 * i) % 120))[0] for i in range(count)]
    if encoding == "jpeg":
        return [Frame(encode_jpeg(im), index=i, pts=i) for i, im in enumerate(images)]
    return [Frame(d, index=i, pts=p) for i, (d, p) in enumerate(encode_h264(images, gop=50))]


async def one_stream(address: str, frames: list[Frame], encoding: str, mode: str, fps: float) -> dict:
    async def paced():
        start = time.perf_counter()
        for i, frame in enumerate(frames):
            delay = start + i / fps - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            yield frame

    source = paced() if mode == "paced" else frames
    policy = "drop_oldest" if mode == "paced" else "none"  # live: 1 waiting, 1 in the model
    latencies, dropped, started = [], 0, time.perf_counter()
    async with AsyncVideoClient(address) as client:
        async for result in client.stream(source, model="text_detection", encoding=encoding, drop_policy=policy):
            if result.ok:
                latencies.append(result.latency_ms)
            dropped += result.dropped is not None
    elapsed = time.perf_counter() - started
    return dict(
        fps=len(latencies) / elapsed,
        p50=np.percentile(latencies, 50),
        p95=np.percentile(latencies, 95),
        dropped=dropped,
        frames=len(frames),
    )


async def run(address: str, streams: int, encoding: str, mode: str, fps: float, seconds: float) -> list[dict]:
    frames = clip(encoding, int(seconds * fps))
    async with AsyncVideoClient(address) as client:  # warm-up: ORT's first runs at a new shape are slow
        [r async for r in client.stream(frames[:30], model="text_detection", encoding=encoding)]
    return await asyncio.gather(*(one_stream(address, frames, encoding, mode, fps) for _ in range(streams)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", default="1,2,4")
    parser.add_argument("--encodings", default="jpeg,h264")
    parser.add_argument("--batching", default="off,on")
    parser.add_argument("--modes", default="paced,max")
    parser.add_argument("--fps", type=float, default=25.0, help="source frame rate per stream (paced mode)")
    parser.add_argument("--seconds", type=float, default=8.0, help="clip length at --fps")
    args = parser.parse_args()
    print("| batching | encoding | streams | mode | per-stream fps (mean) | p50 ms | p95 ms | dropped |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for batching in args.batching.split(","):
            repository = make_repository(Path(tmp), batching == "on")
            process, port = start_server(repository, Path(tmp) / f"port-{batching}")
            try:
                for encoding in args.encodings.split(","):
                    for streams in (int(s) for s in args.streams.split(",")):
                        for mode in args.modes.split(","):
                            stats = asyncio.run(
                                run(f"127.0.0.1:{port}", streams, encoding, mode, args.fps, args.seconds)
                            )
                            # Unpaced, a frame's latency is mostly its wait behind the backlog
                            # flow control allows, so only throughput is reported there.
                            p50 = f"{np.mean([s['p50'] for s in stats]):.0f}" if mode == "paced" else "-"
                            p95 = f"{max(s['p95'] for s in stats):.0f}" if mode == "paced" else "-"
                            print(
                                f"| {batching} | {encoding} | {streams} | {mode} "
                                f"| {np.mean([s['fps'] for s in stats]):.1f} | {p50} | {p95} "
                                f"| {sum(s['dropped'] for s in stats)}/{sum(s['frames'] for s in stats)} |",
                                flush=True,
                            )
            finally:
                stop_server(process)


if __name__ == "__main__":
    main()
