"""CPU the drift monitor's worker spends per sampled request, for the tiny CNN's tensors.

    taskset -c 1 python -m benchmarks.drift_overhead [--requests 2000]

Feeds one version's tracker ([1,3,64,64] input, two [1,10] outputs) the way the monitor's
thread does (update, and rescore when due) and prints process CPU per sample, plus the
cost of one full rescore (PSI and KS of every window). The server-side cost of a sample
rate r is roughly r times the first number, paid on the monitor's thread.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from service.drift.monitor import VersionDrift
from service.drift.profile import Profile
from service.repository.config import DriftConfig


def tiny_cnn_tensors(rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    outputs = {name: rng.random((1, 10), dtype=np.float32) for name in ("probabilities", "logits")}
    return {"input": rng.random((1, 3, 64, 64), dtype=np.float32)}, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    reference = Profile()
    for _ in range(50):
        reference.add(*tiny_cnn_tensors(rng), max_features=64)
    tracker = VersionDrift("tiny_cnn", 1, DriftConfig(), reference)
    inputs, outputs = tiny_cnn_tensors(rng)
    started = time.process_time()
    for _ in range(args.requests):
        tracker.update(inputs, outputs)
        if tracker.due:
            tracker.rescore()
    per_sample = (time.process_time() - started) / args.requests
    started = time.process_time()
    rounds = 20
    for _ in range(rounds):
        tracker.update(inputs, outputs)
        tracker.rescore()
    per_rescore = (time.process_time() - started) / rounds
    print(f"per sampled request: {per_sample * 1e6:.0f} us CPU (update, rescoring when due)")
    print(f"one rescore of every window: {per_rescore * 1e3:.1f} ms CPU")


if __name__ == "__main__":
    main()
