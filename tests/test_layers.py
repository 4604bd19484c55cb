"""Layers point down only: every import in protos/, backends/, service/ and clients/ (including
imports inside functions) is checked against the house rules, and every offending edge is
printed as file:line -> module."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("protos", "backends", "service", "clients")


def _forbidden(importer: str, imported: str) -> str | None:
    """Why `importer` (a dotted module) may not import `imported`, or None if it may."""
    top, target = importer.split(".")[0], imported.split(".")[0]
    if target == "tests":
        return "nothing imports tests"
    if top == "protos" and target in {"backends", "service", "clients"}:
        return "protos import nothing above them"
    if top == "clients" and target in {"backends", "service"}:
        return "clients import protos only"
    if top == "backends" and target in {"service", "clients", "grpc"}:
        return "backends know nothing of the server, the clients or gRPC"
    if top == "service" and target == "clients" and not importer.startswith("service.cli."):
        return "only service.cli imports clients"
    if importer.startswith("service.scheduling.") and (target == "grpc" or imported.startswith("service.rpc")):
        return "the scheduler knows nothing of gRPC"
    return None


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> Iterator[tuple[int, str]]:
    """(line, absolute module) for every import statement anywhere in the file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                yield node.lineno, ".".join([*base, *([node.module] if node.module else [])])
            else:
                yield node.lineno, node.module or ""


def _sources() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def test_every_import_points_down():
    offending = []
    checked = 0
    for path in _sources():
        module = _module_name(path)
        for line, imported in _imports(path, module):
            checked += 1
            reason = _forbidden(module, imported)
            if reason:
                offending.append(f"{path.relative_to(ROOT)}:{line}: {module} -> {imported} ({reason})")
    print("\n".join(offending))
    assert checked > 500, "the walk found too few imports: is ROOT right?"
    assert not offending, "imports that point up:\n" + "\n".join(offending)


def test_the_rules_catch_what_they_are_meant_to():
    """The rule table itself, so a typo in it cannot turn the walk into a no-op."""
    assert _forbidden("protos.codec", "service.rpc.status")
    assert _forbidden("clients.video", "backends.base")
    assert _forbidden("backends.onnxruntime_backend", "grpc")
    assert _forbidden("backends.loading", "service.settings")
    assert _forbidden("service.vision.annotate", "clients.video_messages")
    assert _forbidden("service.scheduling.runner", "grpc")
    assert _forbidden("service.scheduling.runner", "service.rpc.status")
    assert _forbidden("service.server", "tests.fixtures.clocks")
    assert not _forbidden("service.cli.stream", "clients.video")
    assert not _forbidden("service.rpc.status", "grpc")
    assert not _forbidden("clients.request", "protos.codec")
    assert not _forbidden("backends.loading", "protos.errors")
