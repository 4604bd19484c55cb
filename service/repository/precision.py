"""The precision a model version serves at, decided before the backend selection.

int8 is built by the runtime that serves it (ONNX Runtime static quantization, or NNCF for
a model on OpenVINO) over the model's calibration/ folder, cached, and gated against FP32 on
that runtime (db_text detectors on their post-processed boxes); when it fails, the next
precision of the policy is tried (bf16 on AMX/AVX512_BF16 CPUs, fp16 on GPUs) and fp32 last.
In strict mode a rejected first choice leaves the model UNAVAILABLE instead. Every attempt,
with its measured figures, goes into the decision trail.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backends.base import Backend, Device
from backends.precision.calibration import (
    CALIBRATION_FOLDER,
    VALIDATION_FOLDER,
    CalibrationError,
    ImagePreprocess,
    load_calibration,
    sample_folder,
)
from backends.precision.gate import GateFigures, GateThresholds, Outputs, box_agreement, failure, measure
from backends.precision.order import precision_order
from backends.precision.plan import (
    ONNXRUNTIME_INT8,
    Comparer,
    Int8Recipe,
    PrecisionStep,
    Progress,
    plan_int8,
)
from backends.precision.quantize_onnx import onnx_input_names, run_onnx
from backends.precision.quantize_openvino import openvino_input_names, run_openvino
from backends.probe import HardwareReport
from backends.timing import cache_root
from protos.errors import BackendLoadError
from service.repository.config import ModelConfig
from service.vision.config import DbTextConfig
from service.vision.postprocess import db_boxes

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
) -> PrecisionDecision:
    """Build and gate int8 when the policy puts it first, gate bf16/fp16 on OpenVINO's CPU when next.

    The rest of the order is left to the selection: the first precision a route offers serves.
    """
    order = precision_order(config.precision, report)
    steps: list[PrecisionStep] = []
    if order[0] == "int8":
        if config.backend == "tensorrt":
            # TensorRT calibrates while it builds the engine (backends/tensorrt/int8.py) and keeps
            # the table beside its engine cache; a route that cannot build INT8 falls back below.
            step = PrecisionStep("int8", True, "tensorrt calibrates at engine build; gated once loaded")
            return PrecisionDecision(config.precision, order, (step,))
        step, artifact_dir = build_int8(config, version_dir, cache_dir, preprocess)
        if step.ok:
            return PrecisionDecision(config.precision, ("int8",), (step,), artifact_dir)
        if config.strict:
            raise BackendLoadError(f"strict: int8 requested and rejected, no fallback: {step.reason}")
        steps.append(step)
        order = order[1:]
    if order[0] in HALF_HINTS and _openvino_cpu_serves(config, report):
        half = gate_half(config, version_dir, order[0], preprocess)
        if half is not None:
            steps.append(half)
            if not half.ok:
                if config.strict:
                    raise BackendLoadError(f"strict: {order[0]} rejected, no fallback: {half.reason}")
                order = order[1:]
    return PrecisionDecision(config.precision, order, tuple(steps))


HALF_HINTS = {"bf16": "bf16", "fp16": "f16"}


def _openvino_cpu_serves(config: ModelConfig, report: HardwareReport) -> bool:
    """Whether a bf16/fp16 request lands on OpenVINO's CPU route: the only CPU route offering
    them, taken when no accelerator route comes first (the policy puts GPUs and NPUs first)."""
    device = Device.parse(config.device)
    if config.backend not in ("auto", "openvino") or device.kind not in ("auto", "cpu"):
        return False
    return device.kind == "cpu" or not report.accelerators


def gate_half(
    config: ModelConfig, version_dir: Path, precision: str, preprocess: ImagePreprocess | None
) -> PrecisionStep | None:
    """OpenVINO's BF16 or FP16 against its exact FP32 on the model's samples; None without samples.

    Half precision needs no build, so without calibration/ or validation/ samples it serves
    ungated, as before such folders existed.
    """
    model_file = _source_model(version_dir, "openvino")
    folder = _gate_samples_folder(version_dir)
    if model_file is None or folder is None:
        return None
    thresholds, compare = gate_for(config)

    def measured() -> tuple[GateFigures, str]:
        samples = load_calibration(folder, _input_names(model_file), preprocess)
        reduced = run_openvino(model_file, samples, hint=HALF_HINTS[precision])
        return compare(run_openvino(model_file, samples), reduced), f"; on {len(samples)} {folder.name} samples"

    return _judged(precision, version_dir, "openvino", thresholds, measured)


def gate_loaded(
    config: ModelConfig,
    version_dir: Path,
    decision: PrecisionDecision,
    precision: str,
    backend: Backend,
    runtime: str,
    preprocess: ImagePreprocess | None = None,
) -> PrecisionStep | None:
    """A precision the runtime applied while loading (FP16/BF16 on a GPU, TensorRT's INT8), checked
    against ONNX Runtime's CPU FP32 on the model's samples; None when it was gated before the load,
    is fp32, or has no model.onnx or samples to be measured on."""
    model_file = version_dir / "model.onnx"
    already = any(s.precision == precision and s.figures is not None for s in decision.steps)
    if precision == "fp32" or already or not model_file.is_file():
        return None
    folder = _gate_samples_folder(version_dir)
    if folder is None:
        return None
    thresholds, compare = gate_for(config)

    def measured() -> tuple[GateFigures, str]:
        samples = load_calibration(folder, onnx_input_names(model_file), preprocess)
        figures = compare(run_onnx(model_file, samples), [backend.infer(s) for s in samples])
        return figures, " against onnxruntime cpu fp32"

    return _judged(precision, version_dir, runtime, thresholds, measured)


def _gate_samples_folder(version_dir: Path) -> Path | None:
    """validation/ when the model has one, else calibration/; None without either."""
    folders = [sample_folder(version_dir, f) for f in (VALIDATION_FOLDER, CALIBRATION_FOLDER)]
    return next((f for f in folders if f.is_dir()), None)


def _judged(
    precision: str,
    version_dir: Path,
    runtime: str,
    thresholds: GateThresholds,
    measured: Callable[[], tuple[GateFigures, str]],
) -> PrecisionStep:
    """Run a gate's measurement (figures, and what they were measured on) and judge the figures;
    a measurement that cannot run fails the step, with the details in the log."""
    try:
        figures, on = measured()
    except CalibrationError as exc:
        return PrecisionStep(precision, False, str(exc))
    except Exception:
        log.exception("%s gate of %s on %s failed to run", precision, version_dir.name, runtime)
        return PrecisionStep(precision, False, "the gate could not run; details in the server log")
    problem = failure(figures, thresholds)
    verdict = f"{runtime} gate failed: {problem}" if problem else f"{runtime} gate passed"
    step = PrecisionStep(precision, problem is None, f"{verdict}{on}", figures)
    log.info("%s version %s: %s", version_dir.parent.name, version_dir.name, step.line())
    return step


def build_int8(
    config: ModelConfig,
    version_dir: Path,
    cache_dir: Path,
    preprocess: ImagePreprocess | None = None,
    progress: Progress | None = None,
) -> tuple[PrecisionStep, Path | None]:
    """Build (or reuse) and gate the INT8 model of one version: (the step, its folder if it passed).

    The runtime that will serve it builds it: NNCF for a model on OpenVINO, ONNX Runtime's
    static quantization otherwise.
    """
    recipe = int8_recipe(config.backend)
    if recipe is None:  # tensorrt: its engine build calibrates, there is nothing to build ahead
        return PrecisionStep("int8", False, f"backend {config.backend} calibrates int8 at engine build"), None
    model_file = _source_model(version_dir, recipe.runtime)
    if model_file is None:
        wanted = "model.onnx or model.xml" if recipe.runtime == "openvino" else "model.onnx"
        return PrecisionStep("int8", False, f"int8 is built from {wanted}; none in this version"), None
    try:
        names = _input_names(model_file)
        samples = load_calibration(sample_folder(version_dir, CALIBRATION_FOLDER), names, preprocess)
        validation = sample_folder(version_dir, VALIDATION_FOLDER)
        held_out = load_calibration(validation, names, preprocess) if validation.is_dir() else None
    except CalibrationError as exc:
        return PrecisionStep("int8", False, str(exc)), None
    except Exception:  # an unreadable model: the backend's own load reports it in its words
        log.exception("int8: could not read the inputs of %s", version_dir.name)
        return PrecisionStep("int8", False, "could not read the model's inputs; details in the server log"), None
    thresholds, compare = gate_for(config)
    try:
        say = progress or (lambda text: log.info("%s version %s: %s", version_dir.parent.name, version_dir.name, text))
        result = plan_int8(model_file, samples, cache_dir, thresholds, recipe, compare, say, held_out)
    except Exception:
        # A quantizer failure falls back like a failed gate; the details (paths, the runtime's
        # exception) go to the server log, not to clients.
        log.exception("int8 quantization of %s failed", version_dir.name)
        return PrecisionStep("int8", False, "quantization failed (details in the server log)"), None
    log.info("%s version %s: %s", version_dir.parent.name, version_dir.name, result.step.line())
    return result.step, result.artifact.parent if result.artifact else None


def int8_recipe(backend: str) -> Int8Recipe | None:
    if backend in ("auto", "onnxruntime"):
        return ONNXRUNTIME_INT8
    if backend == "openvino":
        from backends.precision.quantize_openvino import OPENVINO_INT8

        return OPENVINO_INT8
    return None


DEFAULT_MIN_BOX_AGREEMENT = 0.9


def gate_for(config: ModelConfig) -> tuple[GateThresholds, Comparer]:
    """The thresholds and the comparison for this model.

    A db_text detector's probability map moves more under INT8 than its boxes do, so such a
    model is judged on the boxes its postprocess finds (cosine only when set explicitly).
    """
    gate = config.precision_gate
    post = config.preprocess and config.postprocess
    if not isinstance(post, DbTextConfig):
        thresholds = GateThresholds(
            gate.min_cosine, gate.max_abs_error, gate.min_top1_agreement, gate.min_box_agreement
        )
        return thresholds, measure
    thresholds = GateThresholds(
        gate.min_cosine if "min_cosine" in gate.model_fields_set else None,
        gate.max_abs_error,
        gate.min_top1_agreement,
        DEFAULT_MIN_BOX_AGREEMENT if gate.min_box_agreement is None else gate.min_box_agreement,
    )
    return thresholds, functools.partial(_measure_with_boxes, post)


def _measure_with_boxes(post: DbTextConfig, reference: Sequence[Outputs], candidate: Sequence[Outputs]) -> GateFigures:
    figures = measure(reference, candidate)
    agreement = box_agreement(
        [_db_text_boxes(post, o) for o in reference], [_db_text_boxes(post, o) for o in candidate]
    )
    return dataclasses.replace(figures, box_agreement=agreement)


def _db_text_boxes(post: DbTextConfig, outputs: Outputs) -> np.ndarray:
    """The detector's boxes (x1, y1, x2, y2 in map pixels) for one sample, as the postprocess finds them."""
    prob = outputs[post.output_name] if post.output_name else next(iter(outputs.values()))
    quads, _ = db_boxes(np.asarray(prob, np.float32).reshape(prob.shape[-2:]), post)
    return np.concatenate([quads.min(axis=1), quads.max(axis=1)], axis=1) if len(quads) else np.zeros((0, 4))


def _source_model(version_dir: Path, runtime: str) -> Path | None:
    names = ("model.onnx", "model.xml") if runtime == "openvino" else ("model.onnx",)
    return next((version_dir / n for n in names if (version_dir / n).is_file()), None)


def _input_names(model_file: Path) -> list[str]:
    if model_file.suffix == ".onnx":
        return onnx_input_names(model_file)
    return openvino_input_names(model_file)


def precision_cache_dir(cache_dir: Path | None) -> Path:
    """Where quantized artifacts are cached: below --cache-dir, else the user's cache folder."""
    return cache_root(cache_dir) / "precision"
