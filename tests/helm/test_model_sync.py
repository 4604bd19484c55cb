"""The live repository: a model-sync sidecar re-syncs object storage into /models and the server polls it."""

from __future__ import annotations

import pytest

from tests.helm.chart import Rendered, load_manifests, run_helm, template_args

pytestmark = pytest.mark.helm

S3 = (
    "modelRepository.source=s3",
    "modelRepository.s3.bucket=ml-models",
    "modelRepository.s3.prefix=switchyard/prod/",
    "modelRepository.s3.endpoint=https://minio.storage.svc:9000",
    "modelRepository.s3.existingSecret=switchyard-s3",
)
SYNC = ("modelRepository.sync.enabled=true",)


def pod_spec(helm, *sets: str) -> dict:
    args = [item for s in sets for item in ("--set", s)]
    proc = run_helm(helm, *template_args(*args))
    assert proc.returncode == 0, proc.stderr
    deployments = Rendered("sync", proc.stdout, load_manifests(proc.stdout)).deployments()
    return deployments["cpu"]["spec"]["template"]["spec"]


def containers(spec: dict) -> dict[str, dict]:
    return {c["name"]: c for c in spec["containers"]}


def server_env(spec: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in containers(spec)["server"]["env"]}


@pytest.mark.parametrize(
    "sets",
    [S3, ("modelRepository.source=pvc", "modelRepository.pvc.claimName=models", *SYNC), SYNC],
    ids=["s3-without-sync", "pvc-with-sync", "bundled-with-sync"],
)
def test_no_sidecar_unless_syncing_from_object_storage(helm, sets: tuple[str, ...]) -> None:
    assert set(containers(pod_spec(helm, *sets))) == {"server"}


def test_without_sync_the_server_does_not_poll(helm) -> None:
    assert "SWITCHYARD_REPOSITORY_POLL_SECONDS" not in server_env(pod_spec(helm, *S3))


def test_polling_is_on_whenever_sync_is_on(helm) -> None:
    # A PVC written by someone else is polled too; there is nothing for a sidecar to do.
    spec = pod_spec(helm, "modelRepository.source=pvc", "modelRepository.pvc.claimName=models", *SYNC)
    assert server_env(spec)["SWITCHYARD_REPOSITORY_POLL_SECONDS"] == "10"


def test_the_sidecar_resyncs_on_the_interval_with_the_init_containers_rclone_setup(helm) -> None:
    spec = pod_spec(
        helm,
        *S3,
        *SYNC,
        "modelRepository.sync.intervalSeconds=45",
        "modelRepository.sync.pollSeconds=3",
        "modelRepository.s3.extraArgs={--s3-force-path-style=true}",
    )
    [init] = spec["initContainers"]
    sidecar = containers(spec)["model-sync"]
    # One bucket, one image, one configuration and one Secret for the first copy and every re-sync.
    assert sidecar["image"] == init["image"]
    assert sidecar["env"] == init["env"]
    assert {
        "name": "AWS_ACCESS_KEY_ID",
        "valueFrom": {"secretKeyRef": {"name": "switchyard-s3", "key": "AWS_ACCESS_KEY_ID"}},
    } in sidecar["env"]
    assert sidecar["args"][:2] == init["args"][1:3] == [":s3:ml-models/switchyard/prod", "/models"]
    assert "--s3-force-path-style=true" in sidecar["args"]
    script = sidecar["command"][2]
    assert 'rclone sync "$@"' in script and "sleep 45 " in script
    # rclone sync (not copy): a model removed from the bucket is removed from /models, and unloaded.
    assert init["args"][0] == "copy"
    assert server_env(spec)["SWITCHYARD_REPOSITORY_POLL_SECONDS"] == "3"


def test_the_sidecar_is_a_well_behaved_container(helm) -> None:
    spec = pod_spec(helm, *S3, *SYNC)
    server, sidecar = containers(spec)["server"], containers(spec)["model-sync"]
    assert sidecar["securityContext"] == server["securityContext"]
    assert sidecar["securityContext"]["readOnlyRootFilesystem"] is True
    assert sidecar["resources"]["requests"] == {"cpu": "20m", "memory": "64Mi"}
    assert sidecar["resources"]["limits"] == {"memory": "256Mi"}
    # It writes the shared volume; the server only reads it.
    assert {"name": "models", "mountPath": "/models"} in sidecar["volumeMounts"]
    [models] = [m for m in server["volumeMounts"] if m["name"] == "models"]
    assert models["readOnly"] is True


@pytest.mark.parametrize(
    ("setting", "word"),
    [
        ("modelRepository.sync.intervalSeconds=1", "intervalSeconds"),
        ("modelRepository.sync.pollSeconds=0", "pollSeconds"),
        ("modelRepository.sync.every=5", "every"),
    ],
)
def test_the_schema_refuses_nonsense_intervals(helm, setting: str, word: str) -> None:
    proc = run_helm(helm, *template_args("--set", setting))
    assert proc.returncode != 0 and word in proc.stderr
