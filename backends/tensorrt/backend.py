"""TensorRT backend (native `tensorrt` API, device buffers through cuda-python).

The only module that imports tensorrt, and only inside load(): importing this module on a
machine without TensorRT succeeds, and the registry imports it only when chosen.

load() accepts a prebuilt model.plan / model.engine (tied to the TensorRT version and GPU it
was built on) or a model.onnx, which it builds into an engine with one optimisation profile
(tensorrt_profiles), the requested precision and workspace limit, and caches on disk under
a key of model sha256 + TensorRT version + GPU name + compute capability + precision +
profiles (tensorrt_cache).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from backends.base import Device, ModelSignature, TensorSpec
from backends.options import TensorRTOptions
from backends.tensorrt.cache import EngineCache, engine_cache_key, file_sha256
from backends.tensorrt.calibrator import entropy_calibrator
from backends.tensorrt.dtypes import datatype_of_trt, numpy_of_trt
from backends.tensorrt.int8 import apply_precision, plan_calibration
from backends.tensorrt.profiles import derive_profiles
from protos.errors import BackendError, BackendLoadError, BackendNotInstalledError, InvalidInputError

log = logging.getLogger("switchyard.tensorrt")

# Device buffers of calibration batches live only while an INT8 engine is built.
CALIBRATION_PREFIX = "\0calibration:"


def import_tensorrt() -> Any:
    try:
        import tensorrt
    except ImportError as exc:
        raise BackendNotInstalledError(f"tensorrt is not importable here: {exc}") from exc
    return tensorrt


def import_cudart() -> Any:
    """cuda-python's runtime API: cuda.bindings.runtime (12.6+) or the older cuda.cudart."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError as exc:
            raise BackendNotInstalledError(f"the tensorrt backend needs cuda-python for device buffers: {exc}") from exc
    return cudart


class _Cuda:
    """The few CUDA runtime calls the backend makes, with errors turned into ours."""

    def __init__(self, cudart: Any) -> None:
        self.rt = cudart

    def __call__(self, result: Any) -> Any:
        err, *rest = result if isinstance(result, tuple) else (result,)
        if int(err) != 0:
            name = self.rt.cudaGetErrorName(err)[1]
            raise BackendError(f"CUDA error {name.decode() if isinstance(name, bytes) else name}")
        return rest[0] if len(rest) == 1 else rest


class TensorRTBackend:
    name = "tensorrt"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engine: Any = None
        self._context: Any = None
        self._stream: Any = None
        self._cuda: _Cuda | None = None
        self._buffers: dict[str, tuple[int, int]] = {}  # name -> (device pointer, bytes)
        self._inputs: dict[str, Any] = {}  # name -> trt dtype
        self._outputs: dict[str, Any] = {}
        self._device_index = 0

    # ---- load -------------------------------------------------------------------------
    def load(self, artifact: Path, options: TensorRTOptions, device: Device) -> ModelSignature:
        trt = import_tensorrt()
        cuda = _Cuda(import_cudart())
        self._device_index = device.index or 0
        cuda(cuda.rt.cudaSetDevice(self._device_index))
        props = cuda(cuda.rt.cudaGetDeviceProperties(self._device_index))
        gpu_name = props.name.decode() if isinstance(props.name, bytes) else str(props.name)
        capability = f"{props.major}.{props.minor}"
        logger = trt.Logger(trt.Logger.WARNING)
        extra: dict[str, str] = {"precision": options.precision}

        suffix = artifact.suffix.lower()
        if suffix in (".plan", ".engine"):
            data, extra["engine_source"] = artifact.read_bytes(), "prebuilt"
        elif suffix == ".onnx":
            data, key, source = self._engine_from_onnx(trt, cuda, logger, artifact, options, gpu_name, capability)
            extra |= {"engine_source": source, "engine_cache_key": key}
        else:
            raise BackendLoadError(f"tensorrt reads model.plan, model.engine or model.onnx, not {artifact.name}")

        engine = trt.Runtime(logger).deserialize_cuda_engine(data)
        if engine is None:
            raise BackendLoadError(
                f"tensorrt {trt.__version__} could not deserialize {artifact.name}: an engine only runs on "
                f"the TensorRT version and GPU it was built for (this is {gpu_name}, sm {capability})"
            )
        self._engine, self._cuda = engine, cuda
        self._context = engine.create_execution_context()
        self._stream = cuda(cuda.rt.cudaStreamCreate())
        inputs, outputs = [], []
        for i in range(engine.num_io_tensors):
            tensor = engine.get_tensor_name(i)
            dtype = engine.get_tensor_dtype(tensor)
            spec = TensorSpec(tensor, datatype_of_trt(dtype), tuple(int(d) for d in engine.get_tensor_shape(tensor)))
            if engine.get_tensor_mode(tensor) == trt.TensorIOMode.INPUT:
                self._inputs[tensor] = dtype
                inputs.append(spec)
            else:
                self._outputs[tensor] = dtype
                outputs.append(spec)
        return ModelSignature(
            tuple(inputs),
            tuple(outputs),
            runtime_detail=f"TensorRT {trt.__version__} on {gpu_name} (sm {capability})",
            extra=extra,
        )

    def _engine_from_onnx(
        self,
        trt: Any,
        cuda: _Cuda,
        logger: Any,
        artifact: Path,
        options: TensorRTOptions,
        gpu_name: str,
        capability: str,
    ) -> tuple[bytes, str, str]:
        builder = trt.Builder(logger)
        flags = 0
        if hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):  # TensorRT 8 needs it; 10 is always explicit
            flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(str(artifact)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise BackendLoadError(f"tensorrt could not parse {artifact.name}: {errors}")
        shapes = [
            (network.get_input(i).name, tuple(int(d) for d in network.get_input(i).shape))
            for i in range(network.num_inputs)
        ]
        profiles = derive_profiles(shapes, options)
        model_sha = file_sha256(artifact)
        key_extra = {"workspace": str(options.workspace_bytes), "level": str(options.builder_optimization_level)}
        calibration = None
        if options.precision == "int8":
            calibration = plan_calibration(artifact, options, [name for name, _ in shapes], model_sha)
            key_extra["calibration"] = calibration.identity
        key = engine_cache_key(model_sha, trt.__version__, gpu_name, capability, options.precision, profiles, key_extra)
        cache = EngineCache(options.engine_cache_dir) if options.engine_cache_dir else None
        if cache is not None and (cached := cache.load(key)) is not None:
            log.info("tensorrt engine for %s from cache %s", artifact, cache.path(key))
            return cached, key, "cache"

        config = builder.create_builder_config()
        if options.workspace_bytes is not None:
            config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_bytes)
        if options.builder_optimization_level is not None:
            config.builder_optimization_level = options.builder_optimization_level
        calibrator = None
        if calibration is not None:
            calibrator = entropy_calibrator(
                trt, calibration.feed, calibration.cache, functools.partial(self._to_device, cuda)
            )
            log.info("tensorrt int8 for %s from %s", artifact.name, calibration.source)
        apply_precision(trt, builder, config, options.precision, calibrator, calibration)
        profile = builder.create_optimization_profile()
        for name, p in profiles.items():
            profile.set_shape(name, p.min, p.opt, p.max)
        config.add_optimization_profile(profile)
        log.info("building tensorrt engine for %s (%s, profiles %s)", artifact, options.precision, profiles)
        try:
            serialized = builder.build_serialized_network(network, config)
        finally:
            self._free_buffers(cuda, prefix=CALIBRATION_PREFIX)
        if serialized is None:
            raise BackendLoadError(f"tensorrt failed to build an engine for {artifact.name} (see the log)")
        data = bytes(serialized)
        if cache is not None:
            cache.store(
                key,
                data,
                {
                    "model": artifact.name,
                    "tensorrt": trt.__version__,
                    "gpu": gpu_name,
                    "sm": capability,
                    "precision": options.precision,
                    "profiles": {n: p.as_key() for n, p in profiles.items()},
                },
            )
        return data, key, "built"

    # ---- infer ------------------------------------------------------------------------
    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._lock:  # unload() takes the lock too, so the context cannot vanish mid-run
            cuda, ctx = self._cuda, self._context
            if ctx is None or cuda is None:
                raise BackendError("tensorrt backend used before load() or after unload()")
            missing = sorted(set(self._inputs) - set(inputs))
            if missing:
                raise InvalidInputError(f"missing inputs {missing}")
            return self._run(cuda, ctx, inputs)

    def _run(self, cuda: _Cuda, ctx: Any, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        rt = cuda.rt
        cuda(rt.cudaSetDevice(self._device_index))
        hosts: list[np.ndarray] = []  # keep host arrays alive until the stream is done
        for name, dtype in self._inputs.items():
            array = np.ascontiguousarray(inputs[name], dtype=numpy_of_trt(dtype))
            if not ctx.set_input_shape(name, array.shape):
                raise InvalidInputError(f"input {name!r} shape {list(array.shape)} is outside the engine's profile")
            pointer = self._buffer(cuda, name, array.nbytes)
            cuda(
                rt.cudaMemcpyAsync(
                    pointer, array.ctypes.data, array.nbytes, rt.cudaMemcpyKind.cudaMemcpyHostToDevice, self._stream
                )
            )
            ctx.set_tensor_address(name, pointer)
            hosts.append(array)
        results: dict[str, np.ndarray] = {}
        for name, dtype in self._outputs.items():
            shape = tuple(ctx.get_tensor_shape(name))
            if any(d < 0 for d in shape):
                raise BackendError(f"output {name!r} has a data-dependent shape {list(shape)}: not supported")
            results[name] = np.empty(shape, dtype=numpy_of_trt(dtype))
            ctx.set_tensor_address(name, self._buffer(cuda, name, results[name].nbytes))
        if not ctx.execute_async_v3(int(self._stream)):
            raise BackendError("tensorrt execute_async_v3 failed (see the log)")
        for name, host in results.items():
            cuda(
                rt.cudaMemcpyAsync(
                    host.ctypes.data,
                    self._buffers[name][0],
                    host.nbytes,
                    rt.cudaMemcpyKind.cudaMemcpyDeviceToHost,
                    self._stream,
                )
            )
        cuda(rt.cudaStreamSynchronize(self._stream))
        del hosts
        return results

    def _to_device(self, cuda: _Cuda, name: str, array: np.ndarray) -> int:
        """A calibration batch copied into its own device buffer; TensorRT reads the pointer."""
        pointer = self._buffer(cuda, CALIBRATION_PREFIX + name, array.nbytes)
        cuda(
            cuda.rt.cudaMemcpy(pointer, array.ctypes.data, array.nbytes, cuda.rt.cudaMemcpyKind.cudaMemcpyHostToDevice)
        )
        return pointer

    def _free_buffers(self, cuda: _Cuda, prefix: str) -> None:
        for name in [n for n in self._buffers if n.startswith(prefix)]:
            pointer, _ = self._buffers.pop(name)
            cuda.rt.cudaFree(pointer)

    def _buffer(self, cuda: _Cuda, name: str, nbytes: int) -> int:
        """A device buffer of at least nbytes for this tensor, grown (never shrunk) on demand."""
        pointer, size = self._buffers.get(name, (0, 0))
        if size < max(nbytes, 1):
            if pointer:
                cuda(cuda.rt.cudaFree(pointer))
            size = max(nbytes, 1)
            pointer = int(cuda(cuda.rt.cudaMalloc(size)))
            self._buffers[name] = (pointer, size)
        return pointer

    def unload(self) -> None:
        with self._lock:
            cuda = self._cuda
            if cuda is not None:
                for pointer, _ in self._buffers.values():
                    cuda.rt.cudaFree(pointer)
                if self._stream is not None:
                    cuda.rt.cudaStreamDestroy(self._stream)
            self._buffers.clear()
            self._context = self._engine = self._stream = self._cuda = None
