"""Which folders of the repository are models, and what to tell the operator about those that are not.

A model is a folder holding config.yaml. A folder without one is not skipped in silence:
it is reported (a warning, and an UNAVAILABLE row with the reason below) because it is
most often a model someone meant to serve, e.g. copied from a Triton repository.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from service.repository.names import NAME_RULE, inside, is_model_name

log = logging.getLogger(__name__)

CONFIG = "config.yaml"
_DEFAULTS = "an empty config.yaml serves the model with defaults read from the artifact"
_SEE = "see README 'Model repository'"
# Filesystem bookkeeping rather than anyone's model: ext4 puts it at the root of every volume.
_NOT_MODELS = frozenset({"lost+found"})


@dataclass(frozen=True)
class Folders:
    models: list[str]  # folders holding config.yaml
    unconfigured: list[str]  # folders without it


def is_model_folder(root: Path, name: str) -> bool:
    """A folder of the repository that may hold a model: its name is a model name (names.py: not
    hidden, not a path) and it lies inside the repository even through symlinks."""
    path = root / name
    return is_model_name(name) and path.is_dir() and inside(root, path)


def scan(root: Path) -> Folders:
    """The repository's model folders, by name; hidden ones (".git", ".cache") are not looked at."""
    models: list[str] = []
    unconfigured: list[str] = []
    for path in sorted(root.iterdir()):
        if not path.is_dir() or path.name.startswith(".") or path.name in _NOT_MODELS:
            continue
        if not is_model_folder(root, path.name):
            # A name no request could address, or a symlink leading out of the repository.
            log.warning("not serving folder %r: %s, and it must lie inside the repository", path.name, NAME_RULE)
            continue
        (models if (path / CONFIG).is_file() else unconfigured).append(path.name)
    return Folders(models, unconfigured)


def missing_config_reason(folder: Path) -> str:
    """Why a folder without config.yaml is not served, and what to write instead."""
    if (folder / "config.pbtxt").is_file():
        return f"found config.pbtxt (Triton): Switchyard reads {CONFIG}; {_DEFAULTS}; {_SEE}"
    if (folder / "config.yml").is_file():
        return f"found config.yml: Switchyard reads {CONFIG} (rename it); {_SEE}"
    return f"no {CONFIG}: Switchyard serves folders that hold one; {_DEFAULTS}; {_SEE}"
