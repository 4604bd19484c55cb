"""helm lint --strict, and bad values failing with a message that names the problem."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helm.chart import CHART, VALUE_SETS, VALUES_DIR, run_helm, template_args

pytestmark = pytest.mark.helm


def test_lint_strict_defaults(helm):
    proc = run_helm(helm, "lint", "--strict", str(CHART))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", VALUE_SETS)
def test_lint_strict_each_value_set(helm, name):
    proc = run_helm(helm, "lint", "--strict", str(CHART), "-f", str(VALUES_DIR / f"{name}.yaml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


BAD_VALUES = [
    pytest.param(
        ["--set-string", "pools.cpu.replicas=2"],
        "pools.cpu.replicas: Invalid type. Expected: integer",
        id="replicas-as-string",
    ),
    pytest.param(["--set", "pools.tpu.enabled=true"], "Additional property tpu is not allowed", id="unknown-pool"),
    pytest.param(["--set", "pools.nvidia.gpu=1"], "Additional property gpu is not allowed", id="unknown-pool-key"),
    pytest.param(["--set", "pools.cpu.gpus=1"], "pools.cpu.gpus", id="cpu-pool-with-gpus"),
    pytest.param(
        ["--set", "pools.nvidia.gpus=-1"], "pools.nvidia.gpus: Must be greater than or equal to 0", id="negative-gpus"
    ),
    pytest.param(["--set", "pools.nvidia.backendPolicy=lenient"], "pools.nvidia.backendPolicy", id="bad-policy"),
    pytest.param(["--set", "pools.nvidia.device=tpu"], "pools.nvidia.device: Does not match pattern", id="bad-device"),
    pytest.param(
        ["--set", "pools.cpu.env.LOG_LEVEL=debug"], "Does not match pattern '^SWITCHYARD_", id="non-switchyard-env"
    ),
    pytest.param(["--set", "server.logLevel=verbose"], "server.logLevel", id="bad-log-level"),
    pytest.param(
        ["--set", "pools.cpu.env.SWITCHYARD_LOG_LEVEL=trace"],
        "pools.cpu.env.SWITCHYARD_LOG_LEVEL: Does not match pattern",
        id="bad-pool-log-level",
    ),
    pytest.param(["--set", "pools.nvidia.nfdAffinity=maybe"], "pools.nvidia.nfdAffinity", id="bad-nfd-affinity"),
    pytest.param(
        ["--set", "modelRepository.bundled.sizeLimit=1G"], "use a whole number of Mi, Gi or Ti", id="size-unit"
    ),
    pytest.param(
        [
            "--set",
            "grpcRoute.enabled=true",
            "--set",
            "grpcRoute.parentRefs[0].name=gw",
            "--set",
            "pools.nvidia.enabled=true",
            "--set",
            "pools.cpu.models={tiny_cnn}",
        ],
        "no Service spans them",
        id="route-over-pools-with-different-models",
    ),  # fmt: skip
    pytest.param(["--set", "modelRepository.source=nfs"], "modelRepository.source", id="unknown-model-source"),
    pytest.param(["--set", "modelRepository.s3.bucket=Not_A_Bucket"], "modelRepository.s3.bucket", id="bad-bucket"),
    pytest.param(["--set", "probes.liveness.successThreshold=2"], "probes.liveness", id="liveness-success-threshold"),
    pytest.param(["--set", "autoscaling.metric=memory"], "autoscaling.metric", id="unknown-hpa-metric"),
    pytest.param(["--set", "autoscaling.targetQueueTime=fast"], "autoscaling.targetQueueTime", id="bad-quantity"),
    pytest.param(["--set", "rollingUpdate.maxUnavailable=half"], "rollingUpdate.maxUnavailable", id="bad-rolling"),
    pytest.param(["--set", "servr.port=1"], "Additional property servr is not allowed", id="top-level-typo"),
    # Checks the schema cannot express fail in the templates with the same clarity:
    pytest.param(
        ["--set", "lifecycle.terminationGracePeriodSeconds=20"],
        "must be greater than lifecycle.preStopSleepSeconds + server.gracePeriodSeconds",
        id="grace-order",
    ),
    pytest.param(["--set", "modelRepository.source=s3"], "set modelRepository.s3.bucket", id="s3-without-bucket"),
    pytest.param(["--set", "modelRepository.source=pvc"], "set modelRepository.pvc.claimName", id="pvc-without-claim"),
    pytest.param(["--set", "cache.type=pvc"], "cache.pvc.existingClaim", id="cache-pvc-without-claim"),
    pytest.param(["--set", "pools.cpu.enabled=false"], "enable at least one pool", id="no-pools"),
    pytest.param(
        ["--set", "autoscaling.enabled=true", "--set", "autoscaling.minReplicas=5"],
        "minReplicas (5) is above maxReplicas (4)",
        id="hpa-range",
    ),
    pytest.param(["--set", "grpcRoute.enabled=true"], "grpcRoute.parentRefs", id="route-without-gateway"),
]


@pytest.mark.parametrize("args, message", BAD_VALUES)
def test_bad_values_fail_with_a_clear_message(helm, args, message):
    proc = run_helm(helm, *template_args(*args))
    assert proc.returncode != 0, f"{args} rendered:\n{proc.stdout[:400]}"
    assert message in proc.stderr, proc.stderr


def test_good_override_still_renders(helm):
    """The rejections above are about the values, not about --set itself."""
    proc = run_helm(
        helm,
        *template_args(
            "--set",
            "pools.cpu.replicas=3",
            # The server lower-cases log levels, so the schema takes any case.
            "--set",
            "pools.cpu.env.SWITCHYARD_LOG_LEVEL=DEBUG",
            "--set",
            "server.logLevel=Warning",
        ),  # fmt: skip
    )
    assert proc.returncode == 0, proc.stderr
    assert "replicas: 3" in proc.stdout


def test_chart_refuses_clusters_without_native_grpc_probes(helm):
    proc = run_helm(helm, *template_args("--kube-version", "1.26.0"))
    assert proc.returncode != 0 and "kubeVersion" in proc.stderr


YAMLLINT_CONFIG = (
    "{extends: default, rules: {line-length: {max: 120}, document-start: disable, "
    "comments: {min-spaces-from-content: 1}, braces: {max-spaces-inside: 1}, "
    "brackets: {max-spaces-inside: 1}}}"
)


def test_yamllint_values_and_value_sets():
    targets = [CHART / "values.yaml", CHART / "Chart.yaml", VALUES_DIR]
    proc = subprocess.run(
        [sys.executable, "-m", "yamllint", "-f", "parsable", "-d", YAMLLINT_CONFIG, *map(str, targets)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_values_are_documented():
    """Every top-level key, and every key of the first pool (the template for the others),
    has a comment right above it (or shares one with the key above it)."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    start, end = lines.index("  cpu:"), lines.index("  nvidia:")
    undocumented = []
    for n, line in enumerate(lines):
        top = bool(line) and not line.startswith((" ", "#"))
        pool_key = start < n < end and line.startswith("    ") and not line[4:].startswith((" ", "#"))
        if (top or pool_key) and not lines[n - 1].lstrip().startswith("#"):
            sibling = lines[n - 1].startswith("    ") and not lines[n - 1].startswith("     ")
            if not (pool_key and sibling and lines[n - 2].lstrip().startswith("#")):
                undocumented.append(line)
    assert not undocumented, f"values.yaml keys without a comment: {undocumented}"
