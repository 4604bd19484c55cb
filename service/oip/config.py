"""Repository state -> Open Inference Protocol ModelMetadata, ModelConfig, statistics and index.

Only what is true goes in: a ModelConfig names the backend that really loaded the model,
its real tensors, max_batch_size and dynamic batching as configured (perf_analyzer
sizes its batches from these), and leaves every other field at its default.
"""

from __future__ import annotations

import json
from typing import cast

from backends.base import TensorSpec
from protos.errors import ModelNotFoundError
from protos.inference import grpc_service_pb2 as pb
from protos.inference import model_config_pb2 as mc
from service.repository.repository import ModelEntry, ModelState, ModelVersion

# Triton's platform strings, so dashboards group our models with theirs.
PLATFORM = {"onnxruntime": "onnxruntime_onnx", "openvino": "openvino", "tensorrt": "tensorrt_plan"}
_DATA_TYPE = {"BYTES": mc.TYPE_STRING}


def data_type(datatype: str) -> mc.DataType:
    """An OIP datatype name ("FP32", "BYTES") -> the model_config DataType enum."""
    # EnumTypeWrapper.Value is typed as plain int; the number is one of DataType's.
    return _DATA_TYPE.get(datatype) or cast(mc.DataType, mc.DataType.Value(f"TYPE_{datatype}"))


def platform_of(version: ModelVersion) -> str:
    backend = version.loaded.backend_name if version.loaded else ""
    return PLATFORM.get(backend, backend)


def model_metadata(entry: ModelEntry, version: ModelVersion) -> pb.ModelMetadataResponse:
    response = pb.ModelMetadataResponse(
        name=entry.name,
        versions=[str(n) for n in sorted(entry.versions) if entry.versions[n].state is ModelState.READY],
        platform=platform_of(version),
    )
    signature = version.signature
    if signature is not None:
        for spec, target in ((signature.inputs, response.inputs), (signature.outputs, response.outputs)):
            target.extend(
                pb.ModelMetadataResponse.TensorMetadata(name=t.name, datatype=t.datatype, shape=t.shape) for t in spec
            )
    return response


def _dims(spec: TensorSpec, max_batch_size: int) -> list[int]:
    """Triton leaves the batch dimension out of dims when the model batches."""
    return list(spec.shape[1:] if max_batch_size else spec.shape)


def model_config(entry: ModelEntry, version: ModelVersion) -> mc.ModelConfig:
    config = version.config or entry.config
    max_batch_size = config.max_batch_size if config else 0
    backend = version.loaded.backend_name if version.loaded else ""
    out = mc.ModelConfig(name=entry.name, platform=platform_of(version), backend=backend, max_batch_size=max_batch_size)
    signature = version.signature
    if signature is not None:
        out.input.extend(
            mc.ModelInput(name=t.name, data_type=data_type(t.datatype), dims=_dims(t, max_batch_size))
            for t in signature.inputs
        )
        out.output.extend(
            mc.ModelOutput(name=t.name, data_type=data_type(t.datatype), dims=_dims(t, max_batch_size))
            for t in signature.outputs
        )
    if config is None:
        return out
    policy = config.version_policy
    if policy.specific is not None:
        out.version_policy.specific.versions.extend(policy.specific)
    elif policy.all:
        out.version_policy.all.SetInParent()
    else:
        out.version_policy.latest.num_versions = policy.latest or 1
    batching = config.dynamic_batching
    if batching is not None:
        out.dynamic_batching.preferred_batch_size.extend(batching.preferred_batch_sizes)
        out.dynamic_batching.max_queue_delay_microseconds = batching.max_queue_delay_us
        out.dynamic_batching.default_queue_policy.max_queue_size = batching.max_queue_size
        out.dynamic_batching.default_queue_policy.default_timeout_microseconds = batching.timeout_ms * 1000
    device = version.loaded.device if version.loaded else None
    out.instance_group.add(
        name=entry.name,
        kind=mc.ModelInstanceGroup.KIND_GPU
        if device is not None and device.kind == "gpu"
        else mc.ModelInstanceGroup.KIND_CPU,
        count=config.instances,
        gpus=[device.index or 0] if device is not None and device.kind == "gpu" else [],
    )
    # perf_analyzer prints the cache figures of a model whose config enables the cache, and
    # refuses the statistics of one that has cache figures but does not.
    out.response_cache.enable = config.response_cache.enabled
    for key, value in config.labels.items():
        out.parameters[key].string_value = value
    if version.loaded is not None:
        # The hardware decision, where Triton's ModelConfig has room for it: free parameters.
        out.parameters["switchyard.selected"].string_value = version.loaded.label
        out.parameters["switchyard.selection_trail"].string_value = json.dumps(
            version.loaded.trail.to_dict()["entries"]
        )
        out.parameters["switchyard.precision"].string_value = version.loaded.precision
        out.parameters["switchyard.precision_steps"].string_value = json.dumps(version.loaded.trail.precision)
    return out


def _duration(count: int, ns: int) -> pb.StatisticDuration:
    return pb.StatisticDuration(count=max(0, int(count)), ns=max(0, int(ns)))


def version_statistics(version: ModelVersion) -> pb.ModelStatistics:
    out = pb.ModelStatistics(name=version.name, version=str(version.version))
    if version.runner is None:
        return out
    stats = version.runner.stats
    success = stats.success_count
    out.last_inference = stats.last_inference_ms
    out.inference_count = stats.inference_count
    out.execution_count = stats.execution_count
    infer = out.inference_stats
    # Triton's definitions, which perf_analyzer divides by: success and queue count the cache
    # hits too (a hit's time is its lookup; it waited in no queue), the compute figures do not.
    hits = stats.cache_hit_count
    infer.success.CopyFrom(_duration(success + hits, stats.cumulative_total_ns + stats.cumulative_cache_hit_ns))
    infer.fail.CopyFrom(_duration(stats.failure_count, stats.cumulative_failure_ns))
    infer.queue.CopyFrom(_duration(success + hits, stats.cumulative_queue_ns))
    infer.compute_input.CopyFrom(_duration(success, stats.cumulative_compute_input_ns))
    infer.compute_infer.CopyFrom(_duration(success, stats.cumulative_infer_ns))
    infer.compute_output.CopyFrom(_duration(success, stats.cumulative_compute_output_ns))
    # Response cache lookups: key, lookup and decode (a miss: key and lookup).
    infer.cache_hit.CopyFrom(_duration(hits, stats.cumulative_cache_hit_ns))
    infer.cache_miss.CopyFrom(_duration(stats.cache_miss_count, stats.cumulative_cache_miss_ns))
    for size, (count, input_ns, infer_ns, output_ns) in sorted(stats.batch_executions.items()):
        out.batch_stats.add(
            batch_size=size,
            compute_input=_duration(count, input_ns),
            compute_infer=_duration(count, infer_ns),
            compute_output=_duration(count, output_ns),
        )
    return out


def model_statistics(entries: list[ModelEntry], name: str, version: str) -> pb.ModelStatisticsResponse:
    """Every model's versions (name empty), one model's, or one version's; unknown ones NOT_FOUND."""
    response = pb.ModelStatisticsResponse()
    for entry in entries:
        if name and entry.name != name:
            continue
        for number in sorted(entry.versions):
            if version and str(number) != version:
                continue
            response.model_stats.append(version_statistics(entry.versions[number]))
    if name and not response.model_stats:
        if not any(e.name == name for e in entries):
            raise ModelNotFoundError(f"unknown model '{name}'")
        if version:
            raise ModelNotFoundError(f"model '{name}' has no version {version}")
    return response


def repository_index(entries: list[ModelEntry], on_disk: list[str], ready_only: bool) -> pb.RepositoryIndexResponse:
    response = pb.RepositoryIndexResponse()
    known = {e.name for e in entries}
    for entry in entries:
        if entry.reason and not ready_only:
            response.models.add(name=entry.name, state=ModelState.UNAVAILABLE.value, reason=entry.reason)
        for number in sorted(entry.versions):
            item = entry.versions[number]
            if ready_only and item.state is not ModelState.READY:
                continue
            response.models.add(name=entry.name, version=str(number), state=item.state.value, reason=item.reason)
    if not ready_only:
        for name in sorted(set(on_disk) - known):
            response.models.add(name=name, state=ModelState.UNAVAILABLE.value, reason="unloaded")
    return response
