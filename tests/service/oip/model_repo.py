"""A tiny model repository for the Open Inference Protocol tests, built from ONNX graphs.

The models mirror Triton's "simple" example (two inputs, their sum and difference) in
the datatypes the outside clients exercise, so tritonclient and perf_analyzer see the
kind of model they were written against.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper

# name -> (ONNX element type, OIP datatype, max_batch_size, per-item shape, dynamic batching)
ADD_SUB_MODELS: dict[str, tuple[int, str, int, list[int], bool]] = {
    "simple_fp32": (TensorProto.FLOAT, "FP32", 8, [16], True),
    "simple_int64": (TensorProto.INT64, "INT64", 0, [1, 16], False),
    "simple_fp16": (TensorProto.FLOAT16, "FP16", 8, [16], False),
}
BYTES_MODEL = "simple_bytes"


def _save(model: onnx.ModelProto, folder: Path) -> None:
    (folder / "1").mkdir(parents=True, exist_ok=True)
    model.opset_import[0].version = 17
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(folder / "1" / "model.onnx"))


def _add_sub(elem: int, shape: list[int | str]) -> onnx.ModelProto:
    io = lambda name: helper.make_tensor_value_info(name, elem, shape)  # noqa: E731
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"]),
            helper.make_node("Sub", ["INPUT0", "INPUT1"], ["OUTPUT1"]),
        ],
        "add_sub",
        [io("INPUT0"), io("INPUT1")],
        [io("OUTPUT0"), io("OUTPUT1")],
    )
    return helper.make_model(graph)


def _identity_bytes() -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["INPUT0"], ["OUTPUT0"])],
        "identity_bytes",
        [helper.make_tensor_value_info("INPUT0", TensorProto.STRING, ["n"])],
        [helper.make_tensor_value_info("OUTPUT0", TensorProto.STRING, ["n"])],
    )
    return helper.make_model(graph)


def build(root: Path) -> Path:
    """Write the repository under root and return root."""
    for name, (elem, _, max_batch, item_shape, batching) in ADD_SUB_MODELS.items():
        folder = root / name
        shape: list[int | str] = (["batch"] if max_batch else []) + list(item_shape)
        _save(_add_sub(elem, shape), folder)
        lines = ["backend: onnxruntime", "device: cpu", f"max_batch_size: {max_batch}"]
        if batching:
            lines += ["dynamic_batching:", "  max_queue_delay_us: 100"]
        (folder / "config.yaml").write_text("\n".join(lines) + "\n")
    folder = root / BYTES_MODEL
    _save(_identity_bytes(), folder)
    (folder / "config.yaml").write_text("backend: onnxruntime\ndevice: cpu\nmax_batch_size: 0\n")
    return root
