"""ModelRunner: one loaded model version behind an executor; the only place blocking work runs.

The event loop never calls a backend: every infer() hands the backend call to the
runner's executor (one thread per model instance) and awaits the result.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from backends.base import Backend, ModelSignature
from backends.errors import DeadlineExceededError, ModelUnavailableError
from service.stats import RunnerStats
from service.validation import validate_inputs, validate_outputs


@dataclass
class InferRequest:
    inputs: dict[str, np.ndarray]
    # Names of outputs to return; empty = all.
    outputs: tuple[str, ...] = ()
    id: str = ""
    priority: int = 0
    # Absolute time (the runner's clock) after which the request is not worth running.
    deadline: float | None = None
    parameters: dict[str, object] = field(default_factory=dict)


class ModelRunner:
    def __init__(
        self,
        name: str,
        version: int,
        backend: Backend,
        signature: ModelSignature,
        *,
        max_batch_size: int = 0,
        instances: int = 1,
        clock: Callable[[], float] = time.monotonic,
        stats: RunnerStats | None = None,
    ) -> None:
        self.name = name
        self.version = version
        self.backend = backend
        self.signature = signature
        self.max_batch_size = max_batch_size
        self.stats = stats or RunnerStats()
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=instances, thread_name_prefix=f"run-{name}")
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def validate(self, request: InferRequest) -> int:
        validate_outputs(self.name, self.signature, request.outputs)
        return validate_inputs(self.name, self.signature, request.inputs, self.max_batch_size)

    async def infer(self, request: InferRequest) -> dict[str, np.ndarray]:
        """Validate, run on the executor, return the requested outputs."""
        if self._closing:
            raise ModelUnavailableError(f"model '{self.name}' version {self.version} is unloading")
        batch = self.validate(request)
        self._in_flight += 1
        self._idle.clear()
        queued_at = self._clock()
        try:
            outputs = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._execute, request, queued_at
            )
        except BaseException:
            self.stats.record_failure()
            raise
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()
        self.stats.record_success(batch=batch, total_ns=int((self._clock() - queued_at) * 1e9))
        return outputs

    def _execute(self, request: InferRequest, queued_at: float) -> dict[str, np.ndarray]:
        started = self._clock()
        if request.deadline is not None and started > request.deadline:
            raise DeadlineExceededError(
                f"model '{self.name}': the request's deadline passed while it was queued"
            )
        outputs = self.backend.infer(request.inputs)
        done = self._clock()
        self.stats.record_execution(
            batch=1, queue_ns=int((started - queued_at) * 1e9), infer_ns=int((done - started) * 1e9)
        )
        return select_outputs(outputs, request.outputs)

    async def close(self, timeout: float | None = None) -> None:
        """Refuse new work, wait for in-flight requests (up to timeout), then unload."""
        self._closing = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            pass
        self._executor.shutdown(wait=False, cancel_futures=True)
        await asyncio.to_thread(self.backend.unload)


def select_outputs(outputs: Mapping[str, np.ndarray], requested: tuple[str, ...]) -> dict[str, np.ndarray]:
    if not requested:
        return dict(outputs)
    return {name: outputs[name] for name in requested}
