"""The distribution: a light client base install, extras that bring the server, one version.

The wheel is built from a copy of the sources (an in-tree build would write build/ and
*.egg-info into the checkout) without build isolation, so it needs no network (~3 s).
"""

from __future__ import annotations

import ast
import email.parser
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from email.message import Message
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto
from packaging.requirements import Requirement

from tests.conftest import ROOT, serving, write_model
from tests.fixtures import models

BASE = {"grpcio", "protobuf", "numpy", "typer", "rich"}
HARDWARE = ("cpu", "nvidia", "amd", "intel")
EXTRAS = {"video", "server", *HARDWARE, "models", "dev"}
# What each runtime-extra requirement is imported as: the modules a client-only install lacks.
MODULES = {
    "av": "av",
    "simplejpeg": "simplejpeg",
    "opencv-python-headless": "cv2",
    "grpcio-health-checking": "grpc_health",
    "grpcio-reflection": "grpc_reflection",
    "pydantic": "pydantic",
    "pydantic-settings": "pydantic_settings",
    "pyyaml": "yaml",
    "prometheus-client": "prometheus_client",
    "opentelemetry-sdk": "opentelemetry",
    "opentelemetry-exporter-otlp-proto-grpc": "opentelemetry",
    "pyclipper": "pyclipper",
    "onnxruntime": "onnxruntime",
    "onnxruntime-gpu": "onnxruntime",
    "onnxruntime-migraphx": "onnxruntime",
    "openvino": "openvino",
    "nvidia-ml-py": "pynvml",
    "tensorrt": "tensorrt",
    "cuda-python": "cuda",
    "onnx": "onnx",
    "datasketches": "datasketches",
    "redis": "redis",
    "starlette": "starlette",
    "uvicorn": "uvicorn",
    "httptools": "httptools",
    "nncf": "nncf",
}
# The generator's version is written into protos/*_pb2*.py and `protos.generate --check`
# compares byte for byte, so the dev extra pins exactly this one.
EXACT_PIN_ALLOWED = {("dev", "grpcio-tools")}


def one_version() -> str:
    tree = ast.parse((ROOT / "protos" / "__init__.py").read_text())
    values = [
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
        and isinstance(node.value, ast.Constant)
    ]
    assert len(values) == 1, "protos/__init__.py writes the version literal once"
    return values[0]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("build", reason="the dev extra has `build`")
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    for package in ("protos", "backends", "service", "clients"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # e.g. "WARNING `project.license` as a TOML table is deprecated" (setuptools >= 77)
    warned = re.findall(r"(?im)^.*warn.*licen[cs]e.*$", proc.stdout + proc.stderr)
    assert not warned, f"setuptools warns about the license metadata: {warned}"
    (built,) = out.glob("switchyard-*.whl")
    return built


@pytest.fixture(scope="module")
def metadata(wheel) -> Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(archive.read(name).decode())


def requirements(metadata: Message) -> dict[str, list[Requirement]]:
    """Requires-Dist grouped by extra ("" for the base install)."""
    grouped: dict[str, list[Requirement]] = {}
    for line in metadata.get_all("Requires-Dist") or []:
        req = Requirement(line)
        marker = str(req.marker or "")
        match = re.fullmatch(r'extra == "([^"]+)"', marker)
        assert marker == "" or match, f"unexpected marker on {line!r}"
        grouped.setdefault(match.group(1) if match else "", []).append(req)
    return grouped


def names(reqs: list[Requirement]) -> set[str]:
    return {r.name.lower() for r in reqs}


def test_the_base_install_is_the_client(metadata):
    base = requirements(metadata)[""]
    assert names(base) == BASE
    assert not names(base) & set(MODULES), "a server or runtime dependency crept into the base install"


def test_the_extras_and_what_they_bring(metadata):
    reqs = requirements(metadata)
    assert set(metadata.get_all("Provides-Extra")) == EXTRAS == set(reqs) - {""}
    assert names(reqs["video"]) == {"av", "simplejpeg", "opencv-python-headless"}
    server = {r.name.lower(): r for r in reqs["server"]}
    assert server["switchyard"].extras == {"video"}, "the server decodes video with the client's stack"
    assert {"grpcio-health-checking", "grpcio-reflection", "pydantic", "pydantic-settings", "pyyaml"} <= set(server)
    for extra in HARDWARE:
        brings = {r.name.lower(): r for r in reqs[extra]}
        assert brings["switchyard"].extras == {"server"}, f"{extra} must bring the server"
    assert {"onnxruntime", "openvino"} <= names(reqs["cpu"])
    assert {"onnxruntime-gpu", "nvidia-ml-py", "tensorrt", "cuda-python"} <= names(reqs["nvidia"])
    assert "onnxruntime-migraphx" in names(reqs["amd"]) and "openvino" in names(reqs["intel"])
    assert names(reqs["models"]) == {"onnx"}
    dev = {r.name.lower(): r for r in reqs["dev"]}
    assert dev["switchyard"].extras == {"models"}, "the tests build their models with onnx"
    assert {"pytest", "ruff", "mypy", "types-protobuf", "types-pyyaml", "hypothesis", "trustme", "build"} <= set(dev)


def test_every_runtime_requirement_has_a_known_module(metadata):
    """Keeps MODULES (what the client-only checks below block) complete."""
    for extra, reqs in requirements(metadata).items():
        if extra not in ("", "dev"):
            assert names(reqs) - {"switchyard"} <= set(MODULES), f"add the module name of {extra}'s new requirement"


def test_ranges_not_pins(metadata):
    for extra, reqs in requirements(metadata).items():
        for req in reqs:
            exact = [s for s in req.specifier if s.operator in ("==", "===")]
            assert not exact or (extra, req.name) in EXACT_PIN_ALLOWED, f"{req} ({extra or 'base'}) is pinned"
    base = {r.name: r.specifier for r in requirements(metadata)[""]}
    # The generated modules refuse to import below these (grpcio-tools 1.85.1 wrote them).
    assert "1.85.0" not in base["grpcio"] and "1.85.1" in base["grpcio"] and "2.0" not in base["grpcio"]
    assert "7.35.0" not in base["protobuf"] and "7.35.1" in base["protobuf"] and "8.0" not in base["protobuf"]


def test_license_is_apache_2(metadata, wheel):
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert "License" not in metadata, "the legacy License field is replaced by License-Expression"
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
        text = archive.read(name).decode()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


def test_one_version(metadata):
    import clients
    import protos
    import service

    version = one_version()
    assert metadata["Version"] == version
    assert service.__version__ == clients.__version__ == protos.__version__ == version
    literal = re.compile(r"""^__version__\s*=\s*["']""", re.MULTILINE)
    for package in ("protos", "backends", "service", "clients"):
        for path in (ROOT / package).rglob("*.py"):
            if path != ROOT / "protos" / "__init__.py":
                assert not literal.search(path.read_text()), f"{path.relative_to(ROOT)} writes its own version"


def test_images_name_the_same_version():
    """Not Python, so not read from protos, but they move with it (the chart's: tests/helm/test_render.py)."""
    for dockerfile in sorted((ROOT / "docker").glob("Dockerfile.*")):
        assert re.findall(r"^ARG VERSION=(\S+)$", dockerfile.read_text(), re.MULTILINE) == [one_version()], dockerfile


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)


def without(modules: set[str], code: str) -> subprocess.CompletedProcess[str]:
    """Run CODE in a process where MODULES cannot be imported: a client-only install, without building one."""
    blocker = textwrap.dedent(
        f"""
        import importlib.abc, sys

        class Absent(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] in {sorted(modules)!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None

        sys.meta_path.insert(0, Absent())
        """
    )
    return _python(blocker + code)


def test_the_clients_import_none_of_the_extras():
    extras = sorted(set(MODULES.values()))
    # grpc itself imports grpc_health / grpc_reflection when they happen to be installed:
    # count only what importing the clients adds on top of their own dependencies.
    proc = _python(
        "import sys, grpc, numpy, google.protobuf\n"
        "before = set(sys.modules)\n"
        "import clients\n"
        f"print(sorted(m for m in set(sys.modules) - before if m.partition('.')[0] in {extras!r}))"
    )
    assert (proc.returncode, proc.stdout) == (0, "[]\n"), proc.stderr
    absent = without(set(MODULES.values()), "import clients\nprint(clients.__version__)")
    assert (absent.returncode, absent.stdout) == (0, f"{one_version()}\n"), absent.stderr


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`switchyard ARGS` without the extras' modules; the CLI library's own stay (typer needs pydantic)."""
    typer_needs = {Requirement(r).name.lower() for r in importlib.metadata.requires("typer") or []}
    blocked = {module for dist, module in MODULES.items() if dist not in typer_needs}
    return without(
        blocked,
        f"import runpy\nsys.argv = ['switchyard', *{list(args)!r}]\nrunpy.run_module('service', run_name='__main__')",
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    repo = tmp_path_factory.mktemp("repository")
    write_model(repo, "add", models.add_model(), "backend: onnxruntime\n")
    write_model(repo, "identity", models.identity_model(TensorProto.FLOAT), "backend: onnxruntime\n")
    with serving(sys.executable, repo) as (_, address):
        yield address


def test_client_commands_run_without_the_server_extras(server, tmp_path):
    version = cli("--version")
    assert (version.returncode, version.stdout) == (0, f"switchyard {one_version()}\n"), version.stderr

    listing = cli("models", "--target", server, "--json")
    assert listing.returncode == 0, listing.stderr
    states = {m["name"]: [v["state"] for v in m["versions"]] for m in json.loads(listing.stdout)}
    assert states == {"add": ["READY"], "identity": ["READY"]}

    a, b = np.arange(8, dtype=np.float32).reshape(2, 4), np.full((2, 4), 0.5, np.float32)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    predict = cli(
        "predict", "add", "-t", server, "-i", f"a={tmp_path / 'a.npy'}", "-i", f"b={tmp_path / 'b.npy'}", "--json"
    )
    assert predict.returncode == 0, predict.stderr
    assert json.loads(predict.stdout)["sum"]["data"] == (a + b).tolist()

    bench = cli(
        "bench", "identity", "-t", server, "--input-name", "x", "--shape", "4", "-c", "1", "--requests", "5", "--json"
    )
    assert bench.returncode == 0, bench.stderr
    (row,) = json.loads(bench.stdout)["results"]
    assert (row["requests"], row["errors"]) == (5, 0)

    probe = cli("probe", "--json")
    assert probe.returncode == 0, probe.stderr
    runtimes = {r["name"]: r for r in json.loads(probe.stdout)["runtimes"]}
    assert not runtimes["onnxruntime"]["importable"], "the probe reports a missing runtime instead of failing"


def test_the_blocked_cli_can_fail():
    """The checks above mean something: the server command needs what was blocked."""
    serve = cli("serve", "--port", "0")
    assert serve.returncode != 0 and "pydantic_settings" in serve.stderr, serve.stderr
