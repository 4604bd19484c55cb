"""ONNX Runtime static INT8 quantization: QDQ format, per-channel weights, calibrated activations."""

from __future__ import annotations

import importlib.util
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from backends.precision.calibration import Sample

PER_CHANNEL_OPSET = 13


def runtime_version() -> str:
    import onnxruntime

    return f"onnxruntime-{onnxruntime.__version__}"


def quantize_onnx(source: Path, target: Path, samples: Sequence[Sample]) -> None:
    """Write the INT8 (QDQ) model for `source` to `target`, calibrated on `samples`."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it: Iterator[Sample] = iter(samples)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

        def rewind(self) -> None:
            self._it = iter(samples)

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # Symbolic shape inference needs sympy; plain ONNX shape inference and graph
        # optimisation are what static quantization depends on.
        quant_pre_process(
            str(_with_opset(source, Path(tmp) / "opset.onnx")),
            str(prepared),
            skip_symbolic_shape=importlib.util.find_spec("sympy") is None,
        )
        quantize_static(
            str(prepared),
            str(target),
            _Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )


def _with_opset(source: Path, scratch: Path) -> Path:
    """source, or its conversion to opset 13 when older: per-channel DequantizeLinear needs `axis` (opset 13+)."""
    import onnx
    from onnx import version_converter

    model = onnx.load(str(source))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), PER_CHANNEL_OPSET)
    if opset >= PER_CHANNEL_OPSET:
        return source
    onnx.save(version_converter.convert_version(model, PER_CHANNEL_OPSET), str(scratch))
    return scratch


def run_onnx(model: Path, samples: Sequence[Sample], threads: int = 1) -> list[dict[str, np.ndarray]]:
    """Outputs of `model` for each sample on the CPU (the gate's reference and candidate runs)."""
    import onnxruntime

    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return [dict(zip(names, session.run(names, dict(s)), strict=True)) for s in samples]


def onnx_input_names(model: Path) -> list[str]:
    import onnx

    graph = onnx.load(str(model), load_external_data=False).graph
    initialisers = {i.name for i in graph.initializer}
    return [i.name for i in graph.input if i.name not in initialisers]
