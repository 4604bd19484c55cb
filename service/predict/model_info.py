"""Repository state -> switchyard.v1 ModelInfo / GetServerInfoResponse messages."""

from __future__ import annotations

import os
import socket

from google.protobuf import struct_pb2

from backends.registry import installed_backends
from protos.switchyard.v1 import predict_pb2 as pb
from service import __version__
from service.drift.monitor import DriftObserver, VersionDrift
from service.repository.repository import ModelEntry, ModelState
from service.rpc.budget import RequestIntake

_STATE = {
    ModelState.READY: pb.ModelVersionInfo.STATE_READY,
    ModelState.LOADING: pb.ModelVersionInfo.STATE_LOADING,
    ModelState.UNAVAILABLE: pb.ModelVersionInfo.STATE_UNAVAILABLE,
}


def model_info(entry: ModelEntry) -> pb.ModelInfo:
    info = pb.ModelInfo(
        name=entry.name,
        max_batch_size=entry.config.max_batch_size if entry.config else 0,
        last_reload_error=entry.last_reload_error,
    )
    if entry.reason:
        info.versions.add(version="", state=pb.ModelVersionInfo.STATE_UNAVAILABLE, reason=entry.reason)
    signature = None
    success = failure = executions = in_flight = hits = misses = 0
    latency_sum = queue_sum = 0.0
    for number in sorted(entry.versions):
        version = entry.versions[number]
        item = info.versions.add(
            version=str(number),
            state=_STATE[version.state],
            reason=version.reason,
            warmup_seconds=version.warmup_seconds or 0.0,
        )
        loaded = version.loaded
        if loaded is not None:
            item.backend, item.device, item.load_seconds = loaded.backend_name, str(loaded.device), loaded.load_seconds
            item.precision = loaded.precision
            item.precision_steps.extend(loaded.trail.precision)
            item.selection.extend(
                pb.SelectionStep(
                    backend=e.backend,
                    device=e.device,
                    outcome=e.outcome.value,
                    reason=e.reason,
                    seconds=e.load_seconds or 0.0,
                    label=e.label,
                )
                for e in loaded.trail.entries
            )
            signature = loaded.signature
        if version.runner is not None:
            if isinstance(version.runner.observer, DriftObserver):
                item.drift.CopyFrom(drift_summary(version.runner.observer.tracker))
            stats = version.runner.stats
            success += stats.success_count
            failure += stats.failure_count
            executions += stats.execution_count
            in_flight += version.runner.in_flight
            latency_sum += stats.cumulative_total_ns
            queue_sum += stats.cumulative_queue_ns
            hits += stats.cache_hit_count
            misses += stats.cache_miss_count
    if signature is not None:
        info.inputs.extend(pb.TensorInfo(name=t.name, datatype=t.datatype, shape=t.shape) for t in signature.inputs)
        info.outputs.extend(pb.TensorInfo(name=t.name, datatype=t.datatype, shape=t.shape) for t in signature.outputs)
    info.statistics.CopyFrom(
        pb.ModelStatistics(
            success_count=success,
            failure_count=failure,
            execution_count=executions,
            mean_latency_ms=latency_sum / success / 1e6 if success else 0.0,
            mean_queue_ms=queue_sum / success / 1e6 if success else 0.0,
            in_flight=in_flight,
            cache_hits=hits,
            cache_misses=misses,
            cache_hit_ratio=hits / (hits + misses) if hits + misses else 0.0,
        )
    )
    return info


def drift_summary(tracker: VersionDrift) -> pb.DriftSummary:
    worst = max(tracker.scores, key=lambda s: s.psi, default=None)
    summary = pb.DriftSummary(has_reference=tracker.has_reference, drifting=tracker.drifting, sampled=tracker.sampled)
    if worst is not None:
        summary.max_psi, summary.max_psi_tensor, summary.max_psi_feature = worst.psi, worst.tensor, worst.feature
    return summary


def server_info(hardware: dict, intake: RequestIntake | None = None) -> pb.GetServerInfoResponse:
    report = struct_pb2.Struct()
    report.update(hardware)
    return pb.GetServerInfoResponse(
        name="switchyard",
        version=__version__,
        backends=installed_backends(),
        hardware_summary=str(hardware.get("summary", "")),
        hardware=report,
        instance=f"{socket.gethostname()}:{os.getpid()}",
        limits=server_limits(intake) if intake is not None else None,
    )


def server_limits(intake: RequestIntake) -> pb.ServerLimits:
    limits = intake.limits
    return pb.ServerLimits(
        max_message_bytes=intake.max_message_bytes,
        max_tensor_elements=limits.max_tensor_elements,
        max_tensor_rank=limits.max_tensor_rank,
        max_bytes_elements=limits.max_bytes_elements,
        max_inflight_bytes=intake.budget.limit,
    )
