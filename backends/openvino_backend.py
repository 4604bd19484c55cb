"""OpenVINO backend: the only module that imports openvino.

A pool of infer requests serves concurrent callers, so requests from several
executor threads run in parallel instead of serialising on one request.
"""

from __future__ import annotations

import queue
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import openvino as ov

from backends.base import Device, ModelSignature, TensorSpec
from backends.options import OpenVinoOptions
from backends.runtime_errors import is_input_shape_problem, runtime_words
from protos.errors import BackendError, BackendLoadError, InvalidInputError

_DATATYPE_OF = {
    "boolean": "BOOL",
    "u8": "UINT8",
    "u16": "UINT16",
    "u32": "UINT32",
    "u64": "UINT64",
    "i8": "INT8",
    "i16": "INT16",
    "i32": "INT32",
    "i64": "INT64",
    "f16": "FP16",
    "f32": "FP32",
    "f64": "FP64",
    "bf16": "BF16",
    "string": "BYTES",
}


def device_name(device: Device) -> str:
    """Our Device -> an OpenVINO device string (CPU, GPU, GPU.1, NPU, AUTO)."""
    base = {"cpu": "CPU", "gpu": "GPU", "npu": "NPU", "auto": "AUTO"}[device.kind]
    return base if device.index is None else f"{base}.{device.index}"


def _spec(port) -> TensorSpec:
    shape = tuple(d.get_length() if d.is_static else -1 for d in port.get_partial_shape())
    kind = port.get_element_type().get_type_name()
    return TensorSpec(port.get_any_name(), _DATATYPE_OF.get(kind, kind), shape)


class OpenVinoBackend:
    name = "openvino"

    def __init__(self, core: ov.Core | None = None) -> None:
        self._core = core or ov.Core()
        self._compiled: ov.CompiledModel | None = None
        self._pool: queue.Queue = queue.Queue()
        self._output_names: tuple[str, ...] = ()

    def load(self, artifact: Path, options: OpenVinoOptions, device: Device) -> ModelSignature:
        target = device_name(device)
        config: dict[str, str] = {"PERFORMANCE_HINT": options.performance_hint, **options.config}
        if options.precision_hint:
            config["INFERENCE_PRECISION_HINT"] = options.precision_hint
        elif target == "CPU":
            # OpenVINO would silently run BF16 on AMX CPUs; without a request, FP32 stays exact.
            config["INFERENCE_PRECISION_HINT"] = "f32"
        if options.num_threads:
            config["INFERENCE_NUM_THREADS"] = str(options.num_threads)
        if options.cache_dir:
            config["CACHE_DIR"] = options.cache_dir
        try:
            model = self._core.read_model(str(artifact))
            compiled = self._core.compile_model(model, target, config)
            size = options.num_requests or int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        except Exception as exc:  # OpenVINO raises RuntimeError with its own text
            raise BackendLoadError(f"openvino could not compile {artifact.name} for {target}: {exc}") from exc
        self._compiled = compiled
        self._pool = queue.Queue()
        for _ in range(max(1, size)):
            self._pool.put(compiled.create_infer_request())
        self._output_names = tuple(o.get_any_name() for o in compiled.outputs)
        return ModelSignature(
            inputs=tuple(_spec(p) for p in compiled.inputs),
            outputs=tuple(_spec(p) for p in compiled.outputs),
            runtime_detail=f"{target} ({', '.join(compiled.get_property('EXECUTION_DEVICES'))})",
            extra={"infer_requests": str(max(1, size))},
        )

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._compiled is None:
            raise BackendError("openvino backend used before load() or after unload()")
        request = self._pool.get()
        try:
            request.infer(dict(inputs))
            # The request's buffers are reused by the next caller: copy out.
            return {name: request.get_output_tensor(i).data.copy() for i, name in enumerate(self._output_names)}
        except Exception as exc:  # OpenVINO raises RuntimeError for everything, shapes included
            if is_input_shape_problem(str(exc)):
                raise InvalidInputError(f"openvino rejected the inputs: {runtime_words(str(exc))}") from exc
            raise BackendError(f"openvino failed: {runtime_words(str(exc))}") from exc
        finally:
            self._pool.put(request)

    def unload(self) -> None:
        self._compiled = None
        self._pool = queue.Queue()
