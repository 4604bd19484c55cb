"""Fixtures for the chart tests: the helm binary and each value set rendered once per session."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helm.chart import HELM, REPO, VALUE_SETS, VALUES_DIR, Rendered, load_manifests, run_helm, template_args


@pytest.fixture(scope="session")
def helm() -> Path:
    if not HELM.exists():
        subprocess.run(["bash", str(REPO / "scripts" / "get_helm.sh")], check=True, stdout=subprocess.DEVNULL)
    assert HELM.exists(), "scripts/get_helm.sh did not produce .cache/tools/bin/helm"
    return HELM


@pytest.fixture(scope="session")
def render_set(helm: Path):
    """render_set(name) -> Rendered, each value set rendered once per session."""
    cache: dict[str, Rendered] = {}

    def render(name: str) -> Rendered:
        if name not in cache:
            proc = run_helm(helm, *template_args("-f", str(VALUES_DIR / f"{name}.yaml")))
            assert proc.returncode == 0, f"helm template failed for {name}:\n{proc.stderr}"
            objects = load_manifests(proc.stdout)
            cache[name] = Rendered(name, proc.stdout, objects)
        return cache[name]

    return render


@pytest.fixture(scope="session")
def all_sets(render_set) -> dict[str, Rendered]:
    return {name: render_set(name) for name in VALUE_SETS}
