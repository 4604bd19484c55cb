"""Fixtures for the chart tests: the helm binary and each value set rendered once per session."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "switchyard"
VALUES_DIR = Path(__file__).resolve().parent / "values"
HELM = REPO / ".cache" / "tools" / "bin" / "helm"
RELEASE = "switchyard"
NAMESPACE = "ml"
VALUE_SETS = sorted(p.stem for p in VALUES_DIR.glob("*.yaml"))


@dataclass
class Rendered:
    """The objects one value set renders, with lookups the tests share."""

    name: str
    text: str
    objects: list[dict] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[dict]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name: str) -> dict:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.name}: expected one {kind} {name}, got {len(found)}"
        return found[0]

    def deployments(self) -> dict[str, dict]:
        """Pool name -> Deployment."""
        return {d["metadata"]["labels"]["switchyard.io/pool"]: d for d in self.of_kind("Deployment")}


@pytest.fixture(scope="session")
def helm() -> Path:
    if not HELM.exists():
        subprocess.run(["bash", str(REPO / "scripts" / "get_helm.sh")], check=True,
                       stdout=subprocess.DEVNULL)
    assert HELM.exists(), "scripts/get_helm.sh did not produce .cache/tools/bin/helm"
    return HELM


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=60)


def template_args(*extra: str) -> list[str]:
    return ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, *extra]


@pytest.fixture(scope="session")
def render_set(helm: Path):
    """render_set(name) -> Rendered, each value set rendered once per session."""
    cache: dict[str, Rendered] = {}

    def render(name: str) -> Rendered:
        if name not in cache:
            proc = run_helm(helm, *template_args("-f", str(VALUES_DIR / f"{name}.yaml")))
            assert proc.returncode == 0, f"helm template failed for {name}:\n{proc.stderr}"
            objects = [o for o in yaml.safe_load_all(proc.stdout) if o]
            cache[name] = Rendered(name, proc.stdout, objects)
        return cache[name]

    return render


@pytest.fixture(scope="session")
def all_sets(render_set) -> dict[str, Rendered]:
    return {name: render_set(name) for name in VALUE_SETS}
