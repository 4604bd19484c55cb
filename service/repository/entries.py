"""What the repository holds per model: its entry, its versions and their states."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from backends.base import ModelSignature
from protos.errors import ModelUnavailableError
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

    @property
    def signature(self) -> ModelSignature | None:
        return self.loaded.signature if self.loaded else None

    @property
    def ready_runner(self) -> ModelRunner:
        """The runner of a READY version (ModelRepository.get hands out only those); UNAVAILABLE otherwise."""
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

    @property
    def state(self) -> ModelState:
        states = {v.state for v in self.versions.values()}
        if ModelState.READY in states:
            return ModelState.READY
        if ModelState.LOADING in states:
            return ModelState.LOADING
        return ModelState.UNAVAILABLE
