"""Repository polling: notice added, changed and removed models and apply them by load, warm up, swap.

A model's fingerprint covers its config.yaml and every file under its version folders, by
content: a file is hashed again only when its size or mtime changed, so a poll of an
unchanged repository reads directory entries, not artifacts. Scanning and hashing run in a
thread, off the event loop. A change is applied once; if the reload fails (the old version
keeps serving) the next change to the files tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from service.repository.folders import CONFIG, is_model_folder, scan
from service.repository.repository import ModelRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Stamp:
    size: int
    mtime_ns: int
    digest: str


@dataclass(frozen=True)
class Snapshot:
    # Models with a config.yaml, by name, and the fingerprint of their files.
    models: dict[str, str]


class Fingerprints:
    """Content fingerprints of model folders, remembering each file's digest by (size, mtime)."""

    def __init__(self) -> None:
        self._stamps: dict[Path, _Stamp] = {}

    def snapshot(self, root: Path) -> Snapshot:
        stamps: dict[Path, _Stamp] = {}
        models = {name: self._model(root / name, stamps) for name in scan(root).models}
        self._stamps = stamps  # files gone since the last poll are forgotten
        return Snapshot(models)

    def _model(self, folder: Path, stamps: dict[Path, _Stamp]) -> str:
        lines = []
        for path in _files(folder):
            try:
                stamp = self._stamp(path)
            except OSError as exc:  # removed or unreadable mid-poll: the next poll sees it settled
                lines.append(f"{path.relative_to(folder)}:unreadable:{exc.errno}")
                continue
            stamps[path] = stamp
            lines.append(f"{path.relative_to(folder)}:{stamp.digest}")
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()

    def _stamp(self, path: Path) -> _Stamp:
        info = path.stat()
        known = self._stamps.get(path)
        if known is not None and (known.size, known.mtime_ns) == (info.st_size, info.st_mtime_ns):
            return known
        with path.open("rb") as file:
            digest = hashlib.file_digest(file, "sha256").hexdigest()
        return _Stamp(info.st_size, info.st_mtime_ns, digest)


# A file being downloaded by a sync tool (rclone writes NAME.XXXX.partial, then renames it):
# not part of the model until it has its final name, so it neither triggers nor joins a reload.
_IN_PROGRESS = ".partial"


def _files(folder: Path) -> list[Path]:
    """config.yaml and every file below the version folders (symlinked artifacts followed)."""
    found = [folder / CONFIG]
    for version in sorted(folder.iterdir()):
        if version.is_dir() and version.name.isdigit():
            found += sorted(p for p in version.rglob("*") if p.is_file() and not p.name.endswith(_IN_PROGRESS))
    return found


class RepositoryWatcher:
    """Polls the repository every `interval` seconds; `poll` applies one round of changes."""

    def __init__(self, repository: ModelRepository, interval: float, add_new: bool = True) -> None:
        self._repository = repository
        self.interval = interval
        # explicit model control: only models already loaded are followed, none are added.
        self._add_new = add_new
        self._prints = Fingerprints()
        self._applied: dict[str, str] = {}
        self._task: asyncio.Task | None = None

    async def baseline(self) -> None:
        """Remember the repository as it is now (call before the first load, so no change is missed)."""
        snapshot = await asyncio.to_thread(self._prints.snapshot, self._repository.root)
        self._applied = dict(snapshot.models)

    async def poll(self) -> list[str]:
        """Apply what changed since the last poll; returns the models loaded or unloaded."""
        snapshot = await asyncio.to_thread(self._prints.snapshot, self._repository.root)
        served = set(self._repository.names())
        acted = []
        for name in self._repository.wanted(sorted(snapshot.models)):
            fingerprint = snapshot.models[name]
            new = name not in served
            if (new and not self._add_new) or (not new and self._applied.get(name) == fingerprint):
                continue
            self._applied[name] = fingerprint  # applied once; a failure retries when the files change again
            log.info("model %s: %s in the repository, loading", name, "new" if new else "changed")
            try:
                await self._repository.load(name)
            except Exception:  # one model's trouble must not stop the poller
                log.exception("model %s: reload after a repository change failed", name)
            acted.append(name)
        for name in sorted(served - set(snapshot.models)):
            if is_model_folder(self._repository.root, name):
                continue  # still there (e.g. its config.yaml is being rewritten): not a removal
            if name in self._repository.names():
                log.info("model %s: its folder is gone from the repository, unloading", name)
                await self._repository.unload(name, timeout=self._repository.drain_seconds)
                self._applied.pop(name, None)
                acted.append(name)
        return acted

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="repository-poll")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)  # the poll interval itself, not a synchronisation
            try:
                await self.poll()
            except Exception:
                log.exception("polling the model repository failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
