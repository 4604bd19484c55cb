"""Shared pieces of the chart tests: paths, the helm runner and rendered objects."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

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


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=60)


def template_args(*extra: str) -> list[str]:
    return ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, *extra]


def load_manifests(text: str) -> list[dict]:
    return [o for o in yaml.safe_load_all(text) if o]


def render_notes(helm: Path, scratch: Path, *args: str) -> str:
    """NOTES.txt as `helm install` would print it (`helm template` skips it): rendered through
    tpl from a scratch copy of the chart."""
    chart = scratch / CHART.name
    shutil.copytree(CHART, chart)
    shutil.copy(chart / "templates" / "NOTES.txt", chart / "notes.txt")
    (chart / "templates" / "zz-notes.yaml").write_text('notes: {{ tpl (.Files.Get "notes.txt") . | toJson }}\n')
    args = ("template", RELEASE, str(chart), "-n", NAMESPACE, "--show-only", "templates/zz-notes.yaml", *args)
    proc = run_helm(helm, *args)
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)["notes"]
