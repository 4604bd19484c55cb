"""The optional PrometheusRule for drift: off by default, alerts on the drift families when on."""

from __future__ import annotations

from tests.helm.chart import NAMESPACE, load_manifests, run_helm, template_args


def render(helm, *sets: str) -> list[dict]:
    proc = run_helm(helm, *template_args(*(a for s in sets for a in ("--set", s))))
    assert proc.returncode == 0, proc.stderr
    return [o for o in load_manifests(proc.stdout) if o["kind"] == "PrometheusRule"]


def test_the_drift_rule_is_off_by_default(helm):
    assert render(helm) == []
    assert render(helm, "metrics.driftRule.enabled=true", "metrics.enabled=false") == []


def test_the_drift_rule_alerts_on_drifting_versions_and_non_finite_values(helm):
    (rule,) = render(
        helm, "metrics.driftRule.enabled=true", "metrics.driftRule.for=30m", "metrics.driftRule.labels.release=kps"
    )
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == "kps"
    (group,) = rule["spec"]["groups"]
    drifting, non_finite, camera = group["rules"]
    assert drifting["alert"] == "SwitchyardModelDrifting" and drifting["for"] == "30m"
    assert f'switchyard_model_drifting{{namespace="{NAMESPACE}"}}' in drifting["expr"]
    assert drifting["annotations"]["summary"].startswith("{{ $labels.model }} version {{ $labels.version }}")
    assert "switchyard_data_quality_violations_total" in non_finite["expr"] and 'kind=~"nan|inf"' in non_finite["expr"]
    assert camera["alert"] == "SwitchyardCameraDarkOrBlurred" and camera["for"] == "30m"
    assert f'switchyard_drift_streams_drifting{{namespace="{NAMESPACE}"}}' in camera["expr"]
    assert 'tensor=~"frame\\\\.(brightness|blur)"' in camera["expr"]


def test_the_schema_refuses_an_unknown_drift_rule_key(helm):
    proc = run_helm(helm, *template_args("--set", "metrics.driftRule.threshold=0.3"))
    assert proc.returncode != 0 and "threshold" in proc.stderr
