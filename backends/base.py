"""The backend boundary: plain data in, plain data out, no gRPC, no asyncio, no batching."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from backends.options import BackendOptions


@dataclass(frozen=True)
class Device:
    """Where a model runs: kind is cpu, gpu, npu or auto; index picks one of several."""

    kind: str = "cpu"
    index: int | None = None
    vendor: str | None = None  # nvidia, amd, intel or None for the CPU

    def __str__(self) -> str:
        return self.kind if self.index is None else f"{self.kind}:{self.index}"

    @classmethod
    def parse(cls, text: str) -> Device:
        """Parse "cpu", "gpu", "gpu:1", "npu", "auto" (case-insensitive)."""
        kind, _, index = text.strip().lower().partition(":")
        if kind not in ("cpu", "gpu", "npu", "auto"):
            raise ValueError(f"unknown device {text!r}: expected cpu, gpu[:N], npu or auto")
        return cls(kind=kind, index=int(index) if index else None)


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: protocol datatype name and shape, -1 for a dynamic dimension."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def accepts_shape(self, shape: tuple[int, ...]) -> bool:
        return len(shape) == len(self.shape) and all(
            want in (-1, got) for want, got in zip(self.shape, shape, strict=True)
        )


@dataclass(frozen=True)
class ModelSignature:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    # What the runtime really ended up on, e.g. "CPUExecutionProvider" or "CPU".
    runtime_detail: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def input(self, name: str) -> TensorSpec | None:
        return next((t for t in self.inputs if t.name == name), None)

    def output(self, name: str) -> TensorSpec | None:
        return next((t for t in self.outputs if t.name == name), None)


def declared_datatype(signature: ModelSignature | None, output: str) -> str | None:
    """The datatype the model declares for an output, if known."""
    spec = signature.output(output) if signature is not None else None
    return spec.datatype if spec is not None else None


@runtime_checkable
class Backend(Protocol):
    """A loaded model on one runtime and device.

    infer() may be called from several threads at once; an implementation that
    cannot run concurrently serialises internally.
    """

    name: str

    def load(self, artifact: Path, options: BackendOptions, device: Device) -> ModelSignature: ...

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def unload(self) -> None: ...
