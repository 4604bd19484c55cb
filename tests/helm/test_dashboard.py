"""The chart's Grafana dashboard: off by default, a sidecar-labelled ConfigMap when on, and every
metric its PromQL names is one a real server exports."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import write_model
from tests.fixtures import models
from tests.helm.chart import load_manifests, run_helm, template_args
from tests.integration.conftest import make_settings, start_server

pytestmark = pytest.mark.helm

# Sample names a family of each type exposes (the dashboard names samples, Prometheus stores samples).
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
    "info": ("_info",),
}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}


def _render(helm, *values: str) -> list[dict]:
    proc = run_helm(helm, *template_args(*(arg for value in values for arg in ("--set", value))))
    assert proc.returncode == 0, proc.stderr
    return [
        o
        for o in load_manifests(proc.stdout)
        if o["kind"] == "ConfigMap" and "grafana_dashboard" in o["metadata"]["labels"]
    ]


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return reply.read().decode()


def _expressions(dashboard: dict) -> list[str]:
    found = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", ())]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            # label_values(metric, label): the metric is a name like any other.
            found.append(re.sub(r"label_values\((\w+),\s*\w+\)", r"\1", query["query"]))
    return found


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, labels, keywords or numbers."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)  # label lists
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word, rest = match.group(), text[match.end() :].lstrip()
        if rest.startswith("(") or word in PROMQL_WORDS:
            continue
        names.add(word)
    return names


def test_metric_names_are_found_in_promql() -> None:
    expr = 'histogram_quantile(0.95, sum by (model, le) (rate(a_bucket{model=~"$model", x="b_c"}[5m]))) / b_total'
    assert metric_names(expr) == {"a_bucket", "b_total"}


def test_the_dashboard_is_off_by_default(helm) -> None:
    assert _render(helm) == []


@pytest.fixture(scope="module")
def dashboard(helm) -> dict:
    (config_map,) = _render(helm, "dashboard.enabled=true", "dashboard.annotations.grafana_folder=Inference")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "Inference"}
    (text,) = config_map["data"].values()
    return json.loads(text)


def test_the_dashboard_has_the_panels_an_operator_looks_for(dashboard) -> None:
    titles = " | ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("request rate", "errors", "p50 / p95", "stage", "batch", "model state", "frames", "auth", "restarts"):
        assert topic in titles, topic
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


@pytest.fixture(scope="module")
def scrape_repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("dashboard_repo")
    write_model(repo, "add", models.add_model(), "max_batch_size: 8\nbackend: onnxruntime\n")
    auth = repo.parent / "dashboard_auth.yaml"
    auth.write_text("anonymous: [infer, metadata]\n")  # the auth families exist only with an auth config
    return repo, auth


async def test_every_metric_the_dashboard_queries_is_exported(dashboard, scrape_repo) -> None:
    repo, auth = scrape_repo
    wanted = set().union(*(metric_names(e) for e in _expressions(dashboard)))
    assert {"switchyard_requests_total", "switchyard_stage_duration_seconds_bucket"} <= wanted
    async for server in start_server(make_settings(repo, metrics_port=0, auth_config=auth)):
        pair = {"a": np.ones((2, 4), np.float32), "b": np.ones((2, 4), np.float32)}
        await server.client.predict("add", pair, timeout=30)  # so the labelled series exist
        url = f"http://127.0.0.1:{server.server.metrics.port}/metrics"
        text = await asyncio.to_thread(_get, url)
    declared: set[str] = set()
    with_samples: set[str] = set()
    for family in text_string_to_metric_families(text):
        suffixes = SUFFIXES.get(family.type, ("",))
        declared.update(family.name + suffix for suffix in suffixes)
        with_samples.update(sample.name for sample in family.samples)
    assert sorted(wanted - declared) == []
    # The request path's series exist after one request (video, restarts need streams and isolated models).
    request_path = {n for n in wanted if n.startswith(("switchyard_request", "switchyard_stage", "switchyard_batch"))}
    assert sorted(request_path - with_samples) == []


def test_the_servers_log_json_by_default_and_the_format_is_a_value(render_set, helm) -> None:
    proc = run_helm(helm, *template_args("--set", "server.logFormat=text"))
    assert proc.returncode == 0, proc.stderr
    for text, wanted in ((render_set("cpu-only").text, "json"), (proc.stdout, "text")):
        for deployment in (o for o in load_manifests(text) if o["kind"] == "Deployment"):
            (server,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "server"]
            assert {"name": "SWITCHYARD_LOG_FORMAT", "value": wanted} in server["env"]
    refused = run_helm(helm, *template_args("--set", "server.logFormat=xml"))
    assert refused.returncode != 0 and "logFormat" in refused.stderr
