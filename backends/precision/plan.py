"""Decide the precision a model serves at: build and gate INT8, else fall back, one step per attempt.

    result = plan_int8(model_file, samples, cache_dir, thresholds, ONNXRUNTIME_INT8)

A recipe says how one runtime quantizes and runs a model (ONNX Runtime static QDQ, OpenVINO
NNCF); the plan builds the INT8 artifact once per key (cached), runs FP32 and INT8 on the
same runtime over the calibration samples and applies the gate. A step records what was
tried, the measured figures and why it did or did not serve; the loader puts the steps into
the model's decision trail.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from backends.precision.cache import artifact_key, cached_artifact
from backends.precision.calibration import Sample, digest
from backends.precision.gate import GateFigures, GateThresholds, Outputs, failure, measure
from backends.precision.quantize_onnx import quantize_onnx, run_onnx
from backends.precision.quantize_onnx import runtime_version as onnxruntime_version

Quantizer = Callable[[Path, Path, Sequence[Sample]], None]
Runner = Callable[[Path, Sequence[Sample]], list[dict]]
Comparer = Callable[[Sequence[Outputs], Sequence[Outputs]], GateFigures]
Progress = Callable[[str], None]

log = logging.getLogger("switchyard.precision")


@dataclass(frozen=True)
class Int8Recipe:
    """How one runtime builds an INT8 model from a source model and runs both for the gate."""

    runtime: str  # the backend that serves the artifact: "onnxruntime", "openvino"
    cache_folder: str  # below the precision cache: artifacts of different runtimes never mix
    quantize: Quantizer
    run: Runner
    runtime_version: Callable[[], str]
    artifact_name: Callable[[Path], str]  # the artifact's file name, from the source's

    def with_quantizer(self, quantizer: Quantizer) -> Int8Recipe:
        return dataclasses.replace(self, quantize=quantizer)


ONNXRUNTIME_INT8 = Int8Recipe(
    "onnxruntime", "int8-onnx", quantize_onnx, run_onnx, onnxruntime_version, lambda source: source.name
)


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


def plan_int8(
    model_file: Path,
    samples: Sequence[Sample],
    cache_dir: Path,
    thresholds: GateThresholds,
    recipe: Int8Recipe = ONNXRUNTIME_INT8,
    compare: Comparer = measure,
    progress: Progress = log.info,
    gate_samples: Sequence[Sample] | None = None,
) -> Int8Result:
    """Quantize (or reuse the cached INT8 model), then gate it against FP32 on the calibration set.

    progress(text) is told when a build starts and ends, and when the gate runs: a build of a
    real model takes tens of seconds, which a person watching the load should be able to see.
    gate_samples: held-out samples to gate on (a validation set); default the calibration ones.
    """
    key = artifact_key(model_file, digest(samples), "int8", recipe.runtime_version())

    def build(out: Path) -> None:
        progress(f"quantizing {model_file.name} to int8 with {recipe.runtime} over {len(samples)} calibration samples")
        started = time.perf_counter()
        recipe.quantize(model_file, out, samples)
        progress(f"int8 {model_file.name} built in {time.perf_counter() - started:.1f}s (cached as {key})")

    artifact, built = cached_artifact(cache_dir / recipe.cache_folder, key, recipe.artifact_name(model_file), build)
    gate_on, which = (gate_samples, "validation") if gate_samples else (samples, "calibration")
    progress(f"gating int8 {model_file.name} against fp32 on {len(gate_on)} {which} samples")
    figures = compare(recipe.run(model_file, gate_on), recipe.run(artifact, gate_on))
    problem = failure(figures, thresholds)
    how = "built" if built else "reused the cached artifact"
    measured_on = f"{len(gate_on)} {which} samples"
    if problem:
        step = PrecisionStep("int8", False, f"{recipe.runtime} gate failed: {problem}; on {measured_on}", figures)
        return Int8Result(step, None, built)
    step = PrecisionStep("int8", True, f"{recipe.runtime} gate passed; {how}; on {measured_on}", figures)
    return Int8Result(step, artifact, built)
