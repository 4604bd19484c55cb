"""The model repository: <root>/<model>/config.yaml and <root>/<model>/<version>/<artifact>.

Loads every model (each version on its own), keeps the ones that fail UNAVAILABLE
with their reason, and hands out ready runners. A broken model never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from backends.loading import shown_text
from protos.errors import ModelNotFoundError, ModelUnavailableError, SwitchyardError
from protos.text import clipped
from service.repository.config import load_model_config
from service.repository.entries import ModelEntry, ModelState, ModelVersion
from service.repository.folders import CONFIG, Folders, is_model_folder, missing_config_reason, scan
from service.repository.loader import ModelLoader
from service.repository.names import check_model_name, check_version
from service.repository.summary import line_level, model_line

log = logging.getLogger(__name__)


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
        return self._wanted(self._scan().models)

    def _scan(self) -> Folders:
        if not self.root.is_dir():
            # The caller may be a client (RepositoryIndex): the path goes to the log only.
            log.error("model repository %s does not exist", self.root)
            raise ModelNotFoundError("the model repository folder does not exist")
        return scan(self.root)

    def _wanted(self, names: list[str]) -> list[str]:
        return [n for n in names if not self._only or n in self._only]

    def names(self) -> list[str]:
        return sorted(self._models)

    def entries(self) -> list[ModelEntry]:
        return [self._models[n] for n in sorted(self._models)]

    def entry(self, name: str) -> ModelEntry:
        entry = self._models.get(name)
        if entry is None:
            # Only names that pass check_model_name are ever stored, so a hit needs no check.
            check_model_name(name)
            raise ModelNotFoundError(f"unknown model '{clipped(name)}'; the repository serves {self.names()}")
        return entry

    def get(self, name: str, version: str | int | None = None) -> ModelVersion:
        """A READY version: the newest when version is empty. NOT_FOUND / UNAVAILABLE otherwise."""
        if isinstance(version, str):
            check_version(version)
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
        number = int(version)
        found = entry.versions.get(number)
        if found is None:
            raise ModelNotFoundError(f"model '{name}' has no version {number}; versions: {sorted(entry.versions)}")
        if found.state is not ModelState.READY:
            raise ModelUnavailableError(f"model '{name}' version {number} is {found.state.value}: {found.reason}")
        return found

    async def load_all(self) -> None:
        """Load every model; a folder without config.yaml becomes an UNAVAILABLE entry saying why."""
        folders = self._scan()
        await asyncio.gather(*(self.load(name) for name in self._wanted(folders.models + folders.unconfigured)))

    async def load(self, name: str) -> ModelEntry:
        """(Re)read config.yaml and load the versions its policy selects; replaces a loaded model.

        Logs one line for the model once every version has settled (summary.model_line).
        """
        path = self.root / check_model_name(name)
        if not is_model_folder(self.root, name):  # also a symlink leading out of the repository
            raise ModelNotFoundError(f"no model '{name}' in the repository")
        old = self._models.get(name)
        entry = ModelEntry(name=name, path=path)
        self._models[name] = entry
        if not (path / CONFIG).is_file():
            entry.reason = missing_config_reason(path)
            log.warning("%s", model_line(entry))
        else:
            await self._load_configured(entry)
        if old:
            await self._close(old)
        return entry

    async def _load_configured(self, entry: ModelEntry) -> None:
        try:
            entry.config = load_model_config(entry.path / CONFIG, shown=f"{entry.name}/{CONFIG}")
            available = [int(p.name) for p in entry.path.iterdir() if p.is_dir() and p.name.isdigit()]
            numbers = entry.config.version_policy.select(available)
            if not available:
                raise ModelUnavailableError(f"no version folders (e.g. {entry.name}/1/model.onnx)")
            if not numbers:
                raise ModelUnavailableError(f"version_policy selects none of the versions {sorted(available)}")
        except SwitchyardError as exc:
            entry.reason = exc.message
        else:
            for number in numbers:
                entry.versions[number] = ModelVersion(entry.name, number, config=entry.config)
            self._notify(entry)
            await asyncio.gather(*(self._load_version(entry, v) for v in entry.versions.values()))
        self._notify(entry)
        log.log(line_level(entry), "%s", model_line(entry))

    async def _load_version(self, entry: ModelEntry, version: ModelVersion) -> None:
        """Load one version; the model's log line (in load) reports how it went."""
        assert entry.config is not None
        try:
            loaded = await asyncio.to_thread(
                self._loader.load, entry.name, entry.config, entry.path / str(version.version)
            )
        except SwitchyardError as exc:
            version.state, version.reason = ModelState.UNAVAILABLE, exc.message
        except Exception as exc:  # a runtime bug must not take the server down
            # The client reads the reason: the runtime's words, without Python's exception name or server paths.
            version.state = ModelState.UNAVAILABLE
            version.reason = f"failed unexpectedly: {shown_text(str(exc), self.root) or 'no message'}"
            log.exception("model %s version %s failed to load", entry.name, version.version)
        else:
            version.loaded = loaded
            version.runner = self._loader.make_runner(entry.name, version.version, entry.config, loaded)
            version.state = ModelState.READY
            self._loader.watch(loaded, lambda ready, why: self._backend_health(entry, version, ready, why))
        self._notify(entry)

    def _backend_health(self, entry: ModelEntry, version: ModelVersion, ready: bool, reason: str) -> None:
        """An isolated backend's process died (UNAVAILABLE with why) or is back (READY)."""
        if self._models.get(entry.name) is not entry or version.runner is None:
            return  # unloaded or replaced meanwhile
        version.state, version.reason = (ModelState.READY, "") if ready else (ModelState.UNAVAILABLE, reason)
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
