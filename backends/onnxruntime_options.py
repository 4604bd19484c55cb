"""ONNX Runtime's thread settings for one model; importable without onnxruntime installed."""

from __future__ import annotations

import os

from backends.options import OnnxRuntimeOptions


def intra_op_threads_for(instances: int) -> int:
    """Threads per instance so that instances x threads fits the usable cores (at least 1)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
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
