"""config.yaml: the typed description of one model, validated once when the model loads."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from backends.options import OnnxRuntimeOptions, OpenVinoOptions, TensorRTOptions
from protos.datatypes import DATATYPES
from protos.errors import ErrorCode, SwitchyardError
from service.vision.config import PostprocessConfig, PreprocessConfig


class ConfigError(SwitchyardError):
    code = ErrorCode.FAILED_PRECONDITION


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorConfig(_Strict):
    name: str
    datatype: str
    # -1 marks a dynamic dimension. With max_batch_size > 0 the batch dimension is
    # NOT listed here (as in Triton): the shape is per item.
    shape: list[int]

    @field_validator("datatype")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in DATATYPES:
            raise ValueError(f"unknown datatype {value!r}, expected one of {', '.join(DATATYPES)}")
        return value

    @field_validator("shape")
    @classmethod
    def _dims(cls, value: list[int]) -> list[int]:
        if any(d < -1 or d == 0 for d in value):
            raise ValueError("dimensions are positive integers or -1 (dynamic)")
        return value


class VersionPolicy(_Strict):
    """Which versions serve: the newest `latest` of them, all, or a specific list."""

    latest: int | None = Field(default=None, ge=1)
    all: bool = False
    specific: list[int] | None = None

    def select(self, available: list[int]) -> list[int]:
        ordered = sorted(available)
        if self.specific is not None:
            return [v for v in ordered if v in self.specific]
        if self.all:
            return ordered
        return ordered[-(self.latest or 1) :]


class DynamicBatchingConfig(_Strict):
    max_queue_delay_us: int = Field(default=500, ge=0)
    preferred_batch_sizes: list[int] = Field(default_factory=list)
    max_queue_size: int = Field(default=1024, ge=1)
    # Default per-request timeout while queued (ms); 0 = only the client's deadline.
    timeout_ms: int = Field(default=0, ge=0)
    # A lower-priority request waiting longer than this goes before newer higher-priority ones.
    priority_starvation_ms: int = Field(default=100, ge=0)


class ProcessConfig(_Strict):
    """How a model with `isolation: process` runs its backend processes (docs/reliability.md)."""

    # The first restart after a backend process dies waits this long; each further death
    # without a successful request in between doubles it, up to restart_backoff_max_ms.
    restart_backoff_ms: int = Field(default=100, ge=0)
    restart_backoff_max_ms: int = Field(default=30_000, ge=0)
    # The most shared memory one request's inputs plus outputs may take (per instance).
    shared_memory_mb: int = Field(default=256, ge=1, le=65_536)
    load_timeout_s: float = Field(default=300.0, gt=0)


class DriftConfig(_Strict):
    """Input/output drift and data-quality monitoring (docs/drift.md)."""

    # The share of successful requests whose tensors are looked at (off the request path).
    sample_rate: float = Field(default=0.1, ge=0.0, le=1.0)
    # Values kept per feature in the sliding window the scores compare with the reference.
    window: int = Field(default=10_000, ge=10, le=1_000_000)
    # Without a profile.json: the first N sampled requests become the reference.
    baseline_requests: int = Field(default=0, ge=0)
    # The model is flagged as drifting when any feature's PSI exceeds this.
    psi_alert: float = Field(default=0.2, gt=0.0)
    # Channels (NCHW axis 1) or features (axis 1 of a 2-D tensor) tracked per tensor.
    max_features: int = Field(default=64, ge=1, le=4096)


# How a warmup input is made: random values, zeros, or a .npy file inside the model's folder.
WARMUP_GENERATED = ("random", "zeros")


class WarmupConfig(_Strict):
    """Requests run through the real runner before a version is READY (service/repository/warmup.py)."""

    batch_size: int = Field(default=1, ge=1)
    # Input name -> "random", "zeros" or a path to a .npy file relative to the model's folder;
    # inputs not listed get random values (an image model's input gets a decoded JPEG).
    inputs: dict[str, str] = Field(default_factory=dict)
    count: int = Field(default=1, ge=1, le=1000)

    @field_validator("inputs")
    @classmethod
    def _sources(cls, value: dict[str, str]) -> dict[str, str]:
        for name, source in value.items():
            if source in WARMUP_GENERATED:
                continue
            path = PurePosixPath(source)
            if not source.endswith(".npy"):
                raise ValueError(f"input '{name}': expected random, zeros or a .npy file, got {source!r}")
            if path.is_absolute() or ".." in path.parts or "\\" in source:
                raise ValueError(f"input '{name}': the .npy path must stay inside the model's folder")
        return value


class ResponseCacheConfig(_Strict):
    """Answer repeated requests from the server's response cache (docs/cache.md)."""

    enabled: bool = False
    # None: entries live until evicted (local) or forever (Redis).
    ttl_seconds: float | None = Field(default=None, gt=0)


class PrecisionGateConfig(_Strict):
    """How close a reduced-precision model's outputs must stay to FP32's to serve (docs/precision.md)."""

    min_cosine: float = Field(default=0.99, ge=-1.0, le=1.0)
    max_abs_error: float | None = Field(default=None, ge=0.0)
    min_top1_agreement: float | None = Field(default=None, ge=0.0, le=1.0)
    # db_text detectors: share of post-processed boxes that FP32 and the reduced model both find
    # (F1 at IoU 0.5); unset, such a model is gated on boxes at 0.9 and on cosine only if set.
    min_box_agreement: float | None = Field(default=None, ge=0.0, le=1.0)


class ModelConfig(_Strict):
    # Optional; when given it must match the model's folder name.
    name: str | None = None
    backend: Literal["auto", "onnxruntime", "openvino", "tensorrt"] = "auto"
    # auto, cpu, gpu, gpu:N, npu
    device: str = "auto"
    # true: a failed first choice leaves the model UNAVAILABLE (no fallback)
    strict: bool = False
    # int8/auto: calibrated from calibration/ and gated against FP32 (docs/precision.md)
    precision: Literal["fp32", "fp16", "bf16", "int8", "auto"] | None = None
    precision_gate: PrecisionGateConfig = PrecisionGateConfig()
    # first: the first candidate that loads; fastest: time every viable one, keep the fastest;
    # auto (the default): fastest among CPU runtimes when nothing pins one, else first.
    selection: Literal["auto", "first", "fastest"] = "auto"
    version_policy: VersionPolicy = VersionPolicy()
    # > 0: the first dimension of every input and output is the batch dimension.
    max_batch_size: int = Field(default=0, ge=0)
    dynamic_batching: DynamicBatchingConfig | None = None
    instances: int = Field(default=1, ge=1, le=64)
    # process: the backend runs in child processes (one per instance), so a runtime crash
    # fails that model's running requests and restarts it instead of ending the server.
    isolation: Literal["inline", "process"] = "inline"
    process: ProcessConfig = ProcessConfig()
    inputs: list[TensorConfig] | None = None
    outputs: list[TensorConfig] | None = None
    onnxruntime: OnnxRuntimeOptions = OnnxRuntimeOptions()
    openvino: OpenVinoOptions = OpenVinoOptions()
    tensorrt: TensorRTOptions = TensorRTOptions()
    # Free-form facts about the model (license, source, sha256), shown in GetModel.
    labels: dict[str, str] = Field(default_factory=dict)
    # Image/video models: decoded frame -> input tensor, outputs -> results (docs/vision.md).
    preprocess: PreprocessConfig | None = None
    postprocess: PostprocessConfig | None = None
    # Run before a version is READY, once per listed batch size (README "Model repository").
    warmup: list[WarmupConfig] = Field(default_factory=list)
    # swap: a reload loads and warms the new version(s) beside the serving ones, then switches;
    # replace: unloads first (a model too big for two copies; it is down while it reloads).
    reload: Literal["swap", "replace"] = "swap"
    # Drift and data-quality monitoring against <version>/profile.json or a baseline from traffic.
    drift: DriftConfig | None = None
    response_cache: ResponseCacheConfig = ResponseCacheConfig()


def load_model_config(path: Path, shown: str | None = None) -> ModelConfig:
    """Read and validate a config.yaml; errors name the file and the field.

    shown: how errors name the file (the repository passes "<model>/config.yaml": clients
    read these errors, and they never show a server path).
    """
    where = shown or str(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        config = ModelConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"field '{'.'.join(str(p) for p in err['loc'])}': {err['msg']}" for err in exc.errors())
        raise ConfigError(f"{where}: {problems}") from exc
    if config.name is not None and config.name != path.parent.name:
        raise ConfigError(
            f"{where}: field 'name': '{config.name}' does not match the model's folder '{path.parent.name}'"
        )
    return config
