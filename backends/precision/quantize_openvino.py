"""OpenVINO INT8 with NNCF post-training quantization, calibrated on the same samples as ONNX Runtime's."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from backends.precision.calibration import Sample


def runtime_version() -> str:
    import nncf
    import openvino

    return f"openvino-{openvino.__version__}-nncf-{nncf.__version__}"


def quantize_openvino(source: Path, target: Path, samples: Sequence[Sample]) -> None:
    """Write the INT8 OpenVINO IR (target: a .xml path, its .bin beside it) for the ONNX or IR `source`."""
    import nncf
    import openvino

    model = openvino.Core().read_model(str(source))
    # Sample dicts are keyed by input name, which is how OpenVINO's infer() takes them.
    dataset = nncf.Dataset(list(samples))
    quantized = nncf.quantize(model, dataset, subset_size=len(samples))
    openvino.save_model(quantized, str(target))
