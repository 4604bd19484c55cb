"""The error-code table is complete; config.yaml errors name the file and the field."""

from __future__ import annotations

import subprocess
import sys

import grpc
import pytest

from protos.errors import ErrorCode, InvalidInputError
from service.repository.config import ConfigError, VersionPolicy, load_model_config
from service.rpc.status import GRPC_STATUS, grpc_status
from tests.conftest import ROOT


def test_every_error_code_maps_to_a_grpc_status():
    assert set(GRPC_STATUS) == set(ErrorCode)
    assert grpc_status(InvalidInputError("x")) == (grpc.StatusCode.INVALID_ARGUMENT, "x")
    code, message = grpc_status(RuntimeError("boom"))
    assert code is grpc.StatusCode.INTERNAL and "RuntimeError" not in message and "boom" not in message


def test_error_code_names_are_the_status_names():
    """Statistics and metrics count failures by ErrorCode name; clients see the status name."""
    assert all(code.name == status.name for code, status in GRPC_STATUS.items())


def test_unknown_key_names_file_and_field(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("backend: onnxruntime\nonnxruntime:\n  providers: [CPUExecutionProvider]\n  threads: 4\n")
    with pytest.raises(ConfigError) as info:
        load_model_config(path)
    assert str(path) in str(info.value) and "field 'onnxruntime.threads'" in str(info.value)


def test_bad_value_names_field(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("inputs:\n  - {name: x, datatype: FLOAT, shape: [1]}\n")
    with pytest.raises(ConfigError, match=r"field 'inputs\.0\.datatype'.*unknown datatype 'FLOAT'"):
        load_model_config(path)


def test_typed_backend_options(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("backend: openvino\nopenvino: {performance_hint: THROUGHPUT, precision_hint: f32}\n")
    config = load_model_config(path)
    assert config.openvino.performance_hint == "THROUGHPUT" and config.openvino.precision_hint == "f32"


@pytest.mark.parametrize(
    "policy,expected",
    [
        ({}, [3]),
        ({"latest": 2}, [2, 3]),
        ({"all": True}, [1, 2, 3]),
        ({"specific": [1, 3, 7]}, [1, 3]),
    ],
)
def test_version_policy(policy, expected):
    assert VersionPolicy(**policy).select([3, 1, 2]) == expected


def test_generated_code_is_current():
    result = subprocess.run(
        [sys.executable, "-m", "protos.generate", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_name_must_match_the_folder(tmp_path):
    folder = tmp_path / "detector"
    folder.mkdir()
    (folder / "config.yaml").write_text("name: detector\n")
    assert load_model_config(folder / "config.yaml").name == "detector"
    (folder / "config.yaml").write_text("name: classifier\n")
    with pytest.raises(ConfigError, match=r"field 'name': 'classifier' does not match the model's folder 'detector'"):
        load_model_config(folder / "config.yaml")
