"""What the repository holds per model: its entry, its versions and their states."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from backends.base import ModelSignature
from protos.errors import ModelNotFoundError, ModelUnavailableError
from service.repository.config import ModelConfig
from service.repository.loader import LoadedModel
from service.scheduling.runner import ModelRunner


class ModelState(enum.Enum):
    LOADING = "LOADING"
    READY = "READY"
    UNAVAILABLE = "UNAVAILABLE"


@dataclass
class ModelVersion:
    name: str
    version: int
    state: ModelState = ModelState.LOADING
    reason: str = ""
    config: ModelConfig | None = None
    loaded: LoadedModel | None = None
    runner: ModelRunner | None = None
    # Seconds the config's warmup took (None: no warmup ran).
    warmup_seconds: float | None = None
    # Set when a reload swapped this version out: a request that looked it up just before the
    # swap runs on its replacement instead of failing on a runner that is closing.
    successor: ModelVersion | None = None
    # Set when its model was unloaded: a request that looked it up just before gets NOT_FOUND,
    # as every request after it does, rather than UNAVAILABLE from a closing runner.
    unloaded: bool = False

    @property
    def signature(self) -> ModelSignature | None:
        return self.loaded.signature if self.loaded else None

    @property
    def ready_runner(self) -> ModelRunner:
        """The runner of a READY version (ModelRepository.get hands out only those); UNAVAILABLE otherwise."""
        if self.successor is not None:
            return self.successor.ready_runner
        if self.unloaded:
            raise ModelNotFoundError(f"model '{self.name}' was unloaded")
        if self.runner is None:
            raise ModelUnavailableError(f"model '{self.name}' version {self.version} is {self.state.value}: no runner")
        return self.runner


@dataclass
class ModelEntry:
    name: str
    path: Path
    config: ModelConfig | None = None
    # Set when there are no versions to load: config.yaml is broken or missing.
    reason: str = ""
    versions: dict[int, ModelVersion] = field(default_factory=dict)
    # Why the latest reload was refused while this entry kept serving (cleared by a reload that succeeds).
    last_reload_error: str = ""

    @property
    def failure(self) -> str:
        """Why the entry is not fully READY: its own reason or each failed version's, empty when all are READY."""
        if self.reason:
            return self.reason
        return "; ".join(
            f"version {n}: {v.reason or v.state.value}"
            for n, v in sorted(self.versions.items())
            if v.state is not ModelState.READY
        )

    @property
    def state(self) -> ModelState:
        states = {v.state for v in self.versions.values()}
        if ModelState.READY in states:
            return ModelState.READY
        if ModelState.LOADING in states:
            return ModelState.LOADING
        return ModelState.UNAVAILABLE
