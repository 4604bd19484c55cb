"""The server process under Linux's SCHED_BATCH policy, so grpc's helper threads never preempt the event loop.

Under the default policy (SCHED_OTHER) a thread that wakes up preempts the one running on
its core. grpc.aio wakes its completion-queue poller thread and its event-engine threads
several times per call, and on a busy core each wake-up preempted the event loop in the
middle of a request: about seven preemptions per unary call at 32 concurrent calls on one
core (docs/benchmarks.md). SCHED_BATCH keeps CPU shares and nice levels as they are and
only drops that wake-up preemption: the loop runs until it waits, then the helpers hand
over everything that arrived meanwhile in one go.

Threads take the policy of the thread that creates them, so it is set on every thread that
exists when the server starts (before grpc or a runtime starts its own) and later threads
inherit it. Lowering the policy needs no privilege; elsewhere than Linux there is nothing
to set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

CpuScheduling = Literal["batch", "normal"]

_TASKS = Path("/proc/self/task")


def apply_cpu_scheduling(policy: CpuScheduling) -> str:
    """Put this process's threads under `policy`; returns what was done, for the start-up log."""
    if policy == "normal":
        return "normal (SCHED_OTHER)"
    batch = getattr(os, "SCHED_BATCH", None)
    if batch is None:
        return "normal: this system has no SCHED_BATCH"
    threads = _threads()
    refused = []
    for thread in threads:
        try:
            os.sched_setscheduler(thread, batch, os.sched_param(0))
        except ProcessLookupError:
            continue  # ended meanwhile
        except OSError as exc:
            refused.append(f"{thread}: {exc.strerror}")
    if refused:
        return f"batch (SCHED_BATCH), refused for threads {', '.join(refused)}"
    return "batch (SCHED_BATCH)"


def _threads() -> list[int]:
    """Every thread id of this process (0, the calling thread, where /proc is not mounted)."""
    try:
        return [int(name) for name in os.listdir(_TASKS)]
    except OSError:
        return [0]
