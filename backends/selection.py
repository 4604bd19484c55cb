"""Which backend and device a model runs on: a pure function of (report, artifact, preferences).

    candidates = select_candidates(report, model_dir, prefs)
    viable = [c for c in candidates if c.viable]

The result lists every route of the policy in order, each either viable or carrying the
reason it was skipped, so the decision trail can say why a faster route was not taken.

Default order (docs/hardware.md explains it):
  NVIDIA GPU  tensorrt; onnxruntime TensorRT EP; onnxruntime CUDA EP
  AMD GPU     onnxruntime MIGraphX EP; onnxruntime ROCm EP
  Intel GPU   openvino GPU;  Intel NPU  openvino NPU
  CPU         onnxruntime CPU (lower cold start and latency on small models, exact f32);
              openvino CPU (reads OpenVINO IR and .tflite; exact f32 unless bf16 is asked for);
              with both able to serve and no backend pinned, the faster by measurement
              (selection "auto" -> "fastest", backends/loading.py)
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from backends.base import Device
from backends.options import (
    BackendOptions,
    OnnxRuntimeOptions,
    OpenVinoOptions,
    TensorRTOptions,
    default_options,
)
from backends.probe.report import AcceleratorInfo, HardwareReport
from backends.registry import BACKENDS

Precision = Literal["fp32", "fp16", "bf16", "int8"]

CPU_EP = "CPUExecutionProvider"
TRT_EP = "TensorrtExecutionProvider"
CUDA_EP = "CUDAExecutionProvider"
MIGRAPHX_EP = "MIGraphXExecutionProvider"
ROCM_EP = "ROCMExecutionProvider"

# What each artifact suffix is, and friendly names accepted instead of a path.
FORMAT_OF_SUFFIX = {
    ".onnx": "onnx",
    ".xml": "openvino_ir",
    ".tflite": "tflite",
    ".plan": "tensorrt_plan",
    ".engine": "tensorrt_plan",
}
_FORMAT_ALIASES = {
    "onnx": "model.onnx",
    "openvino": "model.xml",
    "ir": "model.xml",
    "xml": "model.xml",
    "openvino_ir": "model.xml",
    "tflite": "model.tflite",
    "tensorrt": "model.plan",
    "plan": "model.plan",
    "tensorrt_plan": "model.plan",
    "engine": "model.engine",
}


class Preferences(BaseModel):
    """What a model (config.yaml) or the server (CLI flag / SWITCHYARD_*) asks of the selection."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["auto", "tensorrt", "onnxruntime", "openvino"] = "auto"
    device: str = "auto"  # auto, cpu, gpu, gpu:N, npu
    providers: tuple[str, ...] = ()  # onnxruntime execution providers; implies backend onnxruntime
    precision: Precision | None = None  # None keeps each backend's default
    strict: bool = False  # a failed first choice leaves the model UNAVAILABLE
    # auto: fastest where several CPU runtimes could serve and nothing pins one, else first
    selection: Literal["auto", "first", "fastest"] = "auto"
    cache_dir: str | None = None  # engine / compiled-model caches go below it, per backend

    @field_validator("device")
    @classmethod
    def _valid_device(cls, value: str) -> str:
        return str(Device.parse(value))

    def overlay(self, override: Preferences | None) -> Preferences:
        """These (global) preferences with the fields `override` (a model's) set explicitly."""
        if override is None:
            return self
        return self.model_copy(update={k: getattr(override, k) for k in override.model_fields_set})


class SkipReason(enum.Enum):
    BACKEND_NOT_REQUESTED = "backend_not_requested"
    DEVICE_NOT_REQUESTED = "device_not_requested"
    PROVIDERS_NOT_REQUESTED = "providers_not_requested"
    NO_DEVICE = "no_device"
    DEVICE_UNUSABLE = "device_unusable"
    FORMAT_UNSUPPORTED = "format_unsupported"
    RUNTIME_MISSING = "runtime_missing"
    PROVIDER_MISSING = "provider_missing"
    PRECISION_UNSUPPORTED = "precision_unsupported"


@dataclass(frozen=True)
class Candidate:
    """One (backend, device, options) to try, or the reason it is skipped."""

    backend: str
    device: Device
    options: BackendOptions
    artifact_name: str | None = None  # the file in the model directory this backend reads
    skip: SkipReason | None = None
    reason: str = ""

    @property
    def viable(self) -> bool:
        return self.skip is None

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(getattr(self.options, "providers", ()))

    @property
    def label(self) -> str:
        """ "onnxruntime[CUDA]@gpu:0" - also the metric label of the chosen backend/device."""
        short = [p.removesuffix("ExecutionProvider") for p in self.providers if p != CPU_EP]
        if self.providers and not short:
            short = ["CPU"]
        vendor = f"{self.device.vendor}:" if self.device.vendor else ""
        return f"{self.backend}{'[' + ','.join(short) + ']' if short else ''}@{vendor}{self.device}"


@dataclass(frozen=True)
class _Route:
    backend: str
    vendor: str | None  # None: the CPU
    kind: str  # cpu, gpu, npu
    providers: tuple[str, ...] = ()
    precisions: frozenset[str] = frozenset({"fp32"})


DEFAULT_ROUTES: tuple[_Route, ...] = (
    _Route("tensorrt", "nvidia", "gpu", (), frozenset({"fp32", "fp16", "bf16", "int8"})),
    _Route("onnxruntime", "nvidia", "gpu", (TRT_EP, CUDA_EP, CPU_EP), frozenset({"fp32", "fp16", "int8"})),
    _Route("onnxruntime", "nvidia", "gpu", (CUDA_EP, CPU_EP)),
    _Route("onnxruntime", "amd", "gpu", (MIGRAPHX_EP, CPU_EP), frozenset({"fp32", "fp16", "int8"})),
    _Route("onnxruntime", "amd", "gpu", (ROCM_EP, CPU_EP)),
    _Route("openvino", "intel", "gpu", (), frozenset({"fp32", "fp16"})),
    _Route("openvino", "intel", "npu", (), frozenset({"fp16"})),
    _Route("onnxruntime", None, "cpu", (CPU_EP,)),
    _Route("openvino", None, "cpu", (), frozenset({"fp32", "bf16", "fp16"})),
)

_VENDOR_OF_PROVIDER = {TRT_EP: "nvidia", CUDA_EP: "nvidia", MIGRAPHX_EP: "amd", ROCM_EP: "amd"}
_VENDOR_NAME = {"nvidia": "NVIDIA", "amd": "AMD", "intel": "Intel"}
_INSTALL_HINT = {
    "nvidia": "the nvidia extra (onnxruntime-gpu)",
    "amd": "the amd extra (onnxruntime-migraphx or onnxruntime-rocm)",
}


def artifact_files(artifact: Path | str) -> dict[str, list[str]]:
    """Format -> file names present. A directory is listed; a file or a format name stands alone."""
    path = Path(artifact)
    if isinstance(artifact, str) and artifact in _FORMAT_ALIASES:
        path = Path(_FORMAT_ALIASES[artifact])
    names = sorted(p.name for p in path.iterdir()) if path.is_dir() else [path.name]
    files: dict[str, list[str]] = {}
    for name in names:
        fmt = FORMAT_OF_SUFFIX.get(Path(name).suffix.lower())
        if fmt:
            files.setdefault(fmt, []).append(name)
    return files


def _pick_file(backend: str, files: dict[str, list[str]]) -> str | None:
    """The artifact this backend prefers, following the registry's format order."""
    for wanted in BACKENDS[backend].formats:
        present = files.get(FORMAT_OF_SUFFIX[Path(wanted).suffix], [])
        if wanted in present:
            return wanted
        if present:
            return present[0]
    return None


def select_candidates(
    report: HardwareReport,
    artifact: Path | str,
    prefs: Preferences | None = None,
    base_options: dict[str, BackendOptions] | None = None,
) -> list[Candidate]:
    """Every route of the policy, in preference order, viable or with its skip reason.

    artifact: a model version directory, a file, or a format name ("onnx", "openvino", "plan").
    base_options: a model's own per-backend options (threads, ...); the selection only sets
    providers, precision and cache paths on a copy.
    """
    prefs = prefs or Preferences()
    files = artifact_files(artifact)
    routes = DEFAULT_ROUTES
    if prefs.providers:
        vendor = _VENDOR_OF_PROVIDER.get(prefs.providers[0])
        routes = (
            _Route(
                "onnxruntime",
                vendor,
                "gpu" if vendor else "cpu",
                prefs.providers,
                frozenset({"fp32", "fp16", "int8"} if vendor else {"fp32"}),
            ),
            *routes,
        )
    candidates = [_consider(route, report, files, prefs, base_options or {}) for route in routes]
    if prefs.providers:  # the explicit providers replace the policy's onnxruntime routes
        candidates = [candidates[0]] + [
            _skipped(c, SkipReason.PROVIDERS_NOT_REQUESTED, f"providers {', '.join(prefs.providers)} requested")
            if c.viable
            else c
            for c in candidates[1:]
        ]
    return candidates


def _skipped(candidate: Candidate, skip: SkipReason, reason: str) -> Candidate:
    return Candidate(candidate.backend, candidate.device, candidate.options, candidate.artifact_name, skip, reason)


def _consider(
    route: _Route,
    report: HardwareReport,
    files: dict[str, list[str]],
    prefs: Preferences,
    base_options: dict[str, BackendOptions],
) -> Candidate:
    wanted = Device.parse(prefs.device)
    accel, hardware_problem = _find_device(route, report, wanted)
    device = _device_of(route, accel, wanted)
    options = _options_for(route, prefs, base_options.get(route.backend))
    artifact_name = _pick_file(route.backend, files)
    candidate = Candidate(route.backend, device, options, artifact_name)

    if prefs.backend not in ("auto", route.backend):
        return _skipped(candidate, SkipReason.BACKEND_NOT_REQUESTED, f"backend {prefs.backend} requested")
    if wanted.kind != "auto" and wanted.kind != route.kind:
        return _skipped(candidate, SkipReason.DEVICE_NOT_REQUESTED, f"device {wanted} requested")
    if hardware_problem:
        return _skipped(candidate, *hardware_problem)
    if artifact_name is None:
        readable = ", ".join(BACKENDS[route.backend].formats)
        have = ", ".join(n for names in files.values() for n in names) or "no known model file"
        return _skipped(candidate, SkipReason.FORMAT_UNSUPPORTED, f"{route.backend} reads {readable}; found {have}")
    missing = _runtime_problem(route, report)
    if missing:
        return _skipped(candidate, *missing)
    precision_problem = _precision_problem(route, report, accel, prefs.precision)
    if precision_problem:
        return _skipped(candidate, SkipReason.PRECISION_UNSUPPORTED, precision_problem)
    return candidate


def _find_device(
    route: _Route, report: HardwareReport, wanted: Device
) -> tuple[AcceleratorInfo | None, tuple[SkipReason, str] | None]:
    if route.vendor is None:
        return None, None
    found = report.devices(route.kind, route.vendor)
    what = f"{_VENDOR_NAME[route.vendor]} {route.kind.upper()}"
    if not found:
        return None, (SkipReason.NO_DEVICE, f"no {what} found")
    if wanted.index is not None:
        match = [a for a in found if a.index == wanted.index]
        if not match:
            return None, (SkipReason.NO_DEVICE, f"no {what} {wanted.index} ({len(found)} found)")
        found = tuple(match)
    usable = [a for a in found if a.usable]
    if not usable:
        return found[0], (SkipReason.DEVICE_UNUSABLE, f"{what} {found[0].index}: {found[0].note or 'not usable'}")
    return usable[0], None


def _device_of(route: _Route, accel: AcceleratorInfo | None, wanted: Device) -> Device:
    if route.vendor is None:
        return Device("cpu")
    if accel is None:
        return Device(route.kind, wanted.index, route.vendor)
    if route.vendor == "intel":  # OpenVINO's own names: GPU, GPU.1, NPU
        _, _, index = (accel.openvino_name or "").partition(".")
        return Device(route.kind, int(index) if index.isdigit() else None, "intel")
    return Device(route.kind, accel.index, route.vendor)


def _runtime_problem(route: _Route, report: HardwareReport) -> tuple[SkipReason, str] | None:
    runtime = report.runtime(route.backend)
    if runtime is None or not runtime.importable:
        detail = f" ({runtime.error})" if runtime is not None and runtime.error else ""
        return SkipReason.RUNTIME_MISSING, f"{route.backend} is not installed{detail}"
    if route.backend == "tensorrt" and not report.has_runtime("cuda-python"):
        return SkipReason.RUNTIME_MISSING, "tensorrt needs cuda-python for device buffers; not installed"
    if route.backend == "onnxruntime":
        absent = [p for p in route.providers if p not in runtime.providers]
        if absent:
            hint = _INSTALL_HINT.get(route.vendor or "", "")
            return SkipReason.PROVIDER_MISSING, (
                f"{runtime.flavour or 'onnxruntime'} {runtime.version} offers "
                f"{', '.join(p.removesuffix('ExecutionProvider') for p in runtime.providers) or 'nothing'}; "
                f"no {', '.join(absent)}" + (f" (install {hint})" if hint else "")
            )
    if route.backend == "openvino" and route.vendor is not None and runtime.devices:
        # OpenVINO answered with its device list: trust it over the file system.
        if not any(d.split(".")[0] == route.kind.upper() for d in runtime.devices):
            return SkipReason.RUNTIME_MISSING, (
                f"openvino sees {', '.join(runtime.devices)}; no {route.kind.upper()} plugin/driver"
            )
    return None


def _precision_problem(
    route: _Route, report: HardwareReport, accel: AcceleratorInfo | None, precision: str | None
) -> str | None:
    if precision is None:
        return None
    name = route.backend + (f"[{route.providers[0].removesuffix('ExecutionProvider')}]" if route.providers else "")
    if precision not in route.precisions:
        return f"{name} on {route.kind} does not offer {precision} (offers {', '.join(sorted(route.precisions))})"
    if route.backend == "tensorrt" and precision == "bf16" and accel is not None:
        major = int((accel.compute_capability or "0").split(".")[0])
        if major < 8:
            return f"bf16 needs compute capability 8.0+; {accel.name} has {accel.compute_capability or 'unknown'}"
    if route.backend == "openvino" and route.kind == "cpu":
        if precision == "bf16" and not report.cpu.supports_bf16:
            return "bf16 on the CPU needs avx512_bf16 or AMX; this CPU has neither"
        if precision == "fp16" and not report.cpu.supports_fp16:
            return "fp16 on the CPU needs avx512_fp16 or AMX-FP16; this CPU has neither"
    return None


def _options_for(route: _Route, prefs: Preferences, base: BackendOptions | None) -> BackendOptions:
    options = base if base is not None and base.kind == route.backend else default_options(route.backend)
    cache = Path(prefs.cache_dir) if prefs.cache_dir else None
    precision = prefs.precision
    if isinstance(options, TensorRTOptions):
        update: dict[str, object] = {"precision": precision or options.precision}
        if cache and options.engine_cache_dir is None:
            update["engine_cache_dir"] = str(cache / "tensorrt")
        return options.model_copy(update=update)
    if isinstance(options, OpenVinoOptions):
        hints = {"fp32": "f32", "fp16": "f16", "bf16": "bf16"}
        update = {}
        if precision in hints:
            update["precision_hint"] = hints[precision]
        if cache and options.cache_dir is None:
            update["cache_dir"] = str(cache / "openvino")
        return options.model_copy(update=update)
    assert isinstance(options, OnnxRuntimeOptions)
    provider_options = {k: dict(v) for k, v in options.provider_options.items()}
    first = route.providers[0] if route.providers else CPU_EP
    extra: dict[str, str] = {}
    if first == TRT_EP:
        extra = {"trt_fp16_enable": str(precision == "fp16"), "trt_int8_enable": str(precision == "int8")}
        if cache:
            extra |= {
                "trt_engine_cache_enable": "True",
                "trt_engine_cache_path": str(cache / "ort-tensorrt"),
                "trt_timing_cache_enable": "True",
                "trt_timing_cache_path": str(cache / "ort-tensorrt"),
            }
    elif first == MIGRAPHX_EP:
        extra = {
            "migraphx_fp16_enable": str(int(precision == "fp16")),
            "migraphx_int8_enable": str(int(precision == "int8")),
        }
    if extra:
        provider_options[first] = extra | provider_options.get(first, {})
    return options.model_copy(update={"providers": route.providers, "provider_options": provider_options})


def auto_selection(candidates: Sequence[Candidate], strict: bool = False) -> str:
    """What selection "auto" means for these candidates: "fastest" or "first".

    Timing pays off where more than one CPU runtime could serve the model: which one is faster
    depends on the model (ONNX Runtime wins on small CNNs, OpenVINO on the PP-OCR detector).
    A pinned backend or providers leave one viable route; a GPU keeps the policy's order (it
    is ahead of the CPU for a reason); strict means the first choice or nothing.
    """
    viable = [c for c in candidates if c.viable]
    if strict or len(viable) < 2 or any(c.device.kind != "cpu" for c in viable):
        return "first"
    return "fastest"
