"""OpenVINO INT8 with NNCF post-training quantization, calibrated on the same samples as ONNX Runtime's."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from backends.precision.calibration import Sample
from backends.precision.plan import Int8Recipe


def runtime_version() -> str:
    import nncf
    import openvino

    return f"openvino-{openvino.__version__}-nncf-{nncf.__version__}"


def openvino_input_names(model: Path) -> list[str]:
    """The input names of an OpenVINO IR (or any model OpenVINO reads), as samples are keyed."""
    import openvino

    return [p.get_any_name() for p in openvino.Core().read_model(str(model)).inputs]


def quantize_openvino(source: Path, target: Path, samples: Sequence[Sample]) -> None:
    """Write the INT8 OpenVINO IR (target: a .xml path, its .bin beside it) for the ONNX or IR `source`."""
    import nncf
    import openvino

    _route_nncf_logs()
    model = openvino.Core().read_model(str(source))
    # Sample dicts are keyed by input name, which is how OpenVINO's infer() takes them.
    dataset = nncf.Dataset(list(samples))
    # NNCF draws rich progress bars on sys.stdout; in a server whose every output line must be
    # one JSON log record they would be stray text. The build's start and duration are logged
    # by the caller instead. The logging handlers hold their own stream objects, so swapping
    # sys.stdout for the call loses nothing else.
    with contextlib.redirect_stdout(io.StringIO()):
        quantized = nncf.quantize(model, dataset, subset_size=len(samples))
    openvino.save_model(quantized, str(target))


def _route_nncf_logs() -> None:
    """Send NNCF's warnings through the process's logging (JSON or text) rather than its own stdout handler."""
    nncf_logger = logging.getLogger("nncf")
    for handler in list(nncf_logger.handlers):
        nncf_logger.removeHandler(handler)
    nncf_logger.propagate = True
    nncf_logger.setLevel(logging.WARNING)


def run_openvino(
    model: Path, samples: Sequence[Sample], threads: int = 1, hint: str = "f32"
) -> list[dict[str, np.ndarray]]:
    """Outputs of `model` for each sample on the CPU at INFERENCE_PRECISION_HINT `hint`.

    The reference and the candidate both run here, so the gate compares INT8 (or BF16) with
    exact FP32 on the same runtime rather than with OpenVINO's silent BF16 on AMX CPUs; f32
    applies outside the quantized ops of an INT8 model.
    """
    import openvino

    config = {"INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": str(threads)}
    compiled = openvino.Core().compile_model(str(model), "CPU", config)
    request = compiled.create_infer_request()
    names = [o.get_any_name() for o in compiled.outputs]
    results = []
    for sample in samples:
        request.infer(dict(sample))
        results.append({name: request.get_output_tensor(i).data.copy() for i, name in enumerate(names)})
    return results


OPENVINO_INT8 = Int8Recipe(
    "openvino", "int8-openvino", quantize_openvino, run_openvino, runtime_version, lambda source: "model.xml"
)
