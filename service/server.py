"""Assemble and run the gRPC server: servicers, reflection, health, graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

import grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry

from protos import __version__
from protos.inference import grpc_service_pb2
from protos.limits import Limits
from protos.switchyard.v1 import predict_pb2
from service.cache.answers import Answers
from service.cache.metrics import CacheCollector
from service.cache.tiered import response_cache
from service.drift.collector import DriftCollector
from service.drift.monitor import DriftMonitor
from service.health import HealthReporter, server_ready, start_health_server
from service.metrics import Metrics
from service.observability.access_log import AccessLog
from service.observability.collector import ObservabilityCollector, ProtocolRequests, UnknownModels
from service.observability.interceptor import ObservabilityInterceptor
from service.observability.stages import StageStats
from service.observability.tracing import TRACING
from service.oip.servicer import OipServicer
from service.oip.shared_memory import SharedMemoryRegistry
from service.predict.hardware import hardware_info
from service.predict.servicer import PredictServicer
from service.repository.loader import ModelLoader
from service.repository.repository import ModelRepository, ModelState
from service.repository.summary import tally
from service.repository.watcher import RepositoryWatcher
from service.rest.assemble import start_rest_server
from service.rest.server import RestServer
from service.rpc.budget import InflightBudget, RequestIntake
from service.rpc.decoding import add_service
from service.rpc.drain import DrainGate
from service.rpc.heap import libc_malloc_trim
from service.security.audit import AuthCollector
from service.security.startup import ServerSecurity, shared_memory_on
from service.settings import ServerSettings
from service.video.session import VideoStreams
from service.video.stats import VideoStats
from service.vision.limits import MediaLimits

log = logging.getLogger(__name__)

PREDICT_SERVICE = predict_pb2.DESCRIPTOR.services_by_name["Predict"]
OIP_SERVICE = grpc_service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]


def channel_options(settings: ServerSettings) -> list[tuple[str, int]]:
    """The gRPC server's channel arguments: message limits, port sharing, keepalive, connection age."""
    options = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        # Only worker processes of one `serve --workers N` share a port on purpose.
        ("grpc.so_reuseport", 1 if settings.reuse_port else 0),
        # Clients' keepalive pings (they find dead peers behind NATs and load balancers) are
        # welcome at sane intervals; grpc's defaults answered a 20 s ping with GOAWAY too_many_pings.
        ("grpc.http2.min_ping_interval_without_data_ms", int(settings.keepalive_min_ping_interval * 1000)),
        ("grpc.http2.max_ping_strikes", settings.keepalive_max_ping_strikes),
        ("grpc.keepalive_permit_without_calls", 1 if settings.keepalive_permit_without_calls else 0),
    ]
    if settings.max_connection_age:
        # Long-lived clients reconnect now and then, so new replicas get their share. The age
        # only stops new calls on the connection (GOAWAY); running ones, streams above all, keep
        # going for the grace, which by default (0) is unbounded: ageing never cuts a working stream.
        options.append(("grpc.max_connection_age_ms", int(settings.max_connection_age * 1000)))
        if settings.max_connection_age_grace:
            options.append(("grpc.max_connection_age_grace_ms", int(settings.max_connection_age_grace * 1000)))
    return options


def intake_of(settings: ServerSettings) -> RequestIntake:
    """The tensor limits and the in-flight byte budget every inference request goes through."""
    limits = Limits(settings.max_tensor_elements, settings.max_tensor_rank, settings.max_bytes_elements)
    return RequestIntake(
        limits,
        InflightBudget(settings.max_inflight_bytes),
        trim=libc_malloc_trim(),
        max_message_bytes=settings.max_message_bytes,
    )


class SwitchyardServer:
    def __init__(
        self,
        settings: ServerSettings,
        repository: ModelRepository | None = None,
        loader: ModelLoader | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.loader = loader or ModelLoader(settings)
        self.repository = repository or ModelRepository(
            settings.model_repository,
            self.loader,
            None if settings.model_control == "explicit" else settings.models,
            drain_seconds=settings.reload_drain_seconds,
            memory_factor=settings.reload_memory_factor,
        )
        self.watcher: RepositoryWatcher | None = None
        # TLS files, auth config and their combinations are checked before anything else starts.
        self.security = ServerSecurity.from_settings(settings)
        # Observability first: it sees (and logs) the calls the auth layer refuses too.
        self._traced = TRACING.start(
            settings.otel_endpoint,
            settings.otel_protocol,
            settings.trace_rate,
            settings.trace_slow_ms,
            __version__,
            timeout_seconds=settings.otel_timeout_seconds,
        )
        # Stage histograms and unknown-model counts: filled by the interceptor's calls, read by /metrics.
        self.stages, self.unknown_models, self.protocol_requests = StageStats(), UnknownModels(), ProtocolRequests()
        self.access_log = AccessLog(settings.trace_slow_ms, settings.access_log)
        observe = ObservabilityInterceptor(self.access_log, self.stages, self.unknown_models, self.protocol_requests)
        self._server = grpc.aio.server(
            options=channel_options(settings), interceptors=[observe, *self.security.interceptors()]
        )
        self.gate = DrainGate()
        self.intake = intake_of(settings)
        limits = MediaLimits(settings.max_image_pixels, settings.max_stream_pending_bytes)
        self.video = VideoStreams(self.repository, VideoStats(), limits)
        password = settings.cache_redis_password.get_secret_value() if settings.cache_redis_password else None
        self.cache = response_cache(
            settings.cache_bytes, settings.cache_redis, password, settings.cache_lookup_timeout_ms
        )
        self.answers = Answers(self.repository, self.cache)
        # OIP system shared memory: the regions clients of this host registered (None: off).
        self.shared_memory = (
            SharedMemoryRegistry(settings.max_shared_memory_regions, settings.max_shared_memory_bytes)
            if shared_memory_on(settings)
            else None
        )
        # Metrics: /metrics on its own port, read at scrape time from the runners' RunnerStats
        # and the video streams' counters.
        self.metrics = Metrics(self.repository, registry, self.video.stats)
        self.metrics.registry.register(
            ObservabilityCollector(self.stages, self.unknown_models, __version__, self.protocol_requests)
        )
        if self.cache is not None:
            self.metrics.registry.register(CacheCollector(self.cache))
        if self.security.authenticator is not None:
            self.metrics.registry.register(AuthCollector(self.security.stats))
        # Drift: models whose config.yaml has `drift:` are sampled into one worker thread (docs/drift.md).
        self.drift = DriftMonitor()
        self.repository.subscribe(self.drift.on_model_change)
        self.metrics.registry.register(DriftCollector(self.drift))
        services = self._register_services(self._hardware)
        self.health = HealthReporter(services, readiness=self._ready)
        self.repository.subscribe(self.health.on_model_change)
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        health_pb2_grpc.add_HealthServicer_to_server(self.health.servicer, self._server)
        # Every service this server answers (the auth layer's groups must cover each of their methods).
        self.service_names = [
            *services,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ]
        reflection.enable_server_reflection(self.service_names, self._server)
        self.port = 0
        self.health_port = 0
        self.http_port = 0
        self.rest: RestServer | None = None
        self._health_server: grpc.aio.Server | None = None
        self._stopped = asyncio.Event()

    def _ready(self) -> bool:
        """Whether health "" is SERVING: every model asked for is READY (--no-strict-readiness: one is)."""
        settings = self.settings
        return server_ready(
            self.repository.entries(),
            settings.models,
            settings.strict_readiness,
            empty_ok=settings.model_control == "explicit",
        )

    def _hardware(self) -> dict:
        # The probe runs once, on first use, not at construction.
        return hardware_info(self.loader.report)

    def _register_services(self, hardware: Callable[[], dict]) -> list[str]:
        """Add every protocol adapter; returns the gRPC service names served.

        add_service, not grpc's generated add_*_to_server: a body that does not decode gets
        INVALID_ARGUMENT (service/rpc/decoding.py); the two inference streams answer it in band.
        """
        predict = self.predict = PredictServicer(
            self.repository, hardware, self.gate, video=self.video, intake=self.intake, answers=self.answers
        )
        oip = self.oip = OipServicer(
            self.repository,
            allow_repository_admin=self.settings.allow_repository_admin,
            gate=self.gate,
            intake=self.intake,
            answers=self.answers,
            shared_memory=self.shared_memory,
        )
        return [
            add_service(self._server, PREDICT_SERVICE, predict, in_band=frozenset({"PredictStream"})),
            add_service(self._server, OIP_SERVICE, oip, in_band=frozenset({"ModelStreamInfer"})),
        ]

    async def start(self) -> int:
        """Bind and start serving; returns the bound port (useful with port 0)."""
        address = f"{self.settings.host}:{self.settings.port}"
        certificates = self.security.certificates
        if certificates is not None:
            self.port = self._server.add_secure_port(address, certificates.grpc_credentials())
        else:
            self.port = self._server.add_insecure_port(address)
        if not self.port:
            raise RuntimeError(f"could not bind {self.settings.host}:{self.settings.port}")
        await self._server.start()
        log.info("serving gRPC%s on %s:%d", " (TLS)" if certificates else "", self.settings.host, self.port)
        log.log(*self.security.exposure(self.settings))
        if self.settings.health_port >= 0:
            # Kubernetes' gRPC probes speak no TLS: health alone, plaintext, same servicer state.
            self._health_server, self.health_port = await start_health_server(
                self.health.servicer, self.settings.host, self.settings.health_port, self.settings.reuse_port
            )
            log.info("serving grpc.health.v1 (plaintext) on %s:%d", self.settings.host, self.health_port)
        if self.settings.http_port >= 0:  # -1 = off
            self.rest = await start_rest_server(self)
            self.http_port = self.rest.port
            tls = " (TLS)" if self.rest.tls else ""
            log.info("serving KServe v2 REST%s on %s:%d", tls, self.settings.host, self.http_port)
        if self.settings.metrics_port >= 0:  # -1 = off
            self.metrics.serve(
                self.settings.host,
                self.settings.metrics_port,
                certificates=certificates if self.settings.metrics_tls else None,
                token_sha256=self.settings.metrics_token_sha256,
            )
        return self.port

    async def load_models(self) -> None:
        """Load the repository; the server reports SERVING once this first load is done."""
        if self.settings.cache_dir:
            self.settings.cache_dir.mkdir(parents=True, exist_ok=True)
        if self.settings.repository_poll_seconds:
            explicit = self.settings.model_control == "explicit"
            self.watcher = RepositoryWatcher(self.repository, self.settings.repository_poll_seconds, not explicit)
            await self.watcher.baseline()  # before loading: a change made meanwhile is not missed
        await self.repository.load_all(self.settings.models if self.settings.model_control == "explicit" else None)
        # Each model logged its own line as it settled; this says how the whole load went.
        entries = self.repository.entries()
        all_ready = bool(entries) and all(e.state is ModelState.READY for e in entries)
        log.log(logging.INFO if all_ready else logging.WARNING, "%s", tally(entries))
        await self.health.settle()
        await self.health.serving()
        if self.watcher is not None:
            self.watcher.start()

    async def stop(self, grace: float | None = None) -> None:
        """Drain: health NOT_SERVING, GOAWAY on every connection (grpc refuses new calls, clients
        reconnect elsewhere), open streams wind down, in-flight calls finish; return as soon as
        nothing is in flight, or when the grace is over (the rest is cancelled)."""
        if self._stopped.is_set():
            return
        grace = self.settings.grace_period if grace is None else grace
        log.info("shutting down (grace %.1fs)", grace)
        await self.health.shutdown()
        if self.watcher is not None:
            await self.watcher.stop()
        self.gate.begin()
        # grpc's stop(grace) closes the listener and sends GOAWAY at once, and returns early
        # when the last call ends.
        stopping = asyncio.ensure_future(self._server.stop(grace))
        # The HTTP port stops listening too; its requests are in the same drain gate.
        rest_stopping = asyncio.ensure_future(self.rest.stop(grace)) if self.rest is not None else None
        if not await self.gate.drain(grace):
            log.warning("grace period over with %d call(s) still running; cancelling them", self.gate.active)
        await stopping
        if rest_stopping is not None:
            await rest_stopping
        if self._health_server is not None:
            await self._health_server.stop(0)
        await self.repository.close(timeout=0)
        self.intake.close()
        if self.shared_memory is not None:
            self.shared_memory.unregister("")
        if self.cache is not None:
            await self.cache.close()
        self.drift.close()
        self.metrics.close()
        if self._traced:
            # Exports what is still queued, bounded by the export timeout; off the loop, which
            # still runs the other shutdown steps' callbacks.
            await asyncio.to_thread(TRACING.close)
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()


async def serve(settings: ServerSettings, on_ready: Callable[[SwitchyardServer], None] | None = None) -> None:
    """Run until SIGTERM/SIGINT, then shut down gracefully."""
    server = SwitchyardServer(settings)
    await server.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(server.stop()))
    await server.load_models()
    if on_ready:
        on_ready(server)
    await server.wait_stopped()
