"""The one place both protocols get a model's answer: from the cache, or from the runner.

Called after a request is validated and decoded and before the runner's queue, so a hit
never reaches the batcher or the backend; only successful results are stored.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable

import numpy as np

from service.cache.codec import decode_outputs, encode_outputs
from service.cache.key import model_digest, request_key
from service.cache.tiered import ResponseCache
from service.repository.entries import ModelVersion
from service.repository.repository import ModelRepository
from service.scheduling.runner import InferRequest, ModelRunner

Outputs = dict[str, np.ndarray]


class Answers:
    def __init__(self, repository: ModelRepository, cache: ResponseCache | None = None) -> None:
        self._repository = repository
        self.cache = cache
        # Per loaded runner (a reload makes a new one): the digest of its artifact and config.
        self._digests: weakref.WeakKeyDictionary[ModelRunner, bytes] = weakref.WeakKeyDictionary()

    async def infer(self, version: ModelVersion, request: InferRequest) -> Outputs:
        return await self.answer(version, request, "tensors", lambda: version.ready_runner.infer(request))

    async def answer(
        self, version: ModelVersion, request: InferRequest, kind: str, compute: Callable[[], Awaitable[Outputs]]
    ) -> Outputs:
        """kind: which path computes the answer; compute: that path, run on a miss."""
        while version.successor is not None:
            version = version.successor
        settings = version.config.response_cache if version.config is not None else None
        if self.cache is None or settings is None or not settings.enabled:
            return await compute()
        runner = version.ready_runner
        started = time.perf_counter_ns()
        digest = await self._digest(version, runner)
        key = request_key(
            version.name, version.version, digest, kind, request.inputs, request.outputs, request.parameters
        )
        value = await self.cache.get(version.name, key, settings.ttl_seconds)
        if value is not None:
            outputs = decode_outputs(value)
            runner.stats.record_cache(True, time.perf_counter_ns() - started)
            return outputs
        runner.stats.record_cache(False, time.perf_counter_ns() - started)
        outputs = await compute()
        self.cache.put(key, encode_outputs(outputs), settings.ttl_seconds)
        return outputs

    async def _digest(self, version: ModelVersion, runner: ModelRunner) -> bytes:
        digest = self._digests.get(runner)
        if digest is None:
            folder = self._repository.entry(version.name).path / str(version.version)
            config = version.config.model_dump_json().encode() if version.config is not None else b""
            digest = await asyncio.to_thread(model_digest, folder, config)
            self._digests[runner] = digest
        return digest
