"""Server settings: CLI flags and SWITCHYARD_* environment variables, validated once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PlainValidator, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from protos.limits import DEFAULT_MAX_BYTES_ELEMENTS, DEFAULT_MAX_TENSOR_ELEMENTS, DEFAULT_MAX_TENSOR_RANK
from service.cpu_scheduling import CpuScheduling
from service.oip.shared_memory import DEFAULT_MAX_BYTES, DEFAULT_MAX_REGIONS
from service.rpc.budget import DEFAULT_MAX_INFLIGHT_BYTES
from service.scheduling.inline import DEFAULT_INLINE_COMPUTE_US
from service.vision.limits import DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MAX_STREAM_PENDING_BYTES

DEFAULT_REPOSITORY = Path(__file__).resolve().parent.parent / "model_repository"
MAX_WORKERS = 64


def _worker_count(value: object) -> int | str:
    """--workers: a count of processes, or "auto" (service/workers.py decides at start-up)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, int | str) and not isinstance(text, bool) and str(text).isdigit():
        if 1 <= int(text) <= MAX_WORKERS:
            return int(text)
    raise ValueError(f"expected a number of processes from 1 to {MAX_WORKERS}, or auto")


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHYARD_", extra="forbid")

    host: str = "0.0.0.0"
    port: int = Field(default=8001, ge=0, le=65535)
    metrics_port: int = Field(default=8002, ge=-1, le=65535, description="-1 disables the metrics endpoint")
    # KServe v2 REST (service/rest/, docs/protocols.md): same models, limits, auth and TLS as the gRPC port.
    http_port: int = Field(default=8000, ge=-1, le=65535, description="KServe v2 REST port; -1 = off")
    model_repository: Path = DEFAULT_REPOSITORY
    # Only these models are loaded (empty = every model in the repository).
    models: list[str] = Field(default_factory=list)
    max_message_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    grace_period: float = Field(default=10.0, ge=0, description="seconds in-flight requests get after SIGTERM")
    max_connection_age: float = Field(default=0.0, ge=0, description="seconds; 0 = unlimited")
    max_connection_age_grace: float = Field(
        default=0.0, ge=0, description="seconds an aged connection's calls get to finish; 0 = as long as they run"
    )
    keepalive_min_ping_interval: float = Field(
        default=10.0, ge=0, description="seconds; client pings more often than this count as strikes"
    )
    keepalive_max_ping_strikes: int = Field(
        default=2, ge=0, description="too-frequent pings tolerated before GOAWAY; 0 = never"
    )
    keepalive_permit_without_calls: bool = Field(default=True, description="accept pings on idle connections")
    backend: Literal["auto", "onnxruntime", "openvino", "tensorrt"] = "auto"
    device: str = "auto"
    strict: bool = False
    cache_dir: Path | None = None
    # Read the hardware below this root instead of "/" (tests, and rehearsing another machine's
    # selection); the runtimes are always this environment's.
    probe_sysroot: Path = Path("/")
    allow_repository_admin: bool = False
    # all: load every model (or --model) at start; explicit: load only --model ones (none: the
    # server starts empty on purpose and models come through RepositoryModelLoad).
    model_control: Literal["all", "explicit"] = "all"
    # Health "" is SERVING only when every model asked for is READY; off: when at least one is.
    strict_readiness: bool = True
    # Seconds between looks at the repository for changed models (0 = off); changes are applied
    # by load, warm up, then swap (README "Model repository").
    repository_poll_seconds: float = Field(default=0.0, ge=0)
    # How long requests already running on a version a reload replaced may take before it unloads.
    reload_drain_seconds: float = Field(default=30.0, ge=0)
    # Free memory a swap needs beside the serving version, as a multiple of the new version's
    # files (service/repository/headroom.py); 0 skips the check.
    reload_memory_factor: float = Field(default=2.0, ge=0, le=100)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Server processes sharing the port (SO_REUSEPORT): one Python process is bound by its
    # event loop to about one core; more processes use more cores. Each loads every model.
    # "auto": one per usable core (affinity and cgroup quota), 1 when a GPU would take the models.
    workers: Annotated[int | Literal["auto"], PlainValidator(_worker_count)] = 1
    # Set by the supervisor for its worker processes.
    reuse_port: bool = False
    # Largest picture (width x height) an image or video frame may declare, checked on its
    # header before decoding; and the bytes of decoded frames and unread replies one video
    # stream may hold (service/vision/limits.py says why these defaults; docs/security.md).
    max_image_pixels: int = Field(default=DEFAULT_MAX_IMAGE_PIXELS, ge=1)
    max_stream_pending_bytes: int = Field(default=DEFAULT_MAX_STREAM_PENDING_BYTES, ge=1)
    # What one tensor may declare, checked before anything is allocated for it, and the bytes
    # all requests in flight may hold (protos/limits.py and service/rpc/budget.py say why these
    # defaults; docs/security.md lists what a client sees).
    max_tensor_elements: int = Field(default=DEFAULT_MAX_TENSOR_ELEMENTS, ge=1)
    max_tensor_rank: int = Field(default=DEFAULT_MAX_TENSOR_RANK, ge=1, le=64)
    max_bytes_elements: int = Field(default=DEFAULT_MAX_BYTES_ELEMENTS, ge=1)
    max_inflight_bytes: int = Field(default=DEFAULT_MAX_INFLIGHT_BYTES, ge=1024 * 1024)
    # A CPU model without dynamic batching whose backend call's running p95 is under this runs
    # on the event loop when idle, skipping the executor hop (service/scheduling/inline.py); 0 = off.
    inline_compute_us: float = Field(default=DEFAULT_INLINE_COMPUTE_US, ge=0, le=100_000)
    # Linux scheduling policy of the server's threads (service/cpu_scheduling.py): "batch" lets
    # the event loop run on while grpc's helper threads wake; "normal" is the system default.
    cpu_scheduling: CpuScheduling = "batch"
    # System shared memory of the Open Inference Protocol (service/oip/shared_memory.py): only
    # same-host clients can use it, so "auto" turns it on when bound to loopback; "system" turns
    # it on anywhere (off loopback only with an --auth-config that grants admin); "off" never.
    shared_memory: Literal["auto", "system", "off"] = "auto"
    max_shared_memory_regions: int = Field(default=DEFAULT_MAX_REGIONS, ge=1)
    max_shared_memory_bytes: int = Field(default=DEFAULT_MAX_BYTES, ge=1)
    # Transport security and identities (service/security/, docs/security.md). The files are
    # re-read when they change; the auth config is read once at start-up.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = Field(default=None, description="require client certificates signed by this CA")
    auth_config: Path | None = Field(default=None, description="tokens, client identities and their RPC groups")
    health_port: int = Field(default=-1, ge=-1, le=65535, description="plaintext grpc.health.v1 only; -1 = off")
    metrics_tls: bool = False
    # Checked by service/security/startup.py, whose error never repeats the value (a token pasted here by mistake).
    metrics_token_sha256: str | None = None
    # Observability (service/observability/, docs/observability.md). "auto": json unless stdout is a terminal.
    log_format: Literal["auto", "text", "json"] = "auto"
    access_log: bool = Field(default=False, description="log every request, not only the failed and slow ones")
    otel_endpoint: str | None = Field(default=None, description="OTLP collector HOST:PORT; tracing is off without one")
    otel_protocol: Literal["grpc", "http/protobuf"] = "grpc"
    # An unreachable collector would otherwise hold every export, and the flush at shutdown,
    # for the exporter's default of 10 s (with retries) - past a pod's termination grace.
    otel_timeout_seconds: float = Field(default=3.0, gt=0, le=60, description="bound on one OTLP export")
    trace_rate: float = Field(default=0.01, ge=0, le=1, description="share of traces exported (parent-based)")
    trace_slow_ms: float = Field(
        default=1000.0, ge=0, description="requests slower than this are logged and traced whatever the rate; 0 = off"
    )
    # Response cache (service/cache/, docs/cache.md): only models with `response_cache.enabled` use it.
    cache_bytes: int = Field(default=0, ge=0, description="in-process response cache; 0 = off")
    cache_redis: str | None = Field(default=None, description="redis:// or rediss:// URL of a shared response cache")
    cache_redis_password: SecretStr | None = None
    cache_lookup_timeout_ms: float = Field(default=5.0, gt=0)

    @field_validator("log_level", "backend", "log_format", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        # Words, not identifiers: SWITCHYARD_LOG_LEVEL=DEBUG and --backend OpenVINO mean what they say.
        return value.strip().lower() if isinstance(value, str) else value
