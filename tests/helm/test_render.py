"""Assertions on the objects `helm template` renders for each value set."""

from __future__ import annotations

import pytest
import yaml

from protos import __version__
from tests.helm.chart import CHART, NAMESPACE, VALUE_SETS, render_notes

pytestmark = pytest.mark.helm

FULLNAME = "switchyard"
GPU_KEYS = {"nvidia.com/gpu", "amd.com/gpu", "gpu.intel.com/i915", "gpu.intel.com/xe", "npu.intel.com/accel"}


def pod_spec(dep: dict) -> dict:
    return dep["spec"]["template"]["spec"]


def server(dep: dict) -> dict:
    (container,) = [c for c in pod_spec(dep)["containers"] if c["name"] == "server"]
    return container


def env_of(container: dict) -> dict[str, str]:
    names = [e["name"] for e in container.get("env", [])]
    assert len(names) == len(set(names)), f"duplicate env vars in {names}"
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def grpc_port(container: dict) -> int:
    (port,) = [p["containerPort"] for p in container["ports"] if p["name"] == "grpc"]
    return port


def test_app_version_is_the_package_version():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == __version__, "the one version source is protos/__init__.py"


@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_set_renders_objects_in_the_release_namespace(render_set, name):
    rendered = render_set(name)
    assert rendered.of_kind("Deployment"), "no Deployment rendered"
    for obj in rendered.objects:
        assert obj["metadata"].get("namespace") == NAMESPACE, obj["metadata"]["name"]
        assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == "switchyard"


def test_cpu_only_is_one_pool_without_accelerators(render_set):
    deps = render_set("cpu-only").deployments()
    assert set(deps) == {"cpu"}
    dep = deps["cpu"]
    assert dep["spec"]["replicas"] == 2
    assert server(dep)["image"] == "ghcr.io/switchyard/switchyard:0.1.0-cpu"
    res = server(dep)["resources"]
    assert not GPU_KEYS & (set(res.get("limits", {})) | set(res.get("requests", {})))
    assert "affinity" not in pod_spec(dep)
    env = env_of(server(dep))
    assert env["SWITCHYARD_DEVICE"] == "cpu" and env["SWITCHYARD_STRICT"] == "false"


@pytest.mark.parametrize(
    "pool, key, count",
    [
        ("nvidia", "nvidia.com/gpu", 1),
        ("amd", "amd.com/gpu", 2),
        ("intel", "gpu.intel.com/i915", 1),
    ],
)
def test_each_gpu_pool_requests_its_vendor_resource_only(render_set, pool, key, count):
    dep = render_set("all-pools").deployments()[pool]
    res = server(dep)["resources"]
    assert res["limits"][key] == count and res["requests"][key] == count
    others = GPU_KEYS - {key}
    assert not others & (set(res["limits"]) | set(res["requests"])), f"{pool} asks for another vendor's device"
    assert server(dep)["image"].endswith(f":0.1.0-{pool}")
    env = env_of(server(dep))
    assert env["SWITCHYARD_STRICT"] == "true", "GPU pools must not fall back to CPU silently"


def test_all_pools_render_four_deployments_with_distinct_selectors(render_set):
    deps = render_set("all-pools").deployments()
    assert set(deps) == {"cpu", "nvidia", "amd", "intel"}
    selectors = {tuple(sorted(d["spec"]["selector"]["matchLabels"].items())) for d in deps.values()}
    assert len(selectors) == 4, "two pools' Deployments would fight over the same pods"
    for pool, dep in deps.items():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert labels["switchyard.io/pool"] == pool


def test_intel_npu_pool_requests_the_npu_plugin_resource(render_set):
    dep = render_set("intel-npu").deployments()["intel"]
    res = server(dep)["resources"]
    assert res["limits"]["npu.intel.com/accel"] == 1
    assert "gpu.intel.com/i915" not in res["limits"]
    assert env_of(server(dep))["SWITCHYARD_DEVICE"] == "npu"


@pytest.mark.parametrize("pool, vendor", [("nvidia", "10de"), ("amd", "1002"), ("intel", "8086")])
def test_gpu_pools_prefer_nodes_with_their_pci_vendor(render_set, pool, vendor):
    dep = render_set("all-pools").deployments()[pool]
    affinity = pod_spec(dep)["affinity"]["nodeAffinity"]
    # Preferred, not required: without NFD the pods must still schedule on the GPU nodes.
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in affinity
    terms = [p["preference"] for p in affinity["preferredDuringSchedulingIgnoredDuringExecution"]]
    keys = [expr["key"] for term in terms for expr in term["matchExpressions"]]
    pci = [k for k in keys if k.startswith("feature.node.kubernetes.io/pci-")]
    assert pci and all(k.endswith(f"{vendor}.present") for k in pci), keys
    for term in terms:
        assert [e["values"] for e in term["matchExpressions"]] == [["true"]]
    assert "affinity" not in pod_spec(render_set("all-pools").deployments()["cpu"])


def test_gpu_pools_tolerate_their_taints_and_use_the_runtime_class(render_set):
    deps = render_set("all-pools").deployments()
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod_spec(deps["nvidia"])[
        "tolerations"
    ]
    assert pod_spec(deps["nvidia"])["runtimeClassName"] == "nvidia"
    assert "runtimeClassName" not in pod_spec(deps["cpu"])


@pytest.mark.parametrize("name", VALUE_SETS)
def test_probes_are_native_grpc_on_the_grpc_port(render_set, name):
    """...or, with TLS on the gRPC port, on the plaintext health port (test_security_values.py)."""
    for pool, dep in render_set(name).deployments().items():
        container = server(dep)
        assert grpc_port(container) == 8001
        health = [p["containerPort"] for p in container["ports"] if p["name"] == "health"]
        assert bool(health) == ("SWITCHYARD_TLS_CERT" in env_of(container)), f"{pool}: health port without TLS"
        port = health[0] if health else grpc_port(container)
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            probe = container[kind]
            assert set(probe) & {"httpGet", "exec", "tcpSocket"} == set(), f"{pool} {kind} is not gRPC"
            assert probe["grpc"]["port"] == port, f"{pool} {kind} probes another port"
        assert container["livenessProbe"]["grpc"].get("service", "") == ""


def test_readiness_waits_for_the_named_model(render_set):
    deps = render_set("all-pools").deployments()
    assert server(deps["nvidia"])["readinessProbe"]["grpc"]["service"] == "model/ocr_det"
    assert server(deps["cpu"])["readinessProbe"]["grpc"].get("service", "") == ""


def test_startup_budget_covers_engine_builds(render_set):
    deps = render_set("all-pools").deployments()

    def budget(pool: str) -> int:
        probe = server(deps[pool])["startupProbe"]
        return probe["periodSeconds"] * probe["failureThreshold"]

    assert budget("cpu") >= 300
    assert budget("nvidia") >= 1200 and budget("amd") >= 1200


def test_main_and_headless_services_select_every_pool(render_set):
    rendered = render_set("hpa-queue")  # two pools loading the same models
    main = rendered.one("Service", FULLNAME)
    headless = rendered.one("Service", f"{FULLNAME}-headless")
    assert main["spec"]["type"] == "ClusterIP" and "clusterIP" not in main["spec"]
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is False
    for svc in (main, headless):
        (port,) = [p for p in svc["spec"]["ports"] if p["name"] == "grpc"]
        assert port["port"] == 8001 and port["targetPort"] == "grpc"
        assert port["appProtocol"] == "kubernetes.io/h2c"
        for pool, dep in rendered.deployments().items():
            labels = dep["spec"]["template"]["metadata"]["labels"]
            assert svc["spec"]["selector"].items() <= labels.items(), f"{svc['metadata']['name']} misses {pool}"


def test_max_connection_age_reaches_the_server(render_set):
    env = env_of(server(render_set("cpu-only").deployments()["cpu"]))
    assert float(env["SWITCHYARD_MAX_CONNECTION_AGE"]) > 0
    assert float(env["SWITCHYARD_MAX_CONNECTION_AGE_GRACE"]) > 0


@pytest.mark.parametrize("name", VALUE_SETS)
def test_security_defaults(render_set, name):
    rendered = render_set(name)
    (sa,) = rendered.of_kind("ServiceAccount")
    for pool, dep in rendered.deployments().items():
        spec = pod_spec(dep)
        assert spec["serviceAccountName"] == sa["metadata"]["name"]
        assert spec["automountServiceAccountToken"] is False
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] != 0
        assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, f"{pool}/{c['name']}"
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert "add" not in sc["capabilities"]
        mounts = {m["mountPath"]: m for m in server(dep)["volumeMounts"]}
        assert not mounts["/tmp"].get("readOnly") and not mounts["/cache"].get("readOnly")
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes["tmp"]


@pytest.mark.parametrize("name", VALUE_SETS)
def test_grace_periods_are_ordered(render_set, name):
    for pool, dep in render_set(name).deployments().items():
        container = server(dep)
        drain = float(env_of(container)["SWITCHYARD_GRACE_PERIOD"])
        command = container["lifecycle"]["preStop"]["exec"]["command"]
        assert command[0] == "sleep"
        pause = float(command[1])
        assert pause > 0
        assert pod_spec(dep)["terminationGracePeriodSeconds"] > pause + drain, pool
        rolling = dep["spec"]["strategy"]["rollingUpdate"]
        assert rolling["maxUnavailable"] == 0 and rolling["maxSurge"] >= 1


@pytest.mark.parametrize("name", VALUE_SETS)
def test_server_env_names_are_settings_the_server_accepts(render_set, name):
    settings = pytest.importorskip("service.settings")
    fields = set(settings.ServerSettings.model_fields)
    for pool, dep in render_set(name).deployments().items():
        env = env_of(server(dep))
        ours = {k: v for k, v in env.items() if k.startswith("SWITCHYARD_")}
        unknown = {k for k in ours if k.removeprefix("SWITCHYARD_").lower() not in fields}
        assert not unknown, f"{pool}: the server has no setting for {unknown}"


def test_rendered_env_validates_as_server_settings(render_set, monkeypatch):
    settings = pytest.importorskip("service.settings")
    for pool, dep in render_set("all-pools").deployments().items():
        for key, value in env_of(server(dep)).items():
            if key.startswith("SWITCHYARD_"):
                monkeypatch.setenv(key, value)
        parsed = settings.ServerSettings()
        assert parsed.port == 8001 and parsed.metrics_port == 8002
        assert str(parsed.model_repository) == "/models"
        assert parsed.strict is (pool != "cpu")
        if pool == "cpu":
            assert parsed.models == ["tiny_cnn"]


def test_s3_source_syncs_models_in_an_init_container(render_set):
    rendered = render_set("s3")
    for dep in rendered.deployments().values():
        spec = pod_spec(dep)
        (init,) = spec["initContainers"]
        assert ":s3:ml-models/switchyard/prod" in init["args"] and "/models" in init["args"]
        assert "--s3-force-path-style=true" in init["args"]
        env = {e["name"]: e for e in init["env"]}
        assert env["RCLONE_S3_ENDPOINT"]["value"] == "https://minio.storage.svc:9000"
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            assert env[key]["valueFrom"]["secretKeyRef"] == {"name": "switchyard-s3", "key": key}
        assert {"name": "models", "mountPath": "/models"} in init["volumeMounts"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes["models"]
        assert volumes["cache"]["persistentVolumeClaim"]["claimName"] == f"{FULLNAME}-cache"
        models = [m for m in server(dep)["volumeMounts"] if m["mountPath"] == "/models"]
        assert models and models[0]["readOnly"] is True
    (pvc,) = rendered.of_kind("PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"] and pvc["spec"]["storageClassName"] == "cephfs"
    (sa,) = rendered.of_kind("ServiceAccount")
    assert "eks.amazonaws.com/role-arn" in sa["metadata"]["annotations"]


def test_pvc_source_mounts_the_existing_claims(render_set):
    rendered = render_set("pvc")
    assert not rendered.of_kind("PersistentVolumeClaim"), "existing claims must not be created"
    dep = rendered.deployments()["cpu"]
    spec = pod_spec(dep)
    assert "initContainers" not in spec
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["models"]["persistentVolumeClaim"] == {"claimName": "model-store", "readOnly": True}
    assert volumes["cache"]["persistentVolumeClaim"]["claimName"] == "engine-cache"
    (mount,) = [m for m in server(dep)["volumeMounts"] if m["mountPath"] == "/models"]
    assert mount["subPath"] == "switchyard" and mount["readOnly"] is True


def test_image_source_mounts_nothing_over_models(render_set):
    dep = render_set("image-source").deployments()["cpu"]
    assert all(m["mountPath"] != "/models" for m in server(dep)["volumeMounts"])
    assert env_of(server(dep))["SWITCHYARD_MODEL_REPOSITORY"] == "/models"


def test_caches_are_separate_per_pool(render_set):
    deps = render_set("all-pools").deployments()
    dirs = {pool: env_of(server(dep))["SWITCHYARD_CACHE_DIR"] for pool, dep in deps.items()}
    assert len(set(dirs.values())) == 4 and all(d.startswith("/cache/") for d in dirs.values())


def test_hpa_on_queue_time_and_cpu(render_set):
    rendered = render_set("hpa-queue")
    hpas = {h["metadata"]["labels"]["switchyard.io/pool"]: h for h in rendered.of_kind("HorizontalPodAutoscaler")}
    assert set(hpas) == {"cpu", "nvidia"}
    for pool, hpa in hpas.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"]["name"] == f"{FULLNAME}-{pool}"
        assert "replicas" not in rendered.deployments()[pool]["spec"], "HPA and a fixed count would fight"
    (metric,) = hpas["nvidia"]["spec"]["metrics"]
    assert metric["type"] == "Pods"
    assert metric["pods"]["metric"]["name"] == "switchyard_queue_seconds_per_request"
    assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": "25m"}
    assert (hpas["nvidia"]["spec"]["minReplicas"], hpas["nvidia"]["spec"]["maxReplicas"]) == (1, 8)
    (cpu_metric,) = hpas["cpu"]["spec"]["metrics"]
    assert cpu_metric["resource"] == {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}
    assert hpas["cpu"]["spec"]["minReplicas"] == 2


def test_pdb_and_topology_spread_per_pool(render_set):
    rendered = render_set("all-pools")
    pdbs = {p["metadata"]["labels"]["switchyard.io/pool"]: p for p in rendered.of_kind("PodDisruptionBudget")}
    # A budget at 1 replica protects nothing (or blocks every drain): only the 2-replica pools.
    assert set(pdbs) == {"cpu", "nvidia"}
    for pool, dep in rendered.deployments().items():
        if pool in pdbs:
            assert pdbs[pool]["spec"]["selector"] == dep["spec"]["selector"]
            assert pdbs[pool]["spec"]["maxUnavailable"] == 1
        spread = pod_spec(dep)["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in spread} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
        for c in spread:
            assert c["labelSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]


def test_service_monitor_scrapes_the_main_service_only(render_set):
    rendered = render_set("servicemonitor")
    (sm,) = rendered.of_kind("ServiceMonitor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selected = [
        s
        for s in rendered.of_kind("Service")
        if sm["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
    ]
    assert [s["metadata"]["name"] for s in selected] == [FULLNAME]
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics" and endpoint["interval"] == "30s"
    assert "metrics" in {p["name"] for p in selected[0]["spec"]["ports"]}
    for dep in rendered.deployments().values():
        assert {"name": "metrics", "containerPort": 8002, "protocol": "TCP"} in server(dep)["ports"]
    assert not render_set("cpu-only").of_kind("ServiceMonitor")


def test_network_policy_opens_grpc_metrics_and_dns(render_set):
    rendered = render_set("networkpolicy")
    (np,) = rendered.of_kind("NetworkPolicy")
    assert np["spec"]["policyTypes"] == ["Ingress", "Egress"]
    ports = {r["ports"][0]["port"]: r for r in np["spec"]["ingress"]}
    assert set(ports) == {"grpc", "metrics", "http"}
    assert ports["metrics"]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }
    dns = np["spec"]["egress"][0]["ports"]
    assert {"port": 53, "protocol": "UDP"} in dns
    pods = rendered.deployments()["cpu"]["spec"]["template"]["metadata"]["labels"]
    assert np["spec"]["podSelector"]["matchLabels"].items() <= pods.items()
    assert not render_set("cpu-only").of_kind("NetworkPolicy")


def test_grpc_route_targets_the_main_service(render_set):
    rendered = render_set("grpcroute")
    (route,) = rendered.of_kind("GRPCRoute")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"][0]["name"] == "public"
    assert route["spec"]["hostnames"] == ["switchyard.example.com"]
    (rule,) = route["spec"]["rules"]
    assert rule["backendRefs"] == [{"name": FULLNAME, "port": 8001}]
    assert [s["metadata"]["name"] for s in rendered.of_kind("Service")] == [FULLNAME]


def test_notes_explain_grpcurl_and_round_robin(helm, tmp_path):
    notes = render_notes(helm, tmp_path)
    assert "grpcurl -plaintext localhost:8001 list" in notes
    assert f"dns:///{FULLNAME}-headless.{NAMESPACE}.svc.cluster.local:8001" in notes
    assert '("grpc.lb_policy_name", "round_robin")' in notes
