"""The precision a model version serves at, decided before the backend selection.

int8 is built (ONNX Runtime static quantization over the model's calibration/ folder),
cached, and gated against FP32; when it fails, the next precision of the policy is tried
(bf16 on AMX/AVX512_BF16 CPUs, fp16 on GPUs) and fp32 last. In strict mode a rejected first
choice leaves the model UNAVAILABLE instead. Every attempt, with its measured figures, goes
into the decision trail.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from backends.precision.calibration import CalibrationError, ImagePreprocess, load_calibration
from backends.precision.gate import GateThresholds
from backends.precision.plan import PrecisionStep, Quantizer, plan_int8_onnx
from backends.precision.quantize_onnx import onnx_input_names, quantize_onnx
from backends.probe import HardwareReport
from backends.selection import precision_order
from protos.errors import BackendLoadError
from service.repository.config import ModelConfig

CALIBRATION_FOLDER = "calibration"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrecisionDecision:
    requested: str | None
    # What the selection is asked for next: a precision, or None for "each backend's default".
    order: tuple[str, ...]
    steps: tuple[PrecisionStep, ...] = ()
    int8_artifact_dir: Path | None = None  # serve the quantized model from here

    def lines(self) -> tuple[str, ...]:
        return tuple(step.line() for step in self.steps)


def decide_precision(
    config: ModelConfig,
    version_dir: Path,
    report: HardwareReport,
    cache_dir: Path,
    preprocess: ImagePreprocess | None = None,
    quantizer: Quantizer = quantize_onnx,
) -> PrecisionDecision:
    """Build and gate int8 when the policy puts it first; the rest of the order is left to the selection."""
    order = precision_order(config.precision, report)
    if order[0] != "int8":
        return PrecisionDecision(config.precision, order)
    step, artifact_dir = build_int8(config, version_dir, cache_dir, preprocess, quantizer)
    if step.ok:
        return PrecisionDecision(config.precision, ("int8",), (step,), artifact_dir)
    if config.strict:
        raise BackendLoadError(f"strict: int8 requested and rejected, no fallback: {step.reason}")
    return PrecisionDecision(config.precision, order[1:], (step,))


def build_int8(
    config: ModelConfig,
    version_dir: Path,
    cache_dir: Path,
    preprocess: ImagePreprocess | None = None,
    quantizer: Quantizer = quantize_onnx,
) -> tuple[PrecisionStep, Path | None]:
    """Build (or reuse) and gate the INT8 model of one version: (the step, its folder if it passed)."""
    model_file = version_dir / "model.onnx"
    if config.backend not in ("auto", "onnxruntime"):
        return PrecisionStep("int8", False, f"int8 is built with onnxruntime; backend {config.backend} requested"), None
    if not model_file.is_file():
        return PrecisionStep("int8", False, "int8 is built from model.onnx; none in this version"), None
    folder = _calibration_folder(version_dir)
    try:
        samples = load_calibration(folder, onnx_input_names(model_file), preprocess)
    except CalibrationError as exc:
        return PrecisionStep("int8", False, str(exc)), None
    gate = config.precision_gate
    thresholds = GateThresholds(gate.min_cosine, gate.max_abs_error, gate.min_top1_agreement)
    try:
        result = plan_int8_onnx(model_file, samples, cache_dir / "int8-onnx", thresholds, quantizer)
    except Exception:
        # A quantizer failure falls back like a failed gate; the details (paths, the runtime's
        # exception) go to the server log, not to clients.
        log.exception("int8 quantization of %s failed", version_dir.name)
        return PrecisionStep("int8", False, "quantization failed (details in the server log)"), None
    return result.step, result.artifact.parent if result.artifact else None


def precision_cache_dir(cache_dir: Path | None) -> Path:
    """Where quantized artifacts are cached: below --cache-dir, else the user's cache folder."""
    return Path(cache_dir or Path.home() / ".cache" / "switchyard") / "precision"


def _calibration_folder(version_dir: Path) -> Path:
    """calibration/ in the version folder, else in the model folder (shared by its versions)."""
    own = version_dir / CALIBRATION_FOLDER
    return own if own.is_dir() else version_dir.parent / CALIBRATION_FOLDER
