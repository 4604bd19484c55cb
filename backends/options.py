"""Typed per-backend options: a discriminated union on `kind`, never a free dict."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OnnxRuntimeOptions(_Options):
    kind: Literal["onnxruntime"] = "onnxruntime"
    # Execution providers in preference order; names as ONNX Runtime spells them
    # (CPUExecutionProvider, CUDAExecutionProvider, TensorrtExecutionProvider,
    # ROCMExecutionProvider, MIGraphXExecutionProvider, OpenVINOExecutionProvider).
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    # Per-provider options, keyed by provider name (e.g. trt_fp16_enable).
    provider_options: dict[str, dict[str, str]] = Field(default_factory=dict)
    intra_op_threads: int = Field(default=0, ge=0, description="0 lets ONNX Runtime decide")
    inter_op_threads: int = Field(default=0, ge=0)
    graph_optimization_level: Literal["disable", "basic", "extended", "all"] = "all"


class OpenVinoOptions(_Options):
    kind: Literal["openvino"] = "openvino"
    performance_hint: Literal["LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT"] = "LATENCY"
    # f32 makes results comparable with ONNX Runtime; None keeps the device default
    # (bf16 on CPUs with AVX512_BF16/AMX).
    precision_hint: Literal["f32", "f16", "bf16"] | None = None
    # Infer requests in the pool; 0 takes OPTIMAL_NUMBER_OF_INFER_REQUESTS from the device.
    num_requests: int = Field(default=0, ge=0)
    num_threads: int = Field(default=0, ge=0, description="INFERENCE_NUM_THREADS, 0 = device default")
    cache_dir: str | None = None
    config: dict[str, str] = Field(default_factory=dict, description="extra OpenVINO properties")


class ShapeRange(_Options):
    """A TensorRT optimisation-profile range for one input: min <= opt <= max per dimension."""

    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]


class TensorRTOptions(_Options):
    kind: Literal["tensorrt"] = "tensorrt"
    precision: Literal["fp32", "fp16", "bf16", "int8"] = "fp32"
    # Optimisation profile per input name; inputs left out are derived from the model's
    # dynamic dims: batch (dim 0) from 1 to max_batch_size, other dynamic dims from dim_range.
    profiles: dict[str, ShapeRange] = Field(default_factory=dict)
    max_batch_size: int = Field(default=8, ge=1)
    opt_batch_size: int | None = Field(default=None, ge=1, description="default: max_batch_size")
    dim_range: tuple[int, int, int] | None = None  # (min, opt, max) for non-batch dynamic dims
    workspace_bytes: int | None = Field(default=None, ge=0, description="builder memory pool limit")
    engine_cache_dir: str | None = None  # built engines, keyed by model + TensorRT + GPU + settings
    # precision int8: an existing calibration table is replayed; without one, TensorRT calibrates
    # on int8_calibration_data (a folder of .npy/.npz; default: the model's calibration/ folder)
    # and writes the table to int8_calibration_cache (default: beside the engine cache).
    int8_calibration_cache: str | None = None
    int8_calibration_data: str | None = None
    builder_optimization_level: int | None = Field(default=None, ge=0, le=5)


BackendOptions = Annotated[
    OnnxRuntimeOptions | OpenVinoOptions | TensorRTOptions,
    Field(discriminator="kind"),
]


def default_options(backend: str) -> OnnxRuntimeOptions | OpenVinoOptions | TensorRTOptions:
    """Default options for a backend name."""
    table = {"onnxruntime": OnnxRuntimeOptions, "openvino": OpenVinoOptions, "tensorrt": TensorRTOptions}
    return table[backend]()
