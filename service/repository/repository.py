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
from service.repository.headroom import LOAD_FACTOR, headroom
from service.repository.loader import ModelLoader
from service.repository.names import check_model_name, check_version
from service.repository.summary import line_level, model_line
from service.repository.warmup import warm_up

log = logging.getLogger(__name__)


Listener = Callable[[ModelEntry], None]


class ModelRepository:
    def __init__(
        self,
        root: Path,
        loader: ModelLoader,
        only: list[str] | None = None,
        drain_seconds: float = 30.0,
        memory_factor: float = LOAD_FACTOR,
    ) -> None:
        self.root = root
        # A swap needs this many times the new version's file size free beside the serving one; 0: not checked.
        self.memory_factor = memory_factor
        # How long requests already running on a version that a reload replaced may take to finish.
        self.drain_seconds = drain_seconds
        # Reloads refused because the new versions failed, per model (the old ones kept serving).
        self.reload_failures: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}
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

    def _changed(self, entry: ModelEntry) -> None:
        """Notify for an entry that serves; one being built beside it stays quiet until it is swapped in."""
        if self._models.get(entry.name) is entry:
            self._notify(entry)

    def discover(self) -> list[str]:
        """Model names in the repository (folders holding a config.yaml)."""
        return self.wanted(self._scan().models)

    def _scan(self) -> Folders:
        if not self.root.is_dir():
            # The caller may be a client (RepositoryIndex): the path goes to the log only.
            log.error("model repository %s does not exist", self.root)
            raise ModelNotFoundError("the model repository folder does not exist")
        return scan(self.root)

    def wanted(self, names: list[str]) -> list[str]:
        """The names this repository serves (all, or the ones it was limited to)."""
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

    async def load_all(self, names: list[str] | None = None) -> None:
        """Load every model (or only `names`); a folder without config.yaml becomes an UNAVAILABLE entry saying why."""
        folders = self._scan()
        found = self.wanted(folders.models + folders.unconfigured)
        await asyncio.gather(*(self.load(name) for name in found if names is None or name in names))

    async def load(self, name: str) -> ModelEntry:
        """(Re)read config.yaml and load the versions its policy selects.

        A model that serves is reloaded beside itself (config `reload: swap`, the default): the
        new versions load and warm up, then new requests switch to them at once and the old
        ones drain (up to drain_seconds) before they unload. If the new ones fail, the old ones
        keep serving and the entry's last_reload_error says why. Returns the serving entry.
        Logs one line for the model once it has settled (summary.model_line).
        """
        path = self.root / check_model_name(name)
        if not is_model_folder(self.root, name):  # also a symlink leading out of the repository
            raise ModelNotFoundError(f"no model '{name}' in the repository")
        async with self._lock(name):  # an admin reload and the poller may ask at once
            return await self._reload(name, path)

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def _reload(self, name: str, path: Path) -> ModelEntry:
        old = self._models.get(name)
        entry = ModelEntry(name=name, path=path)
        if old is not None and old.state is ModelState.READY and await self._swaps(entry):
            return await self._swap(old, entry)
        self._models[name] = entry
        if old is not None:
            await self._close(old)  # replace: down while the new one loads
        await self._build(entry)
        # A folder without config.yaml is most often a model still being copied in: a warning.
        unconfigured = entry.config is None and not (entry.path / CONFIG).is_file()
        log.log(logging.WARNING if unconfigured else line_level(entry), "%s", model_line(entry))
        return entry

    async def _swaps(self, entry: ModelEntry) -> bool:
        """Whether a reload loads beside the serving entry: unless the new config asks for `reload: replace`."""
        if not (entry.path / CONFIG).is_file():
            return True
        try:
            config = await asyncio.to_thread(load_model_config, entry.path / CONFIG, f"{entry.name}/{CONFIG}")
        except SwitchyardError:
            return True  # a broken config never takes the serving one down
        return config.reload == "swap"

    async def _swap(self, old: ModelEntry, new: ModelEntry) -> ModelEntry:
        """Build `new` beside `old`; switch to it only when every version it selects is READY."""
        short = await asyncio.to_thread(self._shortfall, old, new)
        if short:
            return self._refuse(old, short)
        await self._build(new)
        if new.failure:
            await self._close(new)
            return self._refuse(old, new.failure)
        newest = max(new.versions.values(), key=lambda v: v.version)
        for number, version in old.versions.items():
            version.successor = new.versions.get(number, newest)
        if self._models.get(old.name) is old:
            self._models[old.name] = new
        self._notify(new)
        log.log(line_level(new), "%s (swapped in)", model_line(new))
        await self._close(old, self.drain_seconds)
        return new

    def _refuse(self, old: ModelEntry, why: str) -> ModelEntry:
        """A reload that did not happen: the serving entry stays, saying why (GetModel, metric, one log line)."""
        old.last_reload_error = clipped(why, 2000)
        self.reload_failures[old.name] = self.reload_failures.get(old.name, 0) + 1
        serving = ", ".join(str(n) for n, v in sorted(old.versions.items()) if v.state is ModelState.READY)
        log.error("model %s: reload failed, version(s) %s keep serving: %s", old.name, serving, why)
        self._notify(old)
        return old

    def _shortfall(self, old: ModelEntry, new: ModelEntry) -> str:
        """Why the device lacks the memory to load `new` beside `old`; empty when it has it or does not say."""
        if self.memory_factor <= 0:
            return ""
        try:
            config = load_model_config(new.path / CONFIG, f"{new.name}/{CONFIG}")
        except SwitchyardError:
            return ""  # the build says what is wrong with it
        for version in old.versions.values():
            if version.state is ModelState.READY and version.loaded is not None:
                device = version.loaded.device
                try:
                    available = [int(p.name) for p in new.path.iterdir() if p.is_dir() and p.name.isdigit()]
                    versions = config.version_policy.select(available)
                    room = headroom(new.path, versions, device, self._loader.sysroot, self.memory_factor)
                except OSError:
                    return ""  # files moving under us: the build reports what it finds
                return room.reason(device) if room is not None and not room.enough else ""
        return ""

    async def _build(self, entry: ModelEntry) -> None:
        """Read the entry's config.yaml and load and warm its versions; failures stay in the entry."""
        if not (entry.path / CONFIG).is_file():
            entry.reason = missing_config_reason(entry.path)
        else:
            await self._load_configured(entry)
        self._changed(entry)

    async def _load_configured(self, entry: ModelEntry) -> None:
        try:
            entry.config = await asyncio.to_thread(load_model_config, entry.path / CONFIG, f"{entry.name}/{CONFIG}")
            available = [int(p.name) for p in entry.path.iterdir() if p.is_dir() and p.name.isdigit()]
            numbers = entry.config.version_policy.select(available)
            if not available:
                raise ModelUnavailableError(f"no version folders (e.g. {entry.name}/1/model.onnx)")
            if not numbers:
                raise ModelUnavailableError(f"version_policy selects none of the versions {sorted(available)}")
        except SwitchyardError as exc:
            entry.reason = exc.message
            return
        for number in numbers:
            entry.versions[number] = ModelVersion(entry.name, number, config=entry.config)
        self._changed(entry)
        await asyncio.gather(*(self._load_version(entry, v) for v in entry.versions.values()))

    async def _load_version(self, entry: ModelEntry, version: ModelVersion) -> None:
        """Load and warm one version; the model's log line (in load) reports how it went."""
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
            await self._warm(entry, version)
        self._changed(entry)

    async def _warm(self, entry: ModelEntry, version: ModelVersion) -> None:
        """READY only once the config's warmup ran; a failed warmup leaves the version UNAVAILABLE."""
        try:
            version.warmup_seconds = await warm_up(version, entry.path)
        except Exception as exc:  # the runtime's own failure on a warmup request included
            version.state, version.reason = ModelState.UNAVAILABLE, _warmup_reason(exc, self.root)
            runner, version.runner = version.runner, None
            if runner is not None:
                await runner.close(0)
            return
        version.state = ModelState.READY
        assert version.loaded is not None
        self._loader.watch(version.loaded, lambda ready, why: self._backend_health(entry, version, ready, why))

    def _backend_health(self, entry: ModelEntry, version: ModelVersion, ready: bool, reason: str) -> None:
        """An isolated backend's process died (UNAVAILABLE with why) or is back (READY)."""
        if self._models.get(entry.name) is not entry or version.runner is None:
            return  # unloaded or replaced meanwhile
        version.state, version.reason = (ModelState.READY, "") if ready else (ModelState.UNAVAILABLE, reason)
        self._notify(entry)

    async def unload(self, name: str, timeout: float | None = None) -> None:
        """Drain the model's in-flight requests (up to timeout), then drop it."""
        self.entry(name)  # NOT_FOUND before waiting on a reload
        async with self._lock(name):
            entry = self.entry(name)
            del self._models[name]
            for version in entry.versions.values():
                version.state, version.reason, version.unloaded = ModelState.UNAVAILABLE, "unloaded", True
            self._notify(entry)
            await self._close(entry, timeout)

    async def _close(self, entry: ModelEntry, timeout: float | None = None) -> None:
        await asyncio.gather(*(v.runner.close(timeout) for v in entry.versions.values() if v.runner))

    async def close(self, timeout: float | None = None) -> None:
        await asyncio.gather(*(self._close(e, timeout) for e in list(self._models.values())))


def _warmup_reason(exc: Exception, root: Path) -> str:
    if isinstance(exc, SwitchyardError):
        return exc.message
    log.error("warmup failed unexpectedly", exc_info=exc)
    return f"warmup failed unexpectedly: {shown_text(str(exc), root) or 'no message'}"
