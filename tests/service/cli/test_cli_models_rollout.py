"""Warmup time and a refused reload, as `serve`'s start-up summary and `switchyard models` show them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.conftest import serving, write_model
from tests.fixtures.models import tiny_cnn
from tests.service.cli.conftest import switchyard

WARMED = "backend: onnxruntime\nmax_batch_size: 4\nwarmup: [{batch_size: 1, count: 2}, {batch_size: 4}]\n"


def listed(address: str) -> dict:
    result = switchyard("models", "tiny_cnn", "--json", "-t", address)
    assert result.returncode == 0, result.stderr
    [model] = json.loads(result.stdout)
    return model


def test_warmup_seconds_and_a_refused_reload_reach_the_summary_and_models(tmp_path: Path) -> None:
    repo = tmp_path / "models"
    write_model(repo, "tiny_cnn", tiny_cnn(), WARMED)
    log_path = tmp_path / "serve.log"
    with (
        log_path.open("w") as log,
        serving(sys.executable, repo, "--allow-repository-admin", "--log-format", "json", stderr=log) as (_, address),
    ):
        # The port is written after the start-up summary, so the summary is in the log by now.
        records = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
        [row] = [r for r in records if r.get("logger") == "switchyard.summary" and r.get("model") == "tiny_cnn"]
        assert row["state"] == "READY" and row["warmup_seconds"] > 0
        assert "last_reload_error" not in row  # only when a reload was refused

        model = listed(address)
        assert model["versions"][0]["warmup_seconds"] > 0 and model["last_reload_error"] == ""

        (repo / "tiny_cnn" / "config.yaml").write_text("backend: onnxruntime\nbatching: yes\n")
        assert switchyard("load", "tiny_cnn", "-t", address).returncode != 0

        model = listed(address)
        assert model["versions"][0]["state"] == "READY"  # the old version keeps serving
        assert "batching" in model["last_reload_error"]
        table = switchyard("models", "-t", address)
        assert table.returncode == 0, table.stderr
        assert "warmup s" in table.stdout and "reload refused" in table.stdout
