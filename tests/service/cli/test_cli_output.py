"""What `switchyard` prints when things go right: --version, --json, serve's help, and a client-only install."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

import service
from tests.conftest import ROOT
from tests.service.cli.conftest import switchyard


def test_version_prints_the_package_version() -> None:
    result = switchyard("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"switchyard {service.__version__}\n"


def test_models_json_lists_every_model_with_states_and_shapes(address) -> None:
    result = switchyard("models", "--json", "-t", address)
    assert result.returncode == 0, result.stderr
    listed = {model["name"]: model for model in json.loads(result.stdout)}
    assert sorted(listed) == ["add", "tiny_cnn"]
    add = listed["add"]
    assert [(v["version"], v["state"], v["backend"]) for v in add["versions"]] == [("1", "READY", "onnxruntime")]
    assert {(t["name"], t["datatype"]) for t in add["inputs"]} == {("a", "FP32"), ("b", "FP32")}
    assert all(t["shape"] == [-1, 4] for t in add["outputs"])  # dynamic dims are -1, integers, not strings


def test_models_with_a_name_shows_only_that_model(address) -> None:
    result = switchyard("models", "add", "--json", "--target", address)
    assert result.returncode == 0, result.stderr
    assert [m["name"] for m in json.loads(result.stdout)] == ["add"]


def test_models_table_names_the_state(address) -> None:
    result = switchyard("models", "-t", address)
    assert result.returncode == 0, result.stderr
    assert "add" in result.stdout and "READY" in result.stdout and "STATE_" not in result.stdout


def test_predict_json_has_every_output(address, tmp_path) -> None:
    a = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", np.ones_like(a))
    result = switchyard(
        "predict", "add", "-i", f"a={tmp_path / 'a.npy'}", "-i", f"b={tmp_path / 'b.npy'}", "--json",
        env={"SWITCHYARD_TARGET": address},  # the variable is the --target default
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    outputs = json.loads(result.stdout)
    assert outputs["sum"] == {"shape": [2, 4], "dtype": "float32", "data": (a + 1).tolist()}
    assert outputs["diff"]["data"] == (a - 1).tolist()


def test_serve_help_shows_the_settings_defaults_and_variables() -> None:
    result = switchyard("serve", "--help")
    assert result.returncode == 0, result.stderr
    flat = " ".join(result.stdout.split())
    for text in ("[default: 8001]", "SWITCHYARD_PORT", "[default: 0.0.0.0]", "[default: info]", "SWITCHYARD_MODELS"):
        assert text in flat
    assert "[default: model_repository]" in flat  # relative to the working directory, not a long absolute path


# What a base install (grpcio, protobuf, numpy, typer, rich) lacks: importing any of them fails here.
# (pydantic is not on the list: Typer itself depends on it and uses it to parse flags.)
SERVER_AND_VIDEO = (
    "pydantic_settings", "yaml", "prometheus_client", "grpc_health", "grpc_reflection",
    "onnxruntime", "openvino", "cv2", "av", "simplejpeg",
)  # fmt: skip
WITHOUT_EXTRAS = f"""
import sys
for name in {SERVER_AND_VIDEO!r}:
    sys.modules[name] = None
from service.cli.app import main
main(sys.argv[1:])
"""


def test_importing_the_cli_imports_no_server_stack() -> None:
    # grpc itself looks for grpc_health / grpc_reflection when present: those two don't count.
    heavy = (*(m for m in SERVER_AND_VIDEO if not m.startswith("grpc_")), "pydantic")
    code = f"import sys, service.cli.app; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.stdout == "[]\n", result.stderr


def client_only(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS, *args], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def test_client_commands_run_without_the_server_and_video_stacks(address, tmp_path) -> None:
    assert client_only("--version").returncode == 0
    assert client_only("--help").returncode == 0
    listed = client_only("models", "--json", "-t", address)
    assert listed.returncode == 0, listed.stderr
    np.save(tmp_path / "a.npy", np.ones((1, 4), np.float32))
    feed = f"a={tmp_path / 'a.npy'}"
    predicted = client_only("predict", "add", "-t", address, "-i", feed, "-i", feed.replace("a=", "b="), "--json")
    assert predicted.returncode == 0, predicted.stderr
    assert json.loads(predicted.stdout)["sum"]["data"] == [[2, 2, 2, 2]]
    benched = client_only("bench", "tiny_cnn", "-t", address, "-c", "2", "--requests", "10", "--json")
    assert benched.returncode == 0, benched.stderr
    (row,) = json.loads(benched.stdout)["results"]
    assert (row["concurrency"], row["requests"], row["errors"]) == (2, 10, 0)
    probed = client_only("probe", "--json")
    assert probed.returncode == 0, probed.stderr
    assert {r["name"]: r["importable"] for r in json.loads(probed.stdout)["runtimes"]}["onnxruntime"] is False


def test_stream_and_serve_name_the_extra_they_need() -> None:
    stream = client_only("stream", "add", str(ROOT))
    assert stream.returncode == 1
    assert stream.stderr == "error: switchyard stream needs the video extra: pip install 'switchyard[video]'\n"
    serve = client_only("serve")
    assert serve.returncode == 1
    assert serve.stderr == "error: switchyard serve needs the server extra: pip install 'switchyard[server]'\n"
