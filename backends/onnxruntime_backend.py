"""ONNX Runtime backend: the only module that imports onnxruntime."""

from __future__ import annotations

import ctypes
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnxruntime as ort

from backends.base import Device, ModelSignature, TensorSpec
from backends.options import OnnxRuntimeOptions
from backends.runtime_errors import is_input_shape_problem, runtime_words
from protos.errors import BackendError, BackendLoadError, InvalidInputError

_DATATYPE_OF = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(bfloat16)": "BF16",
    "tensor(string)": "BYTES",
}
_OPT_LEVEL = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
# Providers that address one GPU among several take its index as device_id.
_INDEXED_PROVIDERS = {
    "CUDAExecutionProvider",
    "TensorrtExecutionProvider",
    "ROCMExecutionProvider",
    "MIGraphXExecutionProvider",
}


def _dims(shape) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) and d >= 0 else -1 for d in shape)


def _spec(node) -> TensorSpec:
    return TensorSpec(node.name, _DATATYPE_OF.get(node.type, node.type), _dims(node.shape))


class OnnxRuntimeBackend:
    name = "onnxruntime"

    def __init__(self) -> None:
        self._session: ort.InferenceSession | None = None
        self._string_inputs: frozenset[str] = frozenset()

    def load(self, artifact: Path, options: OnnxRuntimeOptions, device: Device) -> ModelSignature:
        requested = list(options.providers)
        available = ort.get_available_providers()
        missing = [p for p in requested if p not in available]
        if missing:
            raise BackendLoadError(
                f"onnxruntime {ort.__version__} has no {', '.join(missing)} (available: {', '.join(available)})"
            )
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = options.intra_op_threads
        session_options.inter_op_num_threads = options.inter_op_threads
        session_options.graph_optimization_level = _OPT_LEVEL[options.graph_optimization_level]
        provider_options = []
        for provider in requested:
            opts = dict(options.provider_options.get(provider, {}))
            if provider in _INDEXED_PROVIDERS and device.index is not None:
                opts.setdefault("device_id", str(device.index))
            provider_options.append(opts)
        try:
            session = ort.InferenceSession(
                str(artifact),
                sess_options=session_options,
                providers=requested,
                provider_options=provider_options,
            )
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph/... types
            raise BackendLoadError(f"onnxruntime could not load {artifact.name}: {exc}") from exc
        # ORT silently drops a provider whose libraries fail to load; for us that is a
        # load failure of this candidate, so the selection can fall back (or not, in strict mode).
        active = session.get_providers()
        if requested and requested[0] not in active:
            raise BackendLoadError(
                f"onnxruntime could not start {requested[0]} ({provider_library_error(requested[0])}; "
                f"the session fell back to {', '.join(active)})"
            )
        self._session = session
        self._string_inputs = frozenset(i.name for i in session.get_inputs() if i.type == "tensor(string)")
        return ModelSignature(
            inputs=tuple(_spec(i) for i in session.get_inputs()),
            outputs=tuple(_spec(o) for o in session.get_outputs()),
            runtime_detail=",".join(active),
        )

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        session = self._session
        if session is None:
            raise BackendError("onnxruntime backend used before load() or after unload()")
        feeds = dict(inputs)
        for name in self._string_inputs & feeds.keys():
            try:
                feeds[name] = np.vectorize(_as_str, otypes=[object])(feeds[name])
            except UnicodeDecodeError as exc:
                raise InvalidInputError(
                    f"input '{name}': ONNX string tensors hold UTF-8 text; an element is not valid UTF-8 ({exc.reason})"
                ) from None
        try:
            values = session.run(None, feeds)
        except ort.capi.onnxruntime_pybind11_state.InvalidArgument as exc:
            raise InvalidInputError(f"onnxruntime rejected the inputs: {runtime_words(str(exc))}") from exc
        except Exception as exc:
            # ORT reports a node that cannot take the inputs' shapes as a plain FAIL.
            if is_input_shape_problem(str(exc)):
                raise InvalidInputError(f"onnxruntime rejected the inputs: {runtime_words(str(exc))}") from exc
            raise BackendError(f"onnxruntime failed: {runtime_words(str(exc))}") from exc
        return {o.name: v for o, v in zip(session.get_outputs(), values, strict=True)}

    def unload(self) -> None:
        self._session = None


_PROVIDER_LIBRARY = {
    "CUDAExecutionProvider": "libonnxruntime_providers_cuda.so",
    "TensorrtExecutionProvider": "libonnxruntime_providers_tensorrt.so",
    "ROCMExecutionProvider": "libonnxruntime_providers_rocm.so",
    "MIGraphXExecutionProvider": "libonnxruntime_providers_migraphx.so",
    "OpenVINOExecutionProvider": "libonnxruntime_providers_openvino.so",
}


def provider_library_error(provider: str) -> str:
    """Why an execution provider's shared library does not load, e.g. a missing libcublasLt.

    ONNX Runtime only prints this to stderr; loading the library ourselves gives the
    dynamic loader's own message for the decision trail.
    """
    library = _PROVIDER_LIBRARY.get(provider)
    if library is None:
        return "the provider failed to initialise"
    path = Path(ort.__file__).parent / "capi" / library
    if not path.exists():
        return f"{library} is not part of this onnxruntime build"
    try:
        ctypes.CDLL(str(path))
    except OSError as exc:
        return f"{library}: {exc}"
    return f"{library} loads, but the provider failed to initialise (no usable device?)"


def _as_str(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
