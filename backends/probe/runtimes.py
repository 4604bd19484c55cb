"""Which runtimes this Python environment can import, their versions and what they offer.

Runtimes belong to the Python environment, not to the sysroot: a fixture machine is given
its runtimes explicitly (probe(..., runtimes=...)).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from typing import Any

from backends.probe.report import RuntimeInfo

# Distributions that all install the `onnxruntime` module: one per environment.
ORT_FLAVOURS: tuple[str, ...] = (
    "onnxruntime-gpu",
    "onnxruntime-rocm",
    "onnxruntime-migraphx",
    "onnxruntime-openvino",
    "onnxruntime-directml",
    "onnxruntime-qnn",
    "onnxruntime",
)


def _distribution_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _import(module: str) -> tuple[Any | None, str | None]:
    """(module, None), or (None, why) when present but broken; (None, None) when absent."""
    try:
        if importlib.util.find_spec(module.split(".")[0]) is None:
            return None, None
        return importlib.import_module(module), None
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"


def onnxruntime_info() -> RuntimeInfo:
    ort, error = _import("onnxruntime")
    if ort is None:
        return RuntimeInfo("onnxruntime", importable=False, error=error)
    flavour = next((d for d in ORT_FLAVOURS if _distribution_version(d)), None)
    try:
        providers = tuple(ort.get_available_providers())
    except Exception as exc:
        return RuntimeInfo("onnxruntime", True, ort.__version__, flavour, error=str(exc))
    return RuntimeInfo("onnxruntime", True, ort.__version__, flavour, providers=providers)


def openvino_info(core: Any | None = None) -> RuntimeInfo:
    ov, error = _import("openvino")
    if ov is None:
        return RuntimeInfo("openvino", importable=False, error=error)
    try:
        devices = tuple((core or ov.Core()).available_devices)
    except Exception as exc:
        return RuntimeInfo("openvino", True, ov.get_version(), error=f"{type(exc).__name__}: {exc}")
    return RuntimeInfo("openvino", True, ov.get_version(), devices=devices)


def simple_info(name: str, module: str, distribution: str | None = None) -> RuntimeInfo:
    mod, error = _import(module)
    if mod is None:
        return RuntimeInfo(name, importable=False, error=error)
    version = getattr(mod, "__version__", None) or (distribution and _distribution_version(distribution))
    return RuntimeInfo(name, True, str(version) if version else None)


def read_runtimes(ov_core: Any | None = None) -> tuple[RuntimeInfo, ...]:
    return (
        simple_info("tensorrt", "tensorrt"),
        simple_info("cuda-python", "cuda", "cuda-python"),
        onnxruntime_info(),
        openvino_info(ov_core),
        simple_info("nvml", "pynvml", "nvidia-ml-py"),
        simple_info("amdsmi", "amdsmi", "amdsmi"),
    )


def openvino_core() -> Any | None:
    """One openvino.Core for the probe, or None when OpenVINO is absent or broken."""
    ov, _ = _import("openvino")
    if ov is None:
        return None
    try:
        return ov.Core()
    except Exception:
        return None
