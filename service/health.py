"""grpc.health.v1 for the server, each gRPC service, and each model as `model/<name>`."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from service.repository.repository import ModelEntry, ModelState

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def model_service_name(model: str) -> str:
    return f"model/{model}"


class HealthReporter:
    """Keeps the health servicer in step with the server's services and models' states."""

    def __init__(self, services: list[str]) -> None:
        self.servicer = HealthServicer()
        self._services = ["", *services]
        self._shutting_down = False
        self._pending: set[asyncio.Task] = set()

    async def serving(self) -> None:
        """The server and its gRPC services are SERVING (until shutdown)."""
        for name in self._services:
            await self.servicer.set(name, SERVING)

    def on_model_change(self, entry: ModelEntry) -> None:
        """Repository listener: SERVING only while a version of the model is READY."""
        if self._shutting_down:
            return
        status = SERVING if entry.state is ModelState.READY else NOT_SERVING
        task = asyncio.get_running_loop().create_task(self.servicer.set(model_service_name(entry.name), status))
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
