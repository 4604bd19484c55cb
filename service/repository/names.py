"""What a model name and a version may be: the one rule every RPC and the repository's folder scan apply.

A model name is a single plain folder name, so no request can point the repository at another
path: no separators, no "..", no leading dot, no control characters. A version is decimal
digits (or empty for the newest).
"""

from __future__ import annotations

import re
from pathlib import Path

from protos.errors import InvalidInputError
from protos.text import clipped

MAX_NAME = 128
MAX_VERSION_DIGITS = 18
_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_NAME - 1}}}")
NAME_RULE = (
    f"a model name is 1 to {MAX_NAME} characters: letters, digits, '_', '.' and '-', "
    "starting with a letter or digit, without '..'"
)


def is_model_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None and ".." not in name


def check_model_name(name: str) -> str:
    """`name`, or INVALID_ARGUMENT naming the rule it breaks."""
    if not is_model_name(name):
        if not name:
            raise InvalidInputError(f"the model name is empty; {NAME_RULE}")
        raise InvalidInputError(f"model name '{clipped(name)}' is not valid: {NAME_RULE}")
    return name


def check_version(version: str) -> str:
    """`version` if it is empty or decimal digits; INVALID_ARGUMENT otherwise."""
    if version and not (version.isascii() and version.isdigit() and len(version) <= MAX_VERSION_DIGITS):
        raise InvalidInputError(
            f"version '{clipped(version)}' is not valid: a version is up to {MAX_VERSION_DIGITS} digits "
            "(0-9), or empty for the newest"
        )
    return version


def inside(root: Path, path: Path) -> bool:
    """Whether `path`, with every symlink followed, lies inside `root`."""
    return path.resolve().is_relative_to(root.resolve())
