"""`helm test`'s script, as rendered, lists the models and predicts against a real server."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
import yaml

from tests.helm.chart import NAMESPACE, run_helm, template_args
from tests.integration.conftest import make_settings, started_server

pytestmark = pytest.mark.helm


def rendered_script(helm: Path) -> str:
    proc = run_helm(helm, *template_args("--show-only", "templates/tests/test-predict.yaml"))
    assert proc.returncode == 0, proc.stderr
    (pod,) = [o for o in yaml.safe_load_all(proc.stdout) if o]
    return pod["spec"]["containers"][0]["command"][-1]


async def run_against_a_server(script: str, model_repo: Path, tmp_path: Path) -> tuple[int, str, str]:
    """Runs the pod's script with the Service address pointed at a real server on 127.0.0.1:0."""
    server = await started_server(make_settings(model_repo))
    try:
        local = script.replace(f"switchyard.{NAMESPACE}.svc:8001", f"127.0.0.1:{server.port}")
        local = local.replace("/tmp/input.npy", str(tmp_path / "input.npy"))
        assert local != script
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        # Not subprocess.run: the server answers on this event loop while the script runs.
        proc = await asyncio.create_subprocess_exec(
            "sh",
            "-ec",
            local,
            env={**os.environ, "COLUMNS": "200", "PATH": path},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    finally:
        await server.stop(grace=0)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_rendered_helm_test_script_passes_against_a_server(helm, model_repo, tmp_path):
    code, out, err = await run_against_a_server(rendered_script(helm), model_repo, tmp_path)
    assert code == 0, err
    assert "tiny_cnn" in out and "probabilities" in out and "logits" in out


async def test_the_script_fails_when_the_model_is_missing(helm, model_repo, tmp_path):
    """The check above can fail: a model the server lacks makes `helm test` fail."""
    script = rendered_script(helm).replace("predict tiny_cnn", "predict no_such_model")
    code, _, err = await run_against_a_server(script, model_repo, tmp_path)
    assert code != 0 and "no_such_model" in err
