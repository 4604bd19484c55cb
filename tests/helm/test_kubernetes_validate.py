"""Every rendered value set validates with `kubernetes-validate --strict` on old and new Kubernetes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helm.chart import VALUE_SETS

pytestmark = pytest.mark.helm

# 1.27: the chart's kubeVersion floor (native gRPC probes GA); 1.31 and the newest bundled.
KUBERNETES_VERSIONS = ["1.27.0", "1.31.0", "1.37.0"]
# Custom resources kubernetes-validate has no schema for; test_render.py checks their fields.
CRD_KINDS = {"ServiceMonitor", "GRPCRoute", "Certificate", "ServingRuntime"}


def kubernetes_validate() -> str:
    found = shutil.which("kubernetes-validate") or str(Path(sys.executable).with_name("kubernetes-validate"))
    if not Path(found).exists():
        pytest.fail("kubernetes-validate is not installed (pip install kubernetes-validate)")
    return found


@pytest.fixture(scope="session")
def manifest_files(all_sets, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("rendered")
    files = {}
    for name, rendered in all_sets.items():
        files[name] = out / f"{name}.yaml"
        files[name].write_text(rendered.text)
    return files


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_rendered_sets_validate_strictly(manifest_files, all_sets, version):
    proc = subprocess.run(
        [kubernetes_validate(), "--strict", "-k", version, *map(str, manifest_files.values())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = proc.stdout.splitlines()
    errors = [line for line in lines if line.startswith(("ERROR", "FATAL"))]
    assert proc.returncode == 0 and not errors, "\n".join(errors) or proc.stdout + proc.stderr
    passed = [line for line in lines if line.startswith("INFO") and "passed" in line]
    expected = sum(1 for r in all_sets.values() for o in r.objects if o["kind"] not in CRD_KINDS)
    assert len(passed) == expected, f"validated {len(passed)} of {expected} objects"
    warned = {m.group(1) for line in lines if (m := re.search(r"find schema for kind (\w+)", line))}
    assert warned <= CRD_KINDS, f"no schema for built-in kinds: {warned - CRD_KINDS}"


def test_validator_rejects_a_broken_manifest(tmp_path):
    """The check above can fail: an unknown field in a Deployment is an error under --strict."""
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "x"},
                "spec": {
                    "selector": {"matchLabels": {"a": "b"}},
                    "replicas": 1,
                    "replica": 2,
                    "template": {
                        "metadata": {"labels": {"a": "b"}},
                        "spec": {"containers": [{"name": "c", "image": "i"}]},
                    },
                },
            }
        )
    )
    proc = subprocess.run(
        [kubernetes_validate(), "--strict", "-k", KUBERNETES_VERSIONS[0], str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "ERROR" in proc.stdout


def test_every_value_set_is_covered():
    expected = {"cpu-only", "all-pools", "s3", "pvc", "hpa-queue", "servicemonitor", "networkpolicy"}
    assert expected | {"tls-cert-manager", "tls-secret"} <= set(VALUE_SETS)
