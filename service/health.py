"""grpc.health.v1 for the server, each gRPC service, and each model as `model/<name>`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from service.repository.repository import ModelEntry, ModelState

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def model_service_name(model: str) -> str:
    return f"model/{model}"


def server_ready(entries: Iterable[ModelEntry], wanted: Iterable[str], strict: bool, empty_ok: bool) -> bool:
    """Whether the server as a whole ("") is ready.

    strict: every model asked for (each entry, and each `wanted` name even if it has no entry)
    is READY; otherwise at least one is. No models at all is ready only when the server was
    started empty on purpose (empty_ok).
    """
    ready = {e.name: e.state is ModelState.READY for e in entries}
    missing = [name for name in wanted if name not in ready]
    if not ready:
        return empty_ok and not missing
    if strict:
        return not missing and all(ready.values())
    return any(ready.values())


class HealthReporter:
    """Keeps the health servicer in step with the server's services and models' states.

    readiness (optional) says whether the server as a whole is ready; "" follows it once
    `serving` was called. Without it "" is SERVING from then on.
    """

    def __init__(self, services: list[str], readiness: Callable[[], bool] | None = None) -> None:
        self.servicer = HealthServicer()
        self._services = services
        self._readiness = readiness
        self._started = False
        self._shutting_down = False
        self._pending: set[asyncio.Task] = set()

    async def serving(self) -> None:
        """The gRPC services are SERVING (until shutdown); the server "" as readiness says."""
        self._started = True
        for name in self._services:
            await self.servicer.set(name, SERVING)
        await self.servicer.set("", self._overall())

    def _overall(self) -> int:
        return SERVING if self._readiness is None or self._readiness() else NOT_SERVING

    def on_model_change(self, entry: ModelEntry) -> None:
        """Repository listener: SERVING only while a version of the model is READY; "" re-evaluated."""
        if self._shutting_down:
            return
        status = SERVING if entry.state is ModelState.READY else NOT_SERVING
        self._set(model_service_name(entry.name), status)
        if self._started:
            self._set("", self._overall())

    def _set(self, name: str, status: int) -> None:
        task = asyncio.get_running_loop().create_task(self.servicer.set(name, status))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def settle(self) -> None:
        """Wait until every queued status change has been applied."""
        while self._pending:
            await asyncio.gather(*list(self._pending))

    async def shutdown(self) -> None:
        """Every name NOT_SERVING from now on (the servicer ignores later sets)."""
        self._shutting_down = True
        await self.settle()
        await self.servicer.enter_graceful_shutdown()


async def start_health_server(
    servicer: HealthServicer, host: str, port: int, reuse_port: bool = False
) -> tuple[grpc.aio.Server, int]:
    """grpc.health.v1 alone on its own plaintext port, answering from the main server's servicer.

    Returns (server, bound port). Probes that cannot speak TLS (Kubernetes' gRPC probes) use it
    while the main port requires TLS; it says nothing but SERVING / NOT_SERVING per name.
    Reflection (of Health alone) lets grpcurl call it without the .proto.
    """
    server = grpc.aio.server(options=[("grpc.so_reuseport", 1 if reuse_port else 0)])
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    health_service = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
    reflection.enable_server_reflection([health_service, reflection.SERVICE_NAME], server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if not bound:
        raise RuntimeError(f"could not bind the health port {host}:{port}")
    await server.start()
    return server, bound
