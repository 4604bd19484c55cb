"""The mapping from an exception to the one line a user reads (service/cli/errors.py)."""

from __future__ import annotations

import errno

import grpc
import pytest

from clients.errors import PredictError
from service.cli.errors import CliError, explain, invocation


@pytest.fixture
def target():
    invocation.target = "db:8001"
    yield invocation.target
    invocation.target = None


FAILED = "failed to connect to all addresses; last error: UNKNOWN: ipv4:10.0.0.1:8001"


@pytest.mark.parametrize(
    ("details", "reason"),
    [
        (f"{FAILED}: Failed to connect to remote host: Connection refused", "connection refused"),
        ("errors resolving db:8001: [field:hostname lookup error:Domain name not found]", "unknown host"),
        (f"{FAILED}: Timeout occurred", "timeout occurred"),
    ],
)
def test_an_unreachable_server_names_the_target_and_the_reason(target, details, reason) -> None:
    assert explain(PredictError(grpc.StatusCode.UNAVAILABLE, details)) == (
        f"cannot reach the server at db:8001 ({reason})",
        1,
    )


def test_a_status_from_the_server_keeps_its_code_and_details(target) -> None:
    error = PredictError(grpc.StatusCode.NOT_FOUND, "unknown model 'nope';\n the repository serves ['add']")
    assert explain(error) == ("NOT_FOUND from db:8001: unknown model 'nope'; the repository serves ['add']", 1)
    draining = PredictError(grpc.StatusCode.UNAVAILABLE, "the server is shutting down")
    assert explain(draining)[0] == "UNAVAILABLE from db:8001: the server is shutting down"
    assert "did not answer in time" in explain(PredictError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"))[0]


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (CliError("input file x.npy does not exist"), "input file x.npy does not exist"),
        (FileNotFoundError(errno.ENOENT, "No such file or directory", "r.json"), "no such file or directory: r.json"),
        (PermissionError(errno.EACCES, "Permission denied", "/root/out"), "permission denied: /root/out"),
        (OSError(errno.EADDRINUSE, "Address already in use"), "address already in use: pick another --port"),
        (ModuleNotFoundError("No module named 'av'", name="av"), "pip install 'switchyard[video]'"),
        (ModuleNotFoundError("No module named 'onnxruntime'", name="onnxruntime"), "pip install 'switchyard[cpu]'"),
        (RuntimeError("boom\nsecond line"), "unexpected failure (boom second line); run with --debug"),
    ],
)
def test_known_kinds_become_one_line_without_exception_names(error, line) -> None:
    message, code = explain(error)
    assert line in message and code == 1
    assert "\n" not in message and "Error" not in message


def test_a_settings_error_names_the_flag_and_the_variable(monkeypatch) -> None:
    from pydantic import ValidationError

    from service.settings import ServerSettings

    monkeypatch.setenv("SWITCHYARD_METRICS_PORT", "-5")
    with pytest.raises(ValidationError) as caught:
        ServerSettings(workers=0)
    message, _ = explain(caught.value)
    assert "invalid value '-5' for --metrics-port / SWITCHYARD_METRICS_PORT" in message
    assert "invalid value 0 for --workers / SWITCHYARD_WORKERS" in message
