"""inference.GRPCInferenceService (the Open Inference Protocol, Triton's form): a thin adapter.

Same repository and runners as switchyard.v1.Predict: decode (service/oip/messages.py,
protos.codec), runner.infer, encode. Methods raise; the decorators of service/rpc/errors.py
map what escapes to a status. RPCs Switchyard does not implement answer UNIMPLEMENTED and are left out of
`extensions`; the repository RPCs answer PERMISSION_DENIED unless the server runs with
--allow-repository-admin (who may call them is the auth layer's: service/security/). The system
shared memory RPCs work when the server was given a SharedMemoryRegistry (--shared-memory).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

from protos.errors import ErrorCode, ModelNotFoundError, ModelUnavailableError, SwitchyardError
from protos.inference import grpc_service_pb2 as pb
from protos.inference import grpc_service_pb2_grpc
from service import __version__
from service.cache.answers import Answers
from service.observability.trace_settings import trace_setting
from service.observability.tracing import TRACING
from service.oip.config import model_config, model_metadata, model_statistics, repository_index
from service.oip.messages import (
    decode_request_within,
    encode_response,
    output_places,
    parameter_values,
    unimplemented,
)
from service.oip.shared_memory import SharedMemoryRegistry, shared_memory_off
from service.repository.names import check_model_name, check_version
from service.repository.repository import ModelRepository, ModelState
from service.rpc.budget import RequestIntake
from service.rpc.deadline import deadline_of
from service.rpc.decoding import Undecodable, decoded
from service.rpc.drain import DrainGate
from service.rpc.errors import in_band_error, stream_errors, unary_errors
from service.rpc.streams import concurrent_replies

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
BASE_EXTENSIONS = ("binary_tensor_data", "model_configuration", "statistics")
UNLOAD_DRAIN_SECONDS = 30.0


def _not_implemented(feature: str):
    @unary_errors
    async def handler(self, request, context):
        raise unimplemented(f"{feature} is not implemented by Switchyard")

    handler.__doc__ = f"{feature}: UNIMPLEMENTED."
    return handler


class OipServicer(grpc_service_pb2_grpc.GRPCInferenceServiceServicer):
    def __init__(
        self,
        repository: ModelRepository,
        *,
        allow_repository_admin: bool = False,
        clock: Callable[[], float] = time.monotonic,
        server_ready: Callable[[], bool] | None = None,
        gate: DrainGate | None = None,
        intake: RequestIntake | None = None,
        answers: Answers | None = None,
        shared_memory: SharedMemoryRegistry | None = None,
    ) -> None:
        self._repository = repository
        self._regions = shared_memory  # None: system shared memory is off
        self._answers = answers or Answers(repository)
        self._intake = intake or RequestIntake()
        # Shared with the other servicers: graceful shutdown refuses new work with UNAVAILABLE.
        self._gate = gate or DrainGate()
        self._admin = allow_repository_admin
        self._clock = clock
        self._server_ready = server_ready or self._no_model_loading

    @property
    def extensions(self) -> list[str]:
        return [
            *BASE_EXTENSIONS,
            *(("model_repository",) if self._admin else ()),
            *(("system_shared_memory",) if self._regions is not None else ()),
        ]

    def _no_model_loading(self) -> bool:
        return not self._gate.draining and all(
            v.state is not ModelState.LOADING for e in self._repository.entries() for v in e.versions.values()
        )

    # Health and metadata -------------------------------------------------------------

    async def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=self._server_ready())

    async def ServerMetadata(self, request, context):
        return pb.ServerMetadataResponse(name="switchyard", version=__version__, extensions=self.extensions)

    @unary_errors
    async def ModelReady(self, request, context):
        try:
            self._repository.get(request.name, request.version)
        except (ModelNotFoundError, ModelUnavailableError):  # an invalid name or version is INVALID_ARGUMENT
            return pb.ModelReadyResponse(ready=False)
        return pb.ModelReadyResponse(ready=True)

    @unary_errors
    async def ModelMetadata(self, request, context):
        version = self._repository.get(request.name, request.version)
        return model_metadata(self._repository.entry(request.name), version)

    @unary_errors
    async def ModelConfig(self, request, context):
        version = self._repository.get(request.name, request.version)
        return pb.ModelConfigResponse(config=model_config(self._repository.entry(request.name), version))

    @unary_errors
    async def ModelStatistics(self, request, context):
        if request.name:  # empty: every model
            check_model_name(request.name)
        check_version(request.version)
        return model_statistics(self._repository.entries(), request.name, request.version)

    # Inference ---------------------------------------------------------------------

    async def _infer(
        self, request: pb.ModelInferRequest, deadline: float | None, into: pb.ModelInferResponse | None = None
    ) -> pb.ModelInferResponse:
        """`into`: the message to fill (a stream reply's `infer_response`), so outputs are not copied into it."""
        version = self._repository.get(request.model_name, request.model_version)
        regions = self._regions
        with self._intake.lease() as lease:  # the tensors' bytes count against the budget until the reply
            try:
                places = output_places(request, regions)
                infer_request, raw = await decode_request_within(
                    request, deadline, self._clock(), self._intake, lease, regions
                )
            except SwitchyardError as exc:
                version.ready_runner.record_rejected(exc)
                raise
            outputs = await self._answers.infer(version, infer_request)
            return encode_response(request, version.version, version.signature, outputs, raw, regions, places, into)

    @unary_errors
    async def ModelInfer(self, request, context):
        with self._gate.track():
            return await self._infer(request, deadline_of(context, self._clock))

    async def _infer_in_band(
        self, item: pb.ModelInferRequest | Undecodable, deadline: float | None
    ) -> pb.ModelStreamInferResponse:
        # An undecodable message's reply names no model or id; its error names its position.
        request = item if isinstance(item, pb.ModelInferRequest) else pb.ModelInferRequest()
        reply = pb.ModelStreamInferResponse()
        try:
            await self._infer(decoded(item), deadline, into=reply.infer_response)
            return reply
        except Exception as exc:
            _, message = in_band_error(exc, f"ModelStreamInfer (model '{request.model_name}', id '{request.id}')")
            return pb.ModelStreamInferResponse(
                error_message=message,
                infer_response=pb.ModelInferResponse(
                    model_name=request.model_name, model_version=request.model_version, id=request.id
                ),
            )

    @stream_errors
    async def ModelStreamInfer(self, request_iterator, context) -> AsyncIterator[pb.ModelStreamInferResponse]:
        """Requests run concurrently (service/rpc/streams.py); replies come in request order.

        A bad request is answered in band (error_message) and the stream goes on, also one whose
        bytes do not decode.
        """
        deadline = deadline_of(context, self._clock)
        with self._gate.track():
            async for reply in concurrent_replies(request_iterator, lambda r: self._infer_in_band(r, deadline)):
                yield reply

    # Repository (admin) --------------------------------------------------------------

    def _require_admin(self, rpc: str) -> None:
        if not self._admin:
            raise SwitchyardError(
                f"{rpc} is an admin operation and is disabled; start the server with "
                "--allow-repository-admin (SWITCHYARD_ALLOW_REPOSITORY_ADMIN=true) to enable it",
                ErrorCode.PERMISSION_DENIED,
            )

    @staticmethod
    def _check_repository(name: str) -> None:
        if name:
            raise ModelNotFoundError(f"unknown repository '{name}'; Switchyard serves one repository (leave it empty)")

    @unary_errors
    async def RepositoryIndex(self, request, context):
        self._require_admin("RepositoryIndex")
        self._check_repository(request.repository_name)
        on_disk = await asyncio.to_thread(self._repository.discover)
        return repository_index(self._repository.entries(), on_disk, request.ready)

    @unary_errors
    async def RepositoryModelLoad(self, request, context):
        self._require_admin("RepositoryModelLoad")
        self._check_repository(request.repository_name)
        unsupported = sorted(k for k in parameter_values(request.parameters) if k != "unload_dependents")
        if unsupported:
            raise unimplemented(f"RepositoryModelLoad parameter '{unsupported[0]}' is not supported")
        entry = await self._repository.load(request.model_name)
        if entry.last_reload_error:  # refused: the versions that served before still do
            raise SwitchyardError(
                f"model '{entry.name}' failed to reload and keeps serving its previous version(s): "
                f"{entry.last_reload_error}",
                ErrorCode.UNAVAILABLE,
            )
        if entry.state is not ModelState.READY:
            reasons = entry.reason or "; ".join(f"version {n}: {v.reason}" for n, v in sorted(entry.versions.items()))
            raise SwitchyardError(f"model '{entry.name}' failed to load: {reasons}", ErrorCode.UNAVAILABLE)
        return pb.RepositoryModelLoadResponse()

    @unary_errors
    async def RepositoryModelUnload(self, request, context):
        self._require_admin("RepositoryModelUnload")
        self._check_repository(request.repository_name)
        await self._repository.unload(request.model_name, timeout=UNLOAD_DRAIN_SECONDS)
        return pb.RepositoryModelUnloadResponse()

    # System shared memory (service/oip/shared_memory.py) ------------------------------

    def _shared_memory(self) -> SharedMemoryRegistry:
        if self._regions is None:
            raise shared_memory_off()
        return self._regions

    @unary_errors
    async def SystemSharedMemoryRegister(self, request, context):
        self._shared_memory().register(request.name, request.key, request.offset, request.byte_size)
        return pb.SystemSharedMemoryRegisterResponse()

    @unary_errors
    async def SystemSharedMemoryUnregister(self, request, context):
        self._shared_memory().unregister(request.name)
        return pb.SystemSharedMemoryUnregisterResponse()

    @unary_errors
    async def SystemSharedMemoryStatus(self, request, context):
        response = pb.SystemSharedMemoryStatusResponse()
        for region in self._shared_memory().status(request.name):
            response.regions[region.name].CopyFrom(
                pb.SystemSharedMemoryStatusResponse.RegionStatus(
                    name=region.name, key=region.key, offset=region.offset, byte_size=region.byte_size
                )
            )
        return response

    # Not implemented ---------------------------------------------------------------

    # No GPU memory is shared with clients; same-host clients use system shared memory.
    CudaSharedMemoryStatus = _not_implemented("CUDA shared memory (use system shared memory)")
    CudaSharedMemoryRegister = _not_implemented("CUDA shared memory (use system shared memory)")
    CudaSharedMemoryUnregister = _not_implemented("CUDA shared memory (use system shared memory)")

    @unary_errors
    async def TraceSetting(self, request, context):
        """The trace settings in force; trace_rate may change (service/observability/trace_settings.py)."""
        return trace_setting(TRACING, request, may_update=self._admin)

    LogSettings = _not_implemented("LogSettings")
