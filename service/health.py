"""grpc.health.v1 for the server, each gRPC service, and each model as `model/<name>`."""

from __future__ import annotations

import asyncio

from grpc_health.v1 import health_pb2
from grpc_health.v1._async import HealthServicer

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
