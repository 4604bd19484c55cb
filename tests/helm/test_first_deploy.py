"""What a first real deployment needs from the chart: Services that only reach pods serving the
model, models in the default install, schedulable GPU pods, device groups, disk requests, budgets
that mean something, a `helm test`, and NOTES that name objects which exist."""

from __future__ import annotations

import itertools

import pytest

from tests.helm.chart import NAMESPACE, Rendered, load_manifests, render_notes, run_helm, template_args

pytestmark = pytest.mark.helm

FULLNAME = "switchyard"


def render(helm, *args: str) -> Rendered:
    proc = run_helm(helm, *template_args(*args))
    assert proc.returncode == 0, proc.stderr
    return Rendered("inline", proc.stdout, load_manifests(proc.stdout))


def selected_pools(rendered: Rendered, svc: dict) -> set[str]:
    return {
        pool
        for pool, dep in rendered.deployments().items()
        if svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    }


def server_pods(rendered: Rendered) -> list[dict]:
    return [d["spec"]["template"] for d in rendered.of_kind("Deployment")]


def test_pools_with_different_models_get_no_spanning_service(render_set):
    rendered = render_set("all-pools")  # cpu loads [tiny_cnn], the GPU pools everything
    names = {s["metadata"]["name"] for s in rendered.of_kind("Service")}
    assert FULLNAME not in names and f"{FULLNAME}-headless" not in names
    for pool in ("cpu", "nvidia", "amd", "intel"):
        for name in (f"{FULLNAME}-{pool}", f"{FULLNAME}-{pool}-headless"):
            assert selected_pools(rendered, rendered.one("Service", name)) == {pool}
    # The ServiceMonitor scrapes each pod once: through its pool's ClusterIP Service.
    scraped = [s for s in rendered.of_kind("Service") if s["metadata"]["labels"].get("switchyard.io/scrape") == "true"]
    assert sorted(s["metadata"]["name"] for s in scraped) == [
        f"{FULLNAME}-{p}" for p in ("amd", "cpu", "intel", "nvidia")
    ]


def test_pools_with_the_same_models_also_share_a_service(helm):
    rendered = render(helm, "--set", "pools.nvidia.enabled=true", "--set", "pools.cpu.models={b,a}")
    rendered_models = render(helm, "--set", "pools.nvidia.enabled=true", "--set", "pools.cpu.models={b,a}",
                             "--set", "pools.nvidia.models={a,b}")  # fmt: skip
    assert FULLNAME not in {s["metadata"]["name"] for s in rendered.of_kind("Service")}
    main = rendered_models.one("Service", FULLNAME)
    assert selected_pools(rendered_models, main) == {"cpu", "nvidia"}
    assert selected_pools(rendered_models, rendered_models.one("Service", f"{FULLNAME}-nvidia")) == {"nvidia"}
    (scraped,) = [
        s for s in rendered_models.of_kind("Service") if s["metadata"]["labels"].get("switchyard.io/scrape") == "true"
    ]
    assert scraped["metadata"]["name"] == FULLNAME
    # The pool's own models list reaches its server.
    env = {e["name"]: e.get("value") for e in server_pods(rendered_models)[0]["spec"]["containers"][0]["env"]}
    assert env["SWITCHYARD_MODELS"] in ('["b","a"]', '["a","b"]')


def test_default_install_copies_the_bundled_models(render_set):
    pod = render_set("cpu-only").deployments()["cpu"]["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["image"].endswith(":0.1.0-cpu-models")
    assert {"name": "models", "mountPath": "/shared-models"} in init["volumeMounts"]
    server = pod["containers"][0]
    assert server["image"].endswith(":0.1.0-cpu")
    (mount,) = [m for m in server["volumeMounts"] if m["mountPath"] == "/models"]
    assert mount["name"] == "models" and mount["readOnly"] is True
    (vol,) = [v for v in pod["volumes"] if v["name"] == "models"]
    assert vol["emptyDir"]["sizeLimit"] == "1Gi"


def test_gpu_node_affinity_is_preferred_unless_asked_for(helm):
    soft = render(helm, "--set", "pools.nvidia.enabled=true").deployments()["nvidia"]
    affinity = soft["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
    keys = [
        e["key"]
        for p in affinity["preferredDuringSchedulingIgnoredDuringExecution"]
        for e in p["preference"]["matchExpressions"]
    ]
    assert "nvidia.com/gpu.present" in keys
    hard = render(helm, "--set", "pools.nvidia.enabled=true", "--set", "pools.nvidia.nfdAffinity=required")
    affinity = hard.deployments()["nvidia"]["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
    assert list(affinity) == ["requiredDuringSchedulingIgnoredDuringExecution"]


@pytest.mark.parametrize("pool", ["amd", "intel"])
def test_device_pools_join_video_and_render_groups(render_set, pool):
    groups = render_set("all-pools").deployments()[pool]["spec"]["template"]["spec"]["securityContext"]
    assert 44 in groups["supplementalGroups"]  # video
    assert {109, 110, 992} & set(groups["supplementalGroups"])  # render, distribution-dependent


def test_no_budget_below_two_replicas(helm):
    assert not render(helm, "--set", "pools.cpu.replicas=1").of_kind("PodDisruptionBudget")
    assert len(render(helm, "--set", "pools.cpu.replicas=2").of_kind("PodDisruptionBudget")) == 1
    hpa = ("--set", "autoscaling.enabled=true", "--set", "pools.cpu.replicas=5")
    assert not render(helm, *hpa, "--set", "autoscaling.minReplicas=1").of_kind("PodDisruptionBudget")
    assert render(helm, *hpa, "--set", "autoscaling.minReplicas=2").of_kind("PodDisruptionBudget")


@pytest.mark.parametrize(
    "args, mebibytes",
    [
        ((), 1024 + 512 + 10240 + 1024),  # /tmp + logs + cache + bundled models
        (
            ("--set", "modelRepository.source=s3", "--set", "modelRepository.s3.bucket=models"),
            1024 + 512 + 10240 + 20480,
        ),
        (("--set", "cache.type=pvc", "--set", "cache.pvc.create=true", "--set", "modelRepository.source=image"), 1536),
    ],
)
def test_ephemeral_storage_covers_the_empty_dirs(helm, args, mebibytes):
    resources = server_pods(render(helm, *args))[0]["spec"]["containers"][0]["resources"]
    assert resources["requests"]["ephemeral-storage"] == f"{mebibytes}Mi"
    assert resources["limits"]["ephemeral-storage"] == f"{mebibytes}Mi"


def test_helm_test_lists_models_and_predicts_through_each_service(render_set):
    rendered = render_set("all-pools")
    tests = [p for p in rendered.of_kind("Pod") if p["metadata"]["annotations"].get("helm.sh/hook") == "test"]
    assert {p["metadata"]["name"] for p in tests} == {
        f"{FULLNAME}-{p}-test-predict" for p in ("cpu", "nvidia", "amd", "intel")
    }
    for pod in tests:
        script = pod["spec"]["containers"][0]["command"][-1]
        svc = pod["metadata"]["name"].removesuffix("-test-predict")
        assert f"switchyard models -t {svc}.{NAMESPACE}.svc:8001" in script
        assert f"switchyard predict tiny_cnn -t {svc}.{NAMESPACE}.svc:8001 -i input=/tmp/input.npy" in script
        for service in rendered.of_kind("Service"):  # a test pod must never receive traffic
            assert not service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()


def test_helm_test_speaks_tls_when_the_port_does(render_set):
    (pod,) = [p for p in render_set("tls-secret").of_kind("Pod")]
    script = pod["spec"]["containers"][0]["command"][-1]
    assert f"--tls-ca /etc/switchyard/tls/ca.crt --tls-server-name {FULLNAME}.{NAMESPACE}.svc" in script


COMBOS = list(itertools.product([True, False], [True, False], [True, False]))


@pytest.mark.parametrize("headless, tls, mixed", COMBOS)
def test_notes_name_only_services_that_exist(helm, tmp_path, headless, tls, mixed):
    args = ["--set", f"service.headless.enabled={str(headless).lower()}", "--set", "pools.nvidia.enabled=true"]
    if tls:
        args += ["--set", "tls.enabled=true", "--set", "tls.secretName=certs"]
    if mixed:
        args += ["--set", "pools.cpu.models={tiny_cnn}"]
    services = {s["metadata"]["name"] for s in render(helm, *args).of_kind("Service")}
    notes = render_notes(helm, tmp_path, *args)
    for line in notes.splitlines():
        for word in line.replace("svc/", " ").replace("dns:///", " ").replace('"', " ").split():
            if word.startswith(FULLNAME) and (".svc" in word or line.strip().startswith("kubectl")):
                name = word.split(".")[0].split(":")[0]
                if "port-forward" in line or ".svc" in word:
                    assert name in services, f"NOTES name {name}, rendered {services}:\n{line}"
    assert "RepositoryIndex" not in notes
    assert ("no Service spans them" in notes) is mixed


def test_kserve_serving_runtime_speaks_grpc_v2_on_the_grpc_port(render_set):
    (runtime,) = render_set("kserve").of_kind("ServingRuntime")
    assert runtime["apiVersion"] == "serving.kserve.io/v1alpha1"
    spec = runtime["spec"]
    assert spec["protocolVersions"] == ["grpc-v2"]
    assert {"name": "onnx", "version": "1", "autoSelect": True, "priority": 2} in spec["supportedModelFormats"]
    (container,) = spec["containers"]
    assert container["name"] == "kserve-container" and container["args"] == ["serve"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["SWITCHYARD_MODEL_REPOSITORY"] == "/mnt/models"  # where KServe's storage initializer writes
    assert container["ports"] == [{"name": "h2c", "containerPort": int(env["SWITCHYARD_PORT"]), "protocol": "TCP"}]
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert env["SWITCHYARD_HTTP_PORT"] == "-1"  # KServe routes one port: REST stays closed
    assert not render_set("cpu-only").of_kind("ServingRuntime")


def test_kserve_serving_runtime_can_speak_v2_rest_on_its_one_port(helm):
    rendered = render(helm, "--set", "kserve.servingRuntime.enabled=true", "--set", "kserve.servingRuntime.protocol=v2")
    (runtime,) = rendered.of_kind("ServingRuntime")
    assert runtime["spec"]["protocolVersions"] == ["v2"]
    (container,) = runtime["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["SWITCHYARD_HTTP_PORT"] == "8080"
    assert container["ports"] == [{"name": "http1", "containerPort": 8080, "protocol": "TCP"}]
    refused = run_helm(
        helm,
        *template_args("--set", "kserve.servingRuntime.enabled=true", "--set", "kserve.servingRuntime.protocol=rest"),
    )
    assert refused.returncode != 0 and "protocol" in refused.stderr


def test_cpu_pool_sets_the_cpu_limit_the_server_sizes_threads_by(render_set):
    # backends/onnxruntime_options.py caps intra-op threads at the cgroup quota this creates.
    resources = render_set("cpu-only").deployments()["cpu"]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["limits"]["cpu"] == "2" and resources["requests"]["cpu"] == "1"


def test_a_cpu_pool_may_run_one_worker_per_core_of_its_quota(helm, monkeypatch):
    settings = pytest.importorskip("service.settings")
    rendered = render(helm, "--set", "pools.cpu.env.SWITCHYARD_WORKERS=auto")
    (container,) = [c for c in server_pods(rendered)[0]["spec"]["containers"] if c["name"] == "server"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    assert env["SWITCHYARD_WORKERS"] == "auto"
    for key, value in env.items():
        if key.startswith("SWITCHYARD_"):
            monkeypatch.setenv(key, value)
    assert settings.ServerSettings().workers == "auto"  # the server's own parsing of the rendered value
