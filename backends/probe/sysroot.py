"""Reading the machine through an injectable root, so tests and `--sysroot` can present any host."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SysRoot:
    """A view of the file system below `root`; every probe reader goes through it."""

    root: Path = Path("/")

    @property
    def is_live(self) -> bool:
        """True when this is the machine we run on, so driver libraries describe the same host."""
        return self.root.resolve() == Path("/")

    def path(self, rel: str) -> Path:
        return self.root / rel.lstrip("/")

    def exists(self, rel: str) -> bool:
        return self.path(rel).exists()

    def read(self, rel: str) -> str | None:
        """File text, stripped; None when absent or unreadable."""
        try:
            return self.path(rel).read_text(errors="replace").strip()
        except OSError:
            return None

    def glob(self, pattern: str) -> list[str]:
        """Matches of a glob below the root, as root-relative paths, sorted naturally."""
        base = self.path("/")
        found = [str(p.relative_to(base)) for p in base.glob(pattern.lstrip("/"))]
        return sorted(found, key=natural_key)

    def read_int(self, rel: str) -> int | None:
        text = self.read(rel)
        if text is None:
            return None
        try:
            return int(text, 0)
        except ValueError:
            return None


def natural_key(text: str) -> list[object]:
    """Sort "card10" after "card2"."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def parse_key_values(text: str | None, sep: str | None = ":") -> dict[str, str]:
    """Lines of "key: value" (or whitespace-separated when sep is None) into a dict."""
    result: dict[str, str] = {}
    for line in (text or "").splitlines():
        if sep is None:
            key, _, value = line.strip().partition(" ")
        else:
            key, _, value = line.partition(sep)
        if key.strip():
            result[key.strip()] = value.strip()
    return result


def parse_cpu_list(text: str | None) -> list[int]:
    """ "0-3,6,8-9" -> [0, 1, 2, 3, 6, 8, 9]."""
    cpus: list[int] = []
    for part in (text or "").replace("\n", ",").split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            cpus.extend(range(int(low), int(high or low) + 1))
        except ValueError:
            continue
    return cpus
