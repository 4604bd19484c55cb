"""Decide the precision a model serves at: build and gate INT8, else fall back, one step per attempt.

    decision = plan_int8_onnx(model_file, samples, cache_dir, thresholds)

A step records what was tried, the measured gate figures and why it did or did not serve;
the loader puts the steps into the model's decision trail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from backends.precision.cache import artifact_key, cached_artifact
from backends.precision.calibration import Sample, digest
from backends.precision.gate import GateFigures, GateThresholds, failure, measure
from backends.precision.quantize_onnx import quantize_onnx, run_onnx, runtime_version

Quantizer = Callable[[Path, Path, Sequence[Sample]], None]


@dataclass(frozen=True)
class PrecisionStep:
    precision: str
    ok: bool
    reason: str = ""
    figures: GateFigures | None = None

    def line(self) -> str:
        verdict = "serves" if self.ok else "rejected"
        measured = f" [{self.figures.text()}]" if self.figures else ""
        return f"{self.precision}: {verdict}{measured}" + (f" ({self.reason})" if self.reason else "")


@dataclass(frozen=True)
class Int8Result:
    step: PrecisionStep
    artifact: Path | None  # the quantized model file when the gate passed
    built: bool  # False: taken from the cache


def plan_int8_onnx(
    model_file: Path,
    samples: Sequence[Sample],
    cache_dir: Path,
    thresholds: GateThresholds,
    quantizer: Quantizer = quantize_onnx,
) -> Int8Result:
    """Quantize (or reuse the cached INT8 model), then gate it against FP32 on the calibration set."""
    key = artifact_key(model_file, digest(samples), "int8", runtime_version())
    artifact, built = cached_artifact(cache_dir, key, model_file.name, lambda out: quantizer(model_file, out, samples))
    figures = measure(run_onnx(model_file, samples), run_onnx(artifact, samples))
    problem = failure(figures, thresholds)
    if problem:
        return Int8Result(PrecisionStep("int8", False, f"gate failed: {problem}", figures), None, built)
    how = "built" if built else "reused the cached artifact"
    return Int8Result(PrecisionStep("int8", True, f"gate passed; {how}", figures), artifact, built)
