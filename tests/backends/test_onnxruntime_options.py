"""ONNX Runtime's intra-op threads are split between a model's instances unless set."""

from __future__ import annotations

import os

from backends.onnxruntime_options import intra_op_threads_for, onnxruntime_options
from backends.options import OnnxRuntimeOptions


def test_unset_threads_split_the_usable_cores_between_instances():
    cores = len(os.sched_getaffinity(0))
    assert onnxruntime_options(OnnxRuntimeOptions(), 1).intra_op_threads == cores
    assert onnxruntime_options(OnnxRuntimeOptions(), cores * 2).intra_op_threads == 1  # never 0 ("ORT decides")


def test_explicit_threads_are_kept():
    options = OnnxRuntimeOptions(intra_op_threads=3, providers=("CPUExecutionProvider",))
    assert onnxruntime_options(options, 8) is options


def test_zero_instances_counts_as_one():
    assert intra_op_threads_for(0) == intra_op_threads_for(1)
