"""From a model's config and version folder to a loaded backend and its runner.

This is the seam where backend selection happens: the loader asks for ordered
candidates, tries each, and records the decision trail shown by GetModel.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from backends.base import Backend, Device, ModelSignature, TensorSpec
from backends.errors import BackendLoadError, SwitchyardError
from backends.registry import BACKENDS, DEFAULT_ORDER, create_backend, is_installed
from service.config import ModelConfig, TensorConfig
from service.runner import ModelRunner
from service.settings import ServerSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SelectionStep:
    backend: str
    device: str
    outcome: str  # chosen, failed, skipped
    reason: str = ""
    seconds: float = 0.0


@dataclass
class LoadedModel:
    backend: Backend
    backend_name: str
    device: Device
    signature: ModelSignature
    artifact: Path
    load_seconds: float
    trail: list[SelectionStep] = field(default_factory=list)


class ModelLoader:
    def __init__(self, settings: ServerSettings) -> None:
        self._settings = settings

    def _preferred_backends(self, config: ModelConfig) -> list[str]:
        choice = config.backend if config.backend != "auto" else self._settings.backend
        return [choice] if choice != "auto" else list(DEFAULT_ORDER)

    def _device(self, config: ModelConfig) -> Device:
        text = config.device if config.device != "auto" else self._settings.device
        return Device.parse("cpu" if text == "auto" else text)

    def load(self, name: str, config: ModelConfig, version_dir: Path) -> LoadedModel:
        strict = self._settings.strict if config.strict is None else config.strict
        device = self._device(config)
        trail: list[SelectionStep] = []
        failures: list[str] = []
        for backend_name in self._preferred_backends(config):
            entry = BACKENDS.get(backend_name)
            artifact = next(
                (version_dir / f for f in entry.formats if (version_dir / f).is_file()), None
            ) if entry else None
            if entry is None or not is_installed(backend_name) or artifact is None:
                why = (
                    "unknown backend" if entry is None
                    else "runtime not installed" if not is_installed(backend_name)
                    else f"no artifact it reads in {version_dir.name}/ (looked for {', '.join(entry.formats)})"
                )
                trail.append(SelectionStep(backend_name, str(device), "skipped", why))
                continue
            started = time.perf_counter()
            backend = create_backend(backend_name)
            try:
                signature = backend.load(artifact, self._options(config, backend_name), device)
                signature = apply_declared_tensors(name, signature, config)
            except SwitchyardError as exc:
                seconds = time.perf_counter() - started
                trail.append(SelectionStep(backend_name, str(device), "failed", exc.message, seconds))
                failures.append(f"{backend_name} on {device}: {exc.message}")
                if strict:
                    break
                continue
            seconds = time.perf_counter() - started
            trail.append(SelectionStep(backend_name, str(device), "chosen", signature.runtime_detail, seconds))
            return LoadedModel(backend, backend_name, device, signature, artifact, seconds, trail)
        detail = "; ".join(failures) or "; ".join(f"{s.backend}: {s.reason}" for s in trail)
        raise BackendLoadError(f"no backend could load model '{name}'{' (strict)' if strict else ''}: {detail}")

    def _options(self, config: ModelConfig, backend_name: str):
        options = getattr(config, backend_name)
        if backend_name == "openvino" and options.cache_dir is None and self._settings.cache_dir:
            options = options.model_copy(update={"cache_dir": str(self._settings.cache_dir / "openvino")})
        return options

    def make_runner(self, name: str, version: int, config: ModelConfig, loaded: LoadedModel) -> ModelRunner:
        return ModelRunner(
            name, version, loaded.backend, loaded.signature,
            max_batch_size=config.max_batch_size, instances=config.instances,
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
