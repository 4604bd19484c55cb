"""Whether a model's backend call may run on the event loop itself instead of the executor.

Handing a request to the runner's executor thread and back costs ≈0.15–0.4 ms of one core
(a thread wake-up, two GIL hand-overs, the loop's self-pipe wake-up; docs/benchmarks.md),
more than a tiny model's whole backend call. For such a model the hop is the request's
biggest cost, so the runner calls the backend on the loop when the call is known to be short
and nothing else of the model is queued or running. A call that blocks the loop delays every
other request of the server by its length, so "known to be short" is a p95 under a
threshold (`--inline-compute-us`, 500 µs by default): about what one unary gRPC call costs
the server's core anyway, so a request waiting behind an inline call waits no longer than
behind one more request in the loop's queue. (200 µs, the hop's own cost, would leave even
the tiny test CNN on the executor on the 2-core machines here: its calls take 110 µs at p50
but 250–470 µs at p95 there.)

The p95 is a running estimate, updated by every call (inline or on the executor) in O(1):
a multiplicative stochastic-approximation quantile tracker (a call above the estimate moves
it up by STEP, one below moves it down by STEP × 5/95, so it settles where 5 % of calls are
above it). It starts from the first WARMUP_CALLS calls, which run on the executor (config
warmup requests count). One call far above the threshold (JUMP × threshold) takes the model
off the loop at once rather than after many slow calls; it comes back once its calls are
short again (≈1,000 short calls to decay from 10× the threshold).

A model with dynamic shapes is only as fast as its inputs are small: one request far larger
than any seen would block the loop for as long as it takes. So a request runs inline only
if its inputs are no larger (in bytes) than the largest call already measured under the
threshold; anything bigger goes to the executor, and is measured there.

A call during which the calling thread ran for less than half its wall time says little
about the model: the thread was preempted (a busy machine), waited for the GIL, or waited
for the runtime's own threads. Such a call is left out unless it took JUMP × threshold or
more, so a model that is slow is always seen, while a fast one on a busy core is judged by
the calls that actually ran (on a machine with a load average of 10 on 2 cores, half of a
90 µs model's calls took 250–500 µs of wall time).
"""

from __future__ import annotations

DEFAULT_INLINE_COMPUTE_US = 500.0
WARMUP_CALLS = 8
QUANTILE = 0.95
STEP = 0.05
JUMP = 10.0
_UP = 1.0 + STEP
_DOWN = 1.0 - STEP * (1.0 - QUANTILE) / QUANTILE


class InlineGate:
    """A running p95 of one runner's backend calls; `open` while it is under `threshold_s`."""

    __slots__ = ("threshold_s", "p95", "open", "fast_bytes", "_warmup")

    def __init__(self, threshold_s: float) -> None:
        self.threshold_s = threshold_s
        self.p95 = 0.0
        self.open = False  # closed until the warm-up calls have been seen
        self.fast_bytes = 0  # the largest input of a call measured under the threshold
        self._warmup: list[float] | None = []

    def admits(self, input_bytes: int) -> bool:
        """Whether a request with inputs of this size may run on the loop now."""
        return self.open and input_bytes <= self.fast_bytes

    def observe(self, seconds: float, cpu_seconds: float, input_bytes: int = 0) -> None:
        """One backend call for one request: its wall time, the calling thread's CPU time in it,
        and the size of its inputs."""
        if seconds < self.threshold_s and input_bytes > self.fast_bytes:
            self.fast_bytes = input_bytes
        if cpu_seconds < seconds * 0.5 and seconds < self.threshold_s * JUMP:
            return
        warmup = self._warmup
        if warmup is not None:
            warmup.append(seconds)
            if len(warmup) < WARMUP_CALLS:
                return
            # The second-slowest of the first calls: the very first call of a fresh session
            # often pays one-off allocations that later calls do not.
            self.p95 = max(sorted(warmup)[-2], 1e-7)
            self._warmup = None
        elif seconds > self.p95:
            self.p95 = max(self.p95 * _UP, seconds) if seconds > self.threshold_s * JUMP else self.p95 * _UP
        else:
            self.p95 *= _DOWN
        self.open = self.p95 < self.threshold_s
