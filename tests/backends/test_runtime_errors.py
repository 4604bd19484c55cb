"""A runtime that cannot take the inputs' shapes says so as INVALID_ARGUMENT, in its own words;
its genuine faults stay INTERNAL."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from backends.base import Device
from backends.onnxruntime_backend import OnnxRuntimeBackend
from backends.openvino_backend import OpenVinoBackend
from backends.options import OnnxRuntimeOptions, OpenVinoOptions
from backends.runtime_errors import is_input_shape_problem, runtime_words
from protos.errors import ErrorCode, InvalidInputError
from tests.fixtures.models import add_model

# Both inputs are [N, 4]: each alone matches the signature, together they cannot be added.
MISMATCHED = {"a": np.ones((2, 4), np.float32), "b": np.ones((3, 4), np.float32)}


@pytest.fixture(scope="module")
def add_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("add") / "model.onnx"
    onnx.save(add_model(), path)
    return path


@pytest.mark.parametrize(
    ("backend", "options"),
    [(OnnxRuntimeBackend, OnnxRuntimeOptions(intra_op_threads=1)), (OpenVinoBackend, OpenVinoOptions())],
)
def test_inputs_the_model_cannot_combine_are_invalid_argument(add_path, backend, options) -> None:
    runtime = backend()
    runtime.load(add_path, options, Device("cpu"))
    with pytest.raises(InvalidInputError) as caught:
        runtime.infer(MISMATCHED)
    message = str(caught.value)
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT and "rejected the inputs" in message
    assert ".cpp:" not in message and ".h:" not in message and "/src/" not in message  # no runtime internals
    ok = runtime.infer({"a": np.ones((2, 4), np.float32), "b": np.ones((2, 4), np.float32)})
    assert ok["sum"].tolist() == [[2.0] * 4] * 2  # the model still works


# Messages as the runtimes print them (captured here: ORT 1.2x, OpenVINO 2025 on CPU).
ORT_BROADCAST = (
    "[ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running Add node. Name:'p2o.Add.248' "
    "Status Message: /onnxruntime_src/onnxruntime/core/providers/cpu/math/element_wise_ops.h:563 void "
    "onnxruntime::BroadcastIterator::Init(ptrdiff_t, ptrdiff_t) axis == 1 || axis == largest was false. "
    "Attempting to broadcast an axis by a dimension other than 1. 3 by 4"
)
OV_ELTWISE = (
    "Exception from src/inference/src/cpp/infer_request.cpp:224:\nException from "
    "src/plugins/intel_cpu/src/node.cpp:794:\n[CPU] Add node with name 'p2o.Add.234' Check 'input_shape[j] == 1' "
    "failed at src/plugins/intel_cpu/src/shape_inference/custom/eltwise.cpp:52:\n"
    "Eltwise shape infer input shapes dim index: 2 mismatch\n\n\n"
)
ORT_OUT_OF_MEMORY = (
    "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while running MatMul node. "
    "Name:'m' Status Message: /onnxruntime_src/onnxruntime/core/framework/bfc_arena.cc:376 void* "
    "onnxruntime::BFCArena::AllocateRawInternal(size_t, bool, onnxruntime::Stream*, bool, "
    "onnxruntime::WaitNotificationFn) Failed to allocate memory for requested buffer of size 1000000000000"
)


def test_shape_failures_are_told_from_faults_and_read_without_internals() -> None:
    assert is_input_shape_problem(ORT_BROADCAST) and is_input_shape_problem(OV_ELTWISE)
    assert not is_input_shape_problem(ORT_OUT_OF_MEMORY)
    assert runtime_words(ORT_BROADCAST).endswith(
        "Status Message: axis == 1 || axis == largest was false. "
        "Attempting to broadcast an axis by a dimension other than 1. 3 by 4"
    )
    assert runtime_words(OV_ELTWISE) == (
        "[CPU] Add node with name 'p2o.Add.234' Check 'input_shape[j] == 1' "
        "Eltwise shape infer input shapes dim index: 2 mismatch"
    )
    assert "BFCArena" not in runtime_words(ORT_OUT_OF_MEMORY)
