"""ModelRunner: one loaded model version behind a DynamicBatcher and an executor.

The batcher hands each batch to the runner's executor (one thread per model instance),
where blocking work runs. Every model goes through the batcher, batching or not, so queue
limits, deadlines, cancellation and priorities hold for all of them; without dynamic
batching a request simply runs alone.

One exception (service/scheduling/inline.py): a CPU model without dynamic batching, in this
process, whose calls are measured to be shorter than the executor hop, runs a request on
the event loop itself when nothing else of the model is queued or running; the batcher's
rules have nothing to decide for such a request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from time import thread_time_ns
from typing import Any

import numpy as np

from backends.base import Backend, ModelSignature
from protos.errors import BackendError, DeadlineExceededError, ErrorCode, ModelUnavailableError, SwitchyardError
from service.observability.stages import record_runner_stages
from service.observability.tracing import TRACING, current_span_context
from service.scheduling.batcher import RUNNING, BatchPolicy, Clock, DynamicBatcher, MonotonicClock, Pending
from service.scheduling.inline import InlineGate
from service.scheduling.isolation import IsolatedBackend
from service.scheduling.stats import RunnerStats
from service.scheduling.validation import validate_inputs, validate_outputs


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
    # Tracing only: the request's span context, and what the executor noted of the batch it rode in
    # (items in the batch, when the backend call began, the span contexts of every request in it).
    trace: Any = None
    batch_trace: tuple[int, float, tuple[Any, ...]] | None = None


RUNNING_BATCH_GRACE_S = 60.0


class BatchOutcome(list):
    """One outcome per request of a batch (outputs dict or exception), plus the batch's timings."""

    batch = 0
    requests = 0
    input_ns = infer_ns = output_ns = 0
    infer_cpu_ns = 0  # the executor thread's CPU time during the backend call
    input_bytes = 0  # what the backend call was given


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
        batching: BatchPolicy | None = None,
        clock: Clock | None = None,
        stats: RunnerStats | None = None,
        executor: ThreadPoolExecutor | None = None,
        input_check: Callable[[Mapping[str, np.ndarray]], None] | None = None,
        device: str = "",
        inline_below_s: float = 0.0,
    ) -> None:
        self.name = name
        self.device = device  # for the infer span's attributes
        self.version = version
        self.backend = backend
        self.signature = signature
        self.max_batch_size = max_batch_size
        self.instances = instances
        self.stats = stats or RunnerStats()
        # A rule of the model's config beyond its signature (e.g. image sides in multiples of 32).
        self._input_check = input_check
        clock = clock or MonotonicClock()
        self._clock = clock
        self._now = clock.now
        self._executor = executor or ThreadPoolExecutor(max_workers=instances, thread_name_prefix=f"run-{name}")
        policy = batching or BatchPolicy()
        # Only a model with a batch dimension combines requests, never beyond its own limit.
        combine = min(policy.max_batch_size, max_batch_size) if policy.max_batch_size else 0
        self.policy = replace(policy, max_batch_size=combine)
        self._combine = bool(combine)
        self.batcher = DynamicBatcher(name, self.policy, self._start, instances=instances, clock=clock)
        # Calls may run on the loop (inline_below_s > 0) only for a model that never batches, runs
        # on this machine's CPU and in this process: a GPU call or an isolated backend's IPC wait
        # holds the calling thread for as long as the device or the child takes.
        inline = inline_below_s > 0 and not self._combine and device in ("", "cpu")
        self.inline_gate = InlineGate(inline_below_s) if inline and not isinstance(backend, IsolatedBackend) else None
        self._in_flight = 0
        self._closing = False
        # Sees each successful request's inputs and outputs (drift monitoring); must not block.
        self.observer: Callable[[Mapping[str, np.ndarray], Mapping[str, np.ndarray]], None] | None = None

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def queue_depth(self) -> int:
        return self.batcher.queue_depth

    def validate(self, request: InferRequest) -> int:
        if request.outputs:
            validate_outputs(self.name, self.signature, request.outputs)
        batch = validate_inputs(self.name, self.signature, request.inputs, self.max_batch_size)
        if self._input_check is not None:
            self._input_check(request.inputs)
        return batch

    async def infer(self, request: InferRequest) -> dict[str, np.ndarray]:
        """Validate, queue, run (maybe batched with others), return this request's own outputs."""
        stats = self.stats
        queued_at = self._now()
        self._in_flight += 1
        try:
            if self._closing:
                raise ModelUnavailableError(f"model '{self.name}' version {self.version} is unloading")
            batch = self.validate(request)
            key = _batch_key(request.inputs) if self._combine else None
            if TRACING.tracer is not None:
                request.trace = current_span_context()
            gate = self.inline_gate
            if (
                gate is not None
                and gate.open  # before summing the input sizes: most models never run inline
                and self.batcher.idle
                and gate.admits(size := _input_bytes(request.inputs))
            ):
                outputs, started, compute_ns = self._run_inline(request, batch, gate, size)
            else:
                outputs, started, compute_ns = await self.batcher.submit(request, batch, key)
        except asyncio.CancelledError:
            stats.record_failure(ErrorCode.CANCELLED.name, int((self._now() - queued_at) * 1e9))
            raise
        except SwitchyardError as exc:
            stats.record_failure(exc.code.name, int((self._now() - queued_at) * 1e9))
            raise
        except BaseException:
            stats.record_failure(ErrorCode.INTERNAL.name, int((self._now() - queued_at) * 1e9))
            raise
        finally:
            self._in_flight -= 1
        done = self._now()
        stats.record_success(batch, int((done - queued_at) * 1e9), int((started - queued_at) * 1e9), compute_ns)
        record_runner_stages(self, request, queued_at, started, compute_ns)
        if self.observer is not None:
            self.observer(request.inputs, outputs)
        return outputs

    def record_rejected(self, error: SwitchyardError) -> None:
        """Count a request for this model that failed before it reached the runner (e.g. its
        tensors did not decode), so statistics and metrics see every failure, as Triton's do."""
        self.stats.record_failure(error.code.name)

    # -- execution (the batcher's start callback; runs the batch on the executor) -----------

    def _start(self, items: list[Pending]) -> asyncio.Future:
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._execute, items)
        future.add_done_callback(self._record_execution)
        return future

    def _record_execution(self, future: asyncio.Future) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        outcome: BatchOutcome = future.result()
        if outcome.requests:
            self.stats.record_execution(
                outcome.batch, outcome.requests, outcome.input_ns, outcome.infer_ns, outcome.output_ns
            )
            if self.inline_gate is not None:
                self.inline_gate.observe(outcome.infer_ns / 1e9, outcome.infer_cpu_ns / 1e9, outcome.input_bytes)

    def _run_inline(
        self, request: InferRequest, batch: int, gate: InlineGate, input_bytes: int
    ) -> tuple[dict, float, int]:
        """One request's backend call on the event loop (the gate is open and the model idle)."""
        now = self._now
        started = now()
        if request.deadline is not None and request.deadline <= started:
            raise DeadlineExceededError(f"model '{self.name}': the request's deadline passed before it was queued")
        if TRACING.tracer is not None:
            request.batch_trace = (batch, started, (request.trace,) if request.trace is not None else ())
        cpu = thread_time_ns()
        try:
            outputs = self.backend.infer(request.inputs)
        except SwitchyardError:
            raise
        except Exception as exc:
            raise BackendError(f"model '{self.name}': {exc}") from None
        compute_ns = int((now() - started) * 1e9)
        gate.observe(compute_ns / 1e9, (thread_time_ns() - cpu) / 1e9, input_bytes)
        self.stats.record_execution(batch, 1, 0, compute_ns, 0)
        self.stats.inline_execution_count += 1
        return select_outputs(outputs, request.outputs), started, compute_ns

    def _execute(self, items: list[Pending]) -> BatchOutcome:
        """On an executor thread: skip what was cancelled or expired, run the rest as one batch, split."""
        now = self._now
        started = now()
        outcome = BatchOutcome([None] * len(items))
        live: list[int] = []
        for i, item in enumerate(items):
            if item.state != RUNNING:  # cancelled after it was taken: not executed
                outcome[i] = asyncio.CancelledError()
            elif item.deadline is not None and started > item.deadline:
                outcome[i] = DeadlineExceededError(
                    f"model '{self.name}': the request's deadline passed while it was queued; it was not run"
                )
            else:
                item.started = started
                live.append(i)
        if not live:
            return outcome
        if len(live) == 1:
            inputs = items[live[0]].request.inputs
        else:
            first = items[live[0]].request.inputs
            inputs = {name: np.concatenate([items[i].request.inputs[name] for i in live]) for name in first}
        gathered = now()
        if TRACING.tracer is not None:
            _note_batch(items, live, gathered)
        cpu = thread_time_ns()
        try:
            outputs = self.backend.infer(inputs)
        except Exception as exc:
            error = exc if isinstance(exc, SwitchyardError) else BackendError(f"model '{self.name}': {exc}")
            for i in live:
                outcome[i] = error
            return outcome
        inferred = now()
        outcome.infer_cpu_ns = thread_time_ns() - cpu
        outcome.input_bytes = _input_bytes(inputs)
        compute_ns = int((inferred - gathered) * 1e9)
        if len(live) == 1:
            item = items[live[0]]
            outcome[live[0]] = (select_outputs(outputs, item.request.outputs), started, compute_ns)
            total = item.batch
        else:
            total = self._split(items, live, outputs, outcome, started, compute_ns)
        outcome.batch, outcome.requests = total, len(live)
        outcome.input_ns = int((gathered - started) * 1e9)
        outcome.infer_ns = compute_ns
        outcome.output_ns = int((now() - inferred) * 1e9)
        return outcome

    def _split(self, items, live, outputs, outcome, started, compute_ns) -> int:
        total = sum(items[i].batch for i in live)
        bad = [name for name, array in outputs.items() if array.ndim == 0 or array.shape[0] != total]
        if bad:
            error = BackendError(
                f"model '{self.name}': output '{bad[0]}' does not have the batch dimension "
                f"({total}) first, so a batch cannot be split; turn dynamic_batching off for this model"
            )
            for i in live:
                outcome[i] = error
            return total
        offset = 0
        for i in live:
            item = items[i]
            end = offset + item.batch
            selected = select_outputs(outputs, item.request.outputs)
            outcome[i] = ({name: array[offset:end] for name, array in selected.items()}, started, compute_ns)
            offset = end
        return total

    async def close(self, timeout: float | None = None) -> None:
        """Refuse new work, let queued and running requests finish (up to timeout), fail the rest, unload."""
        self._closing = True
        await self.batcher.drain(timeout)
        self.batcher.fail_queued(
            ModelUnavailableError(f"model '{self.name}' version {self.version} was unloaded before the request ran")
        )
        # A running batch cannot be stopped: let it finish (bounded) before the backend goes.
        await self.batcher.drain(RUNNING_BATCH_GRACE_S)
        self._executor.shutdown(wait=False, cancel_futures=True)
        await asyncio.to_thread(self.backend.unload)


def _note_batch(items: list[Pending], live: list[int], gathered: float) -> None:
    """Tell each request of a batch its size, its start and its companions (for the infer span's links)."""
    total = sum(items[i].batch for i in live)
    traces = tuple(items[i].request.trace for i in live if items[i].request.trace is not None)
    for i in live:
        items[i].request.batch_trace = (total, gathered, traces)


def _batch_key(inputs: Mapping[str, np.ndarray]) -> tuple:
    """Requests combine when their inputs agree on names, dtypes and every dim but the first."""
    return tuple((name, array.dtype.str, array.shape[1:]) for name, array in sorted(inputs.items()))


def select_outputs(outputs: Mapping[str, np.ndarray], requested: tuple[str, ...]) -> dict[str, np.ndarray]:
    if not requested:
        return dict(outputs)
    return {name: outputs[name] for name in requested}


def _input_bytes(inputs: dict) -> int:
    return sum(array.nbytes for array in inputs.values())
