"""ONNX Runtime's thread settings for one model; importable without onnxruntime installed."""

from __future__ import annotations

import math
import os

from backends.options import OnnxRuntimeOptions
from backends.probe.cpu import cgroup_cpu_quota
from backends.probe.sysroot import SysRoot


def intra_op_threads_for(instances: int, sys: SysRoot | None = None) -> int:
    """Threads per instance so that instances x threads fits the usable cores (at least 1).

    Usable = the affinity mask, capped by the cgroup CPU quota: a container sees every core of
    its node, and a Kubernetes CPU limit (limits.cpu) shows up only as that quota.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cgroup_cpu_quota(sys or SysRoot())
    if quota is not None:
        cores = min(cores, max(1, math.floor(quota)))
    return max(1, cores // max(1, instances))


def onnxruntime_options(options: OnnxRuntimeOptions, instances: int) -> OnnxRuntimeOptions:
    """`options` with intra-op threads = usable cores // instances unless set explicitly.

    ONNX Runtime's default (one thread per core, spinning while idle) oversubscribes as soon as
    there are several instances, and on a server pinned to one core its spinning pool fights
    the event loop; 1 thread there runs the model on the calling thread with no pool at all.
    """
    if options.intra_op_threads:
        return options
    return options.model_copy(update={"intra_op_threads": intra_op_threads_for(instances)})
