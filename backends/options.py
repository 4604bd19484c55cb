"""Typed per-backend options: a discriminated union on `kind`, never a free dict."""

from __future__ import annotations

from typing import Annotated, Literal, Union

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


BackendOptions = Annotated[
    Union[OnnxRuntimeOptions, OpenVinoOptions],
    Field(discriminator="kind"),
]


def default_options(backend: str) -> OnnxRuntimeOptions | OpenVinoOptions:
    """Default options for a backend name."""
    table = {"onnxruntime": OnnxRuntimeOptions, "openvino": OpenVinoOptions}
    return table[backend]()
