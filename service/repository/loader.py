"""From a model's config and version folder to a loaded backend and its runner.

Backend selection happens here: the hardware probe's report and the preferences
(server settings overlaid with the model's config) give ordered candidates
(backends/selection.py); backends/loading.py tries them with fallback and returns the
decision trail that GetModel shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backends.base import Backend, Device, ModelSignature, TensorSpec
from backends.loading import DecisionTrail, load_with_fallback
from backends.onnxruntime_options import onnxruntime_options
from backends.options import BackendOptions
from backends.precision.calibration import ImagePreprocess
from backends.probe import HardwareReport, probe
from backends.registry import create_backend
from backends.selection import Candidate, Preferences, select_candidates
from backends.timing import TimingCache, timing_cache_dir
from protos.errors import BackendLoadError, SwitchyardError
from service.repository.config import ModelConfig, TensorConfig
from service.repository.precision import PrecisionDecision, decide_precision, gate_loaded, precision_cache_dir
from service.repository.timing_inputs import timing_inputs
from service.scheduling.batcher import policy_from_config
from service.scheduling.isolation import MIB, IsolatedBackend, IsolationPolicy
from service.scheduling.runner import ModelRunner
from service.settings import ServerSettings
from service.vision.config import image_input_check
from service.vision.decode import decode_image
from service.vision.preprocess import Preprocessor

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    backend: Backend
    backend_name: str
    device: Device
    signature: ModelSignature
    load_seconds: float
    # Every candidate the selection considered and what became of it (GetModel, ModelConfig).
    trail: DecisionTrail
    # The precision it serves at (fp32, fp16, bf16, int8) after the gate and any fallback.
    precision: str = "fp32"

    @property
    def label(self) -> str:
        """The chosen route, e.g. "onnxruntime[CPU]@cpu"."""
        return self.trail.chosen_label


class ModelLoader:
    """Turns a model version folder into a loaded backend, choosing where it runs from the probe."""

    def __init__(self, settings: ServerSettings, report: HardwareReport | None = None) -> None:
        self._settings = settings
        self._report = report
        self._report_lock = threading.Lock()

    @property
    def report(self) -> HardwareReport:
        """The hardware probe, taken once (on first use) and shared by every model."""
        with self._report_lock:
            if self._report is None:
                self._report = probe(self._settings.probe_sysroot)
            return self._report

    def preferences(self, config: ModelConfig) -> Preferences:
        """The server's preferences overlaid with what the model's config.yaml sets."""
        settings = self._settings
        server = Preferences(
            backend=settings.backend,
            device=settings.device,
            strict=settings.strict,
            cache_dir=str(settings.cache_dir) if settings.cache_dir else None,
        )
        chosen: dict[str, Any] = {
            k: getattr(config, k)
            for k in ("backend", "device", "strict", "selection")  # precision: decide_precision
            if k in config.model_fields_set
        }
        if "providers" in config.onnxruntime.model_fields_set:
            chosen["providers"] = config.onnxruntime.providers
        return server.overlay(Preferences(**chosen))

    def load(self, name: str, config: ModelConfig, version_dir: Path) -> LoadedModel:
        prefs = self.preferences(config)
        base_options: dict[str, BackendOptions] = {
            "onnxruntime": onnxruntime_options(config.onnxruntime, config.instances),
            "openvino": config.openvino,
            "tensorrt": config.tensorrt,
        }
        started = time.perf_counter()
        decision = decide_precision(
            config, version_dir, self.report, self.precision_cache_dir, self.calibration_preprocess(config)
        )
        artifact_dir, candidates, precision = self._precision_candidates(decision, version_dir, prefs, base_options)
        # Reasons show paths relative to the repository (<root>/<model>/<version>), never absolute.
        load_args: dict[str, Any] = dict(
            create_backend=self.backend_factory(name, version_dir.name, config),
            strict=prefs.strict,
            selection=prefs.selection,
            relative_to=version_dir.parent.parent,
            warmup=timing_inputs(config),
            timing_cache=TimingCache(timing_cache_dir(self._settings.cache_dir), self.report),
        )
        backend, signature, chosen, trail = load_with_fallback(candidates, artifact_dir, **load_args)
        # Precisions a runtime applies while loading (GPU FP16, TensorRT INT8) are gated now.
        checked = gate_loaded(
            config, version_dir, decision, precision, backend, chosen.backend, self.calibration_preprocess(config)
        )
        if checked is not None:
            decision = dataclasses.replace(decision, steps=(*decision.steps, checked))
            if not checked.ok:
                backend.unload()
                if prefs.strict:
                    raise BackendLoadError(f"strict: {precision} rejected, no fallback: {checked.reason}")
                precision, exact = "fp32", prefs.model_copy(update={"precision": "fp32"})
                candidates = select_candidates(self.report, version_dir, exact, base_options)
                backend, signature, chosen, trail = load_with_fallback(candidates, version_dir, **load_args)
        seconds = time.perf_counter() - started
        trail = dataclasses.replace(trail, precision=(*decision.lines(), f"effective {precision}"))
        log.debug("model %s: %s", name, trail.summary())
        try:
            signature = apply_declared_tensors(name, signature, config)
        except SwitchyardError:
            backend.unload()
            raise
        return LoadedModel(backend, chosen.backend, chosen.device, signature, seconds, trail, precision)

    @property
    def sysroot(self) -> Path:
        """Where the system is read from (the probe's and the memory headroom's /)."""
        return self._settings.probe_sysroot

    @property
    def precision_cache_dir(self) -> Path:
        return precision_cache_dir(self._settings.cache_dir)

    def _precision_candidates(
        self,
        decision: PrecisionDecision,
        version_dir: Path,
        prefs: Preferences,
        base_options: dict[str, BackendOptions],
    ) -> tuple[Path, list[Candidate], str]:
        """(folder to load from, candidates, precision) for the first precision of the decision some route offers."""
        if decision.int8_artifact_dir is not None:
            int8_prefs = prefs.model_copy(update={"precision": None})
            return (
                decision.int8_artifact_dir,
                select_candidates(self.report, decision.int8_artifact_dir, int8_prefs, base_options),
                "int8",
            )
        # Strict: only the first precision; otherwise fall back along the policy's order.
        order = decision.order[:1] if prefs.strict else decision.order
        candidates: list[Candidate] = []
        for precision in order:
            # Without a request the backends keep their exact-FP32 default.
            wanted = None if decision.requested is None else precision
            candidates = select_candidates(
                self.report, version_dir, prefs.model_copy(update={"precision": wanted}), base_options
            )
            if any(c.viable for c in candidates):
                return version_dir, candidates, precision
        return version_dir, candidates, order[-1]

    @staticmethod
    def calibration_preprocess(config: ModelConfig) -> ImagePreprocess | None:
        """Calibration images go through the model's own preprocess, as served images do."""
        if config.preprocess is None:
            return None
        preprocessor = Preprocessor(config.preprocess)

        def run(data: bytes) -> np.ndarray:
            # The serving decoder (JPEG/PNG, header checked against the pixel limit), not a second stack.
            return preprocessor(decode_image(data, label="calibration image"))[0]

        return run

    @staticmethod
    def backend_factory(name: str, version: str, config: ModelConfig) -> Callable[[str], Backend]:
        """Inline: the runtime's backend itself. Process: a proxy running it in child processes."""
        if config.isolation == "inline":
            return create_backend
        process = config.process
        policy = IsolationPolicy(
            processes=config.instances,
            restart_backoff_s=process.restart_backoff_ms / 1000,
            restart_backoff_max_s=process.restart_backoff_max_ms / 1000,
            max_segment_bytes=process.shared_memory_mb * MIB,
            min_segment_bytes=min(MIB, process.shared_memory_mb * MIB),
            max_batch_size=config.max_batch_size,
            load_timeout_s=process.load_timeout_s,
        )
        return lambda runtime: IsolatedBackend(runtime, name, version, policy)

    @staticmethod
    def watch(loaded: LoadedModel, on_change: Callable[[bool, str], None]) -> None:
        """on_change(ready, reason) on the calling event loop whenever an isolated backend's process
        dies or all are back; nothing for an inline backend."""
        backend = loaded.backend
        if isinstance(backend, IsolatedBackend):
            loop = asyncio.get_running_loop()

            def hop(ready: bool, reason: str) -> None:
                with contextlib.suppress(RuntimeError):  # the loop closed: the server has stopped
                    loop.call_soon_threadsafe(on_change, ready, reason)

            backend.watch(hop)

    def make_runner(self, name: str, version: int, config: ModelConfig, loaded: LoadedModel) -> ModelRunner:
        # Scheduling: every runner queues through a DynamicBatcher; it combines
        # requests only when config.yaml sets dynamic_batching and max_batch_size > 0.
        return ModelRunner(
            name,
            version,
            loaded.backend,
            loaded.signature,
            max_batch_size=config.max_batch_size,
            instances=config.instances,
            device=str(loaded.device),
            inline_below_s=self._settings.inline_compute_us / 1e6,
            batching=policy_from_config(config.max_batch_size, config.dynamic_batching),
            input_check=image_input_check(name, config.preprocess, [t.name for t in loaded.signature.inputs])
            if config.preprocess is not None
            else None,
        )


def apply_declared_tensors(name: str, signature: ModelSignature, config: ModelConfig) -> ModelSignature:
    """Let config.yaml's inputs/outputs narrow the model's own; a name or datatype mismatch is an error."""

    def merge(declared: list[TensorConfig] | None, actual: tuple[TensorSpec, ...], kind: str):
        if declared is None:
            return actual
        by_name = {t.name: t for t in actual}
        merged = []
        for tensor in declared:
            real = by_name.get(tensor.name)
            if real is None:
                raise BackendLoadError(
                    f"config.yaml declares {kind} '{tensor.name}' but the model's {kind}s are {sorted(by_name)}"
                )
            if real.datatype != tensor.datatype:
                raise BackendLoadError(
                    f"config.yaml declares {kind} '{tensor.name}' as {tensor.datatype}, the model has {real.datatype}"
                )
            shape = ([-1] if config.max_batch_size else []) + list(tensor.shape)
            if len(shape) != len(real.shape):
                raise BackendLoadError(
                    f"config.yaml declares {kind} '{tensor.name}' with rank {len(shape)} "
                    f"(batch dim included), the model has rank {len(real.shape)}"
                )
            merged.append(TensorSpec(tensor.name, tensor.datatype, tuple(shape)))
        return tuple(merged)

    return ModelSignature(
        inputs=merge(config.inputs, signature.inputs, "input"),
        outputs=merge(config.outputs, signature.outputs, "output"),
        runtime_detail=signature.runtime_detail,
        extra=signature.extra,
    )
