"""The one table naming backend implementations; each is imported only when chosen."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from backends.base import Backend
from protos.errors import BackendNotInstalledError


@dataclass(frozen=True)
class BackendEntry:
    name: str
    target: str  # "module:Class"
    runtime_module: str  # the Python module whose presence makes the backend installable
    formats: tuple[str, ...]  # artifact file names it reads, in preference order


BACKENDS: dict[str, BackendEntry] = {
    "onnxruntime": BackendEntry(
        "onnxruntime",
        "backends.onnxruntime_backend:OnnxRuntimeBackend",
        "onnxruntime",
        ("model.onnx",),
    ),
    "openvino": BackendEntry(
        "openvino",
        "backends.openvino_backend:OpenVinoBackend",
        "openvino",
        ("model.xml", "model.onnx", "model.tflite"),
    ),
    # Imported only on hosts that chose it: a CPU-only install never imports tensorrt.
    "tensorrt": BackendEntry(
        "tensorrt",
        "backends.tensorrt.backend:TensorRTBackend",
        "tensorrt",
        ("model.plan", "model.engine", "model.onnx"),
    ),
}


def is_installed(name: str) -> bool:
    entry = BACKENDS.get(name)
    return entry is not None and importlib.util.find_spec(entry.runtime_module) is not None


def installed_backends() -> list[str]:
    return [name for name in BACKENDS if is_installed(name)]


def create_backend(name: str) -> Backend:
    """Import and instantiate the named backend; BackendNotInstalledError if its runtime is absent."""
    entry = BACKENDS.get(name)
    if entry is None:
        raise BackendNotInstalledError(f"unknown backend {name!r}: expected one of {sorted(BACKENDS)}")
    if not is_installed(name):
        raise BackendNotInstalledError(
            f"backend {name!r} needs the Python module {entry.runtime_module!r}, which is not installed"
        )
    module_name, _, class_name = entry.target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls()
