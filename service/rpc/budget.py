"""What requests in flight may hold, server-wide, and where their tensors are decoded.

Every inference request takes a `Lease` on the one `InflightBudget` and reserves on it the
bytes its tensors hold once checked (protos.codec.Checked.nbytes: the contents as received
plus the arrays made from them), before any array exists. A reservation that would take the
server past `max_inflight_bytes` fails at once with RESOURCE_EXHAUSTED naming the budget;
the bytes come back when the lease closes (the reply is built, or the request failed).
Streams take one lease per message.

`RequestIntake.arrays` turns checked tensors into arrays: inline when the element-wise work
is small (the hot path: fixed-size raw tensors are zero-copy views, no work at all), else on
a small pool of decode threads, so a big BYTES or typed tensor never holds the event loop
(a Python-level loop yields the GIL to the loop every switch interval). The pool is not the
runners' executors: decoding must not queue behind inference, and two threads keep the
number of malloc arenas (see docs/security.md, memory) small.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType

import numpy as np

from protos.codec import Checked, to_array
from protos.limits import DEFAULT_LIMITS, LimitExceededError, Limits
from service.rpc.heap import TRIM_AFTER_BYTES, HeapTrimmer

# 1 GiB: a worker holding this much in requests is already far past what a 2-core replica
# can turn around quickly; with the default 64 MiB messages it is 8 of the largest raw
# requests at once (each counts its message and its copy), and it stays well under a
# typical 4-8 GiB pod limit next to the models. Size it to the pod (docs/security.md).
DEFAULT_MAX_INFLIGHT_BYTES = 1 << 30
# Elements converted one by one that are fine on the event loop (~1-3 ms of work).
DEFAULT_INLINE_WORK = 16 * 1024
DECODE_THREADS = 2
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024

MiB = 1 << 20


class InflightBudget:
    """Bytes held by requests in flight. Used on the event loop only (reservations are made
    before a decode thread gets the tensors), so it needs no lock."""

    def __init__(self, limit: int = DEFAULT_MAX_INFLIGHT_BYTES) -> None:
        self.limit = limit
        self._held = 0

    @property
    def held(self) -> int:
        return self._held

    def lease(self) -> Lease:
        return Lease(self)

    def _take(self, nbytes: int) -> None:
        held = self._held
        if held + nbytes > self.limit:
            raise LimitExceededError(_refusal(nbytes, held, self.limit))
        self._held = held + nbytes

    def _give(self, nbytes: int) -> None:
        self._held -= nbytes


def _refusal(nbytes: int, held: int, limit: int) -> str:
    wanted = f"this request's tensors need {nbytes / MiB:.1f} MiB"
    if nbytes > limit:
        return f"{wanted}, more than the server's whole in-flight budget of {limit / MiB:.1f} MiB (max_inflight_bytes)"
    return (
        f"{wanted} and requests in flight hold {held / MiB:.1f} MiB of the server's {limit / MiB:.1f} MiB "
        "in-flight budget (max_inflight_bytes); retry later"
    )


class Lease:
    """One request's share of the budget; closing it (as a context manager) gives everything back.

    `size` is the most the request held or asked for, plus the contents it sent that were
    refused before any reservation (`note`): how large the request was, for `on_close`.
    """

    __slots__ = ("_budget", "_held", "_closed", "_on_close", "size")

    def __init__(self, budget: InflightBudget, on_close: Callable[[Lease], None] | None = None) -> None:
        self._budget = budget
        self._on_close = on_close
        self._held = 0
        self._closed = False
        self.size = 0

    @property
    def held(self) -> int:
        return self._held

    def note(self, nbytes: int) -> None:
        """Contents of this size were received (whether or not they will pass their checks)."""
        self.size += nbytes

    def reserve(self, nbytes: int) -> None:
        """Take `nbytes` more, or raise RESOURCE_EXHAUSTED naming the budget (nothing taken)."""
        if self._closed:  # a bug: what a closed lease takes would never be given back
            raise RuntimeError("reserve on a closed lease")
        self.size = max(self.size, self._held + nbytes)
        if nbytes:
            self._budget._take(nbytes)
            self._held += nbytes

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        held, self._held = self._held, 0
        if held:
            self._budget._give(held)
        if self._on_close is not None:
            self._on_close(self)

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class RequestIntake:
    """The limits a request's tensors are checked against, the budget, the decode threads, and
    the heap trimmer that runs after large requests (service/rpc/heap.py)."""

    def __init__(
        self,
        limits: Limits = DEFAULT_LIMITS,
        budget: InflightBudget | None = None,
        inline_work: int = DEFAULT_INLINE_WORK,
        trim: Callable[[], object] | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self.limits = limits
        self.max_message_bytes = max_message_bytes  # grpc enforces it; reported with the limits
        self.budget = budget or InflightBudget()
        self.inline_work = inline_work
        # Threads start on first use: small requests never need one.
        self._pool = ThreadPoolExecutor(max_workers=DECODE_THREADS, thread_name_prefix="decode")
        self.trimmer = HeapTrimmer(trim, self._pool)

    def lease(self) -> Lease:
        """One request's lease; closing a large one asks for a heap trim."""
        return Lease(self.budget, self._closed)

    def _closed(self, lease: Lease) -> None:
        if lease.size >= TRIM_AFTER_BYTES:
            self.trimmer.request()

    async def arrays(self, checked: Sequence[Checked], lease: Lease) -> dict[str, np.ndarray]:
        """Reserve what the tensors will hold, then make their arrays (off the loop when that is work)."""
        nbytes = work = 0
        for tensor in checked:
            nbytes += tensor.nbytes
            work += tensor.work
        lease.reserve(nbytes)
        if work <= self.inline_work:
            return arrays_of(checked)
        return await asyncio.get_running_loop().run_in_executor(self._pool, arrays_of, checked)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def arrays_of(checked: Sequence[Checked]) -> dict[str, np.ndarray]:
    return {tensor.name: to_array(tensor) for tensor in checked}
