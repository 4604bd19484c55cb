"""The model repository: <root>/<model>/config.yaml and <root>/<model>/<version>/<artifact>.

Loads every model (each version on its own), keeps the ones that fail UNAVAILABLE
with their reason, and hands out ready runners. A broken model never stops the others.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from backends.base import ModelSignature
from protos.errors import ModelNotFoundError, ModelUnavailableError, SwitchyardError
from service.repository.config import ModelConfig, load_model_config
from service.repository.loader import LoadedModel, ModelLoader
from service.scheduling.runner import ModelRunner

log = logging.getLogger(__name__)


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


@dataclass
class ModelEntry:
    name: str
    path: Path
    config: ModelConfig | None = None
    # Set when config.yaml itself is broken (then there are no versions to load).
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


Listener = Callable[[ModelEntry], None]


class ModelRepository:
    def __init__(self, root: Path, loader: ModelLoader, only: list[str] | None = None) -> None:
        self.root = root
        self._loader = loader
        self._only = set(only or ())
        self._models: dict[str, ModelEntry] = {}
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """Called with a model's entry whenever one of its versions changes state."""
        self._listeners.append(listener)

    def _notify(self, entry: ModelEntry) -> None:
        for listener in self._listeners:
            listener(entry)

    def discover(self) -> list[str]:
        """Model names in the repository (folders holding a config.yaml)."""
        if not self.root.is_dir():
            raise ModelNotFoundError(f"model repository {self.root} does not exist")
        names = sorted(p.parent.name for p in self.root.glob("*/config.yaml"))
        return [n for n in names if not self._only or n in self._only]

    def names(self) -> list[str]:
        return sorted(self._models)

    def entries(self) -> list[ModelEntry]:
        return [self._models[n] for n in sorted(self._models)]

    def entry(self, name: str) -> ModelEntry:
        entry = self._models.get(name)
        if entry is None:
            raise ModelNotFoundError(f"unknown model '{name}'; the repository serves {self.names()}")
        return entry

    def get(self, name: str, version: str | int | None = None) -> ModelVersion:
        """A READY version: the newest when version is empty. NOT_FOUND / UNAVAILABLE otherwise."""
        entry = self.entry(name)
        if entry.reason:
            raise ModelUnavailableError(f"model '{name}' is unavailable: {entry.reason}")
        if version in (None, "", 0):
            ready = [v for v in entry.versions.values() if v.state is ModelState.READY]
            if ready:
                return max(ready, key=lambda v: v.version)
            reasons = "; ".join(
                f"version {v.version}: {v.state.value} {v.reason}".strip() for v in entry.versions.values()
            )
            raise ModelUnavailableError(f"model '{name}' has no ready version ({reasons or 'no versions'})")
        try:
            number = int(version)
        except ValueError:
            raise ModelNotFoundError(f"model '{name}': version '{version}' is not a number") from None
        found = entry.versions.get(number)
        if found is None:
            raise ModelNotFoundError(f"model '{name}' has no version {number}; versions: {sorted(entry.versions)}")
        if found.state is not ModelState.READY:
            raise ModelUnavailableError(f"model '{name}' version {number} is {found.state.value}: {found.reason}")
        return found

    async def load_all(self) -> None:
        await asyncio.gather(*(self.load(name) for name in self.discover()))

    async def load(self, name: str) -> ModelEntry:
        """(Re)read config.yaml and load the versions its policy selects; replaces a loaded model."""
        path = self.root / name
        if not (path / "config.yaml").is_file():
            raise ModelNotFoundError(f"no model '{name}' in repository {self.root}")
        old = self._models.get(name)
        entry = ModelEntry(name=name, path=path)
        self._models[name] = entry
        try:
            entry.config = load_model_config(path / "config.yaml")
            numbers = entry.config.version_policy.select(
                [int(p.name) for p in path.iterdir() if p.is_dir() and p.name.isdigit()]
            )
            if not numbers:
                raise ModelUnavailableError(f"{path}: no version folders (e.g. {path}/1/model.onnx)")
        except SwitchyardError as exc:
            entry.reason = exc.message
            log.error("model %s: %s", name, exc.message)
            self._notify(entry)
            if old:
                await self._close(old)
            return entry
        for number in numbers:
            entry.versions[number] = ModelVersion(name, number, config=entry.config)
        self._notify(entry)
        await asyncio.gather(*(self._load_version(entry, v) for v in entry.versions.values()))
        if old:
            await self._close(old)
        return entry

    async def _load_version(self, entry: ModelEntry, version: ModelVersion) -> None:
        assert entry.config is not None
        started = time.perf_counter()
        try:
            loaded = await asyncio.to_thread(
                self._loader.load, entry.name, entry.config, entry.path / str(version.version)
            )
        except SwitchyardError as exc:
            version.state, version.reason = ModelState.UNAVAILABLE, exc.message
            log.error("model %s version %s unavailable: %s", entry.name, version.version, exc.message)
        except Exception as exc:  # a runtime bug must not take the server down
            version.state, version.reason = ModelState.UNAVAILABLE, f"{type(exc).__name__}: {exc}"
            log.exception("model %s version %s failed to load", entry.name, version.version)
        else:
            version.loaded = loaded
            version.runner = self._loader.make_runner(entry.name, version.version, entry.config, loaded)
            version.state = ModelState.READY
            log.info(
                "model %s version %s READY on %s/%s in %.2fs",
                entry.name,
                version.version,
                loaded.backend_name,
                loaded.device,
                time.perf_counter() - started,
            )
        self._notify(entry)

    async def unload(self, name: str, timeout: float | None = None) -> None:
        """Drain the model's in-flight requests (up to timeout), then drop it."""
        entry = self.entry(name)
        del self._models[name]
        for version in entry.versions.values():
            version.state, version.reason = ModelState.UNAVAILABLE, "unloaded"
        self._notify(entry)
        await self._close(entry, timeout)

    async def _close(self, entry: ModelEntry, timeout: float | None = None) -> None:
        await asyncio.gather(*(v.runner.close(timeout) for v in entry.versions.values() if v.runner))

    async def close(self, timeout: float | None = None) -> None:
        await asyncio.gather(*(self._close(e, timeout) for e in list(self._models.values())))
