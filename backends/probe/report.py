"""The hardware report: frozen plain data, JSON-able through to_dict / from_dict."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

# CPU feature flags worth reporting: they decide bf16/int8 speed on the CPU backends.
ISA_FLAGS: tuple[str, ...] = (
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "amx_fp16",
)


@dataclass(frozen=True)
class CpuInfo:
    model: str
    vendor: str
    logical_cpus: int  # online CPUs on the host
    usable_cpus: float  # after affinity and the cgroup quota: what this process may use
    affinity: tuple[int, ...]
    cgroup_quota_cpus: float | None  # quota / period, None when unlimited
    flags: tuple[str, ...]  # the ISA_FLAGS present
    memory_bytes: int | None  # host MemTotal
    cgroup_memory_limit_bytes: int | None  # None when unlimited
    usable_memory_bytes: int | None  # min(host, cgroup limit)

    def has(self, *flags: str) -> bool:
        """True when any of the named flags is present."""
        return any(f in self.flags for f in flags)

    @property
    def supports_bf16(self) -> bool:
        return self.has("avx512_bf16", "amx_bf16")

    @property
    def supports_fp16(self) -> bool:
        return self.has("avx512_fp16", "amx_fp16")


@dataclass(frozen=True)
class AcceleratorInfo:
    """One GPU or NPU as seen by its driver library or the file system."""

    vendor: str  # nvidia, amd, intel
    kind: str  # gpu or npu
    index: int  # per vendor and kind, in driver order
    name: str
    source: str  # nvml, procfs, amdsmi, kfd, drm, openvino, accel, dev
    memory_bytes: int | None = None
    compute_capability: str | None = None  # NVIDIA "8.6"
    gfx_target: str | None = None  # AMD "gfx942"
    driver_version: str | None = None
    cuda_version: str | None = None
    pci_id: str | None = None  # bus location, 0000:07:00.0
    device_id: str | None = None  # PCI device id, 0x20b0
    openvino_name: str | None = None  # GPU.0, NPU
    usable: bool = True  # false when the hardware is seen but the runtime cannot reach it
    note: str = ""


@dataclass(frozen=True)
class RuntimeInfo:
    """A Python runtime module: importable or not, its version and what it offers."""

    name: str  # tensorrt, onnxruntime, openvino, cuda-python, nvml, amdsmi
    importable: bool
    version: str | None = None
    flavour: str | None = None  # the onnxruntime distribution: onnxruntime-gpu, ...
    providers: tuple[str, ...] = ()  # onnxruntime execution providers
    devices: tuple[str, ...] = ()  # openvino devices
    error: str | None = None  # why it failed to import or answer


@dataclass(frozen=True)
class ProbeIssue:
    """A source that was there but broken (a driver library that failed, an unreadable file)."""

    source: str
    message: str


@dataclass(frozen=True)
class HardwareReport:
    cpu: CpuInfo
    accelerators: tuple[AcceleratorInfo, ...] = ()
    runtimes: tuple[RuntimeInfo, ...] = ()
    issues: tuple[ProbeIssue, ...] = ()
    sysroot: str = "/"
    sources: tuple[str, ...] = field(default=())  # what was read, for the reader of the report

    def devices(self, kind: str, vendor: str | None = None) -> tuple[AcceleratorInfo, ...]:
        return tuple(a for a in self.accelerators if a.kind == kind and (vendor is None or a.vendor == vendor))

    def runtime(self, name: str) -> RuntimeInfo | None:
        return next((r for r in self.runtimes if r.name == name), None)

    def has_runtime(self, name: str) -> bool:
        info = self.runtime(name)
        return info is not None and info.importable

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HardwareReport:
        return cls(
            cpu=_build(CpuInfo, data["cpu"]),
            accelerators=tuple(_build(AcceleratorInfo, a) for a in data.get("accelerators", ())),
            runtimes=tuple(_build(RuntimeInfo, r) for r in data.get("runtimes", ())),
            issues=tuple(_build(ProbeIssue, i) for i in data.get("issues", ())),
            sysroot=data.get("sysroot", "/"),
            sources=tuple(data.get("sources", ())),
        )


def _build(cls: type, data: dict[str, Any]) -> Any:
    """A dataclass from a dict, turning JSON lists back into tuples."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names})


@dataclass
class Findings:
    """What one reader found; merged into the report by probe()."""

    accelerators: list[AcceleratorInfo] = field(default_factory=list)
    issues: list[ProbeIssue] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def issue(self, source: str, error: BaseException | str) -> None:
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self.issues.append(ProbeIssue(source, text.strip() or type(error).__name__))

    def call(self, source: str, fn: Any, *args: Any, default: Any = None) -> Any:
        """Run one driver-library call; a failure becomes an issue, never an exception."""
        try:
            return fn(*args)
        except Exception as exc:
            self.issue(source, exc)
            return default
