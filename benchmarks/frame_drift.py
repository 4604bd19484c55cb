"""What frame statistics for drift cost a video stream: monitor CPU per sampled frame, and stream fps.

    python -m benchmarks.frame_drift [--rate 0.1] [--seconds 6] [--rounds 2]

First the monitor thread's CPU per sampled 640x480 frame, no server (frame statistics,
folding into the windows, rescoring when due). Then one StreamVideo stream of JPEG frames
of moving text, as fast as flow control allows, on the text detector served by
`switchyard serve` (a separate process) from two repositories: the model as shipped
("off"), and the same with `drift: {sample_rate: RATE, baseline_requests: 20}` (a
reference from the first 20 sampled requests and frames, then every sample scored).
Rounds alternate off/on, so the load of a shared machine falls on both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.server import start_server, stop_server
from benchmarks.video_streams import make_repository, run
from service.drift.frames import frame_statistics
from service.drift.monitor import VersionDrift
from service.drift.profile import Profile
from service.repository.config import DriftConfig
from tests.fixtures.vision.scenes import text_scene


def monitor_cpu(count: int = 300) -> float:
    """Seconds of CPU per sampled frame on the monitor's thread."""
    frames = [text_scene(shift=(i % 200, i % 120))[0] for i in range(20)]
    reference = Profile()
    for frame in frames:
        reference.add_frame(frame_statistics(frame))
    tracker = VersionDrift("text_detection", 1, DriftConfig(), reference)
    started = time.process_time()
    for i in range(count):
        tracker.update_frame(frame_statistics(frames[i % len(frames)]))
        if tracker.due:
            tracker.rescore()
    return (time.process_time() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=0.1, help="drift sample_rate of the 'on' repository")
    parser.add_argument("--seconds", type=float, default=6.0, help="clip length at 25 fps per round")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"monitor thread: {monitor_cpu() * 1e3:.2f} ms CPU per sampled 640x480 frame", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        servers = {}
        try:
            for kind in ("off", "on"):
                repository = make_repository(Path(tmp) / kind, batching=False)
                if kind == "on":
                    config = repository / "text_detection" / "config.yaml"
                    drift = f"drift: {{sample_rate: {args.rate}, baseline_requests: 20}}\n"
                    config.write_text(config.read_text() + drift)
                servers[kind] = start_server(repository, Path(tmp) / f"port-{kind}")
            fps: dict[str, list[float]] = {"off": [], "on": []}
            for _ in range(args.rounds):
                for kind, (_, port) in servers.items():
                    (stats,) = asyncio.run(run(f"127.0.0.1:{port}", 1, "jpeg", "max", 25.0, args.seconds))
                    fps[kind].append(stats["fps"])
                    print(f"{kind}: {stats['fps']:.1f} fps", flush=True)
        finally:
            for process, _ in servers.values():
                stop_server(process)
    off, on = np.median(fps["off"]), np.median(fps["on"])
    print(f"median fps: off {off:.1f}, sample_rate {args.rate}: {on:.1f} ({on / off:.2f}x)")


if __name__ == "__main__":
    main()
