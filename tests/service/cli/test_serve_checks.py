"""`switchyard serve`'s checks before any model loads, and the settings' spelling rules."""

from __future__ import annotations

import socket

import pytest

import service.settings
from service.cli.errors import CliError
from service.cli.serve import check_before_loading, check_port_free, setting_label
from service.settings import ServerSettings


def test_a_missing_bundled_repository_is_told_without_the_install_path(tmp_path, monkeypatch) -> None:
    # As from a wheel: the bundled repository would sit in site-packages, which has none.
    bundled = tmp_path / "lib" / "python3.11" / "site-packages" / "model_repository"
    monkeypatch.setattr(service.settings, "DEFAULT_REPOSITORY", bundled)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    with pytest.raises(CliError) as caught:
        check_before_loading(ServerSettings(model_repository=bundled))
    assert caught.value.message == (
        "model repository .../model_repository does not exist: "
        "pass --model-repository DIR or run scripts/fetch_models.py"
    )


def test_models_are_checked_against_the_repository(tmp_path) -> None:
    (tmp_path / "add").mkdir()
    (tmp_path / "add" / "config.yaml").write_text("backend: onnxruntime\n")
    (tmp_path / "notes").mkdir()  # no config.yaml: not a model
    check_before_loading(
        ServerSettings(model_repository=tmp_path, models=["add"], port=0, metrics_port=-1, http_port=-1)
    )
    with pytest.raises(CliError, match=r"no model 'notes', 'other' in .* \(it has add\)"):
        check_before_loading(ServerSettings(model_repository=tmp_path, models=["notes", "other"], port=0))


def test_a_taken_port_is_found_before_the_server_binds() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CliError, match=f"port {port} on 127.0.0.1 is already in use \\(--metrics-port\\)"):
            check_port_free("127.0.0.1", port, "--metrics-port")
    check_port_free("127.0.0.1", port, "--port")  # released: free again


def test_log_level_and_backend_are_words_in_any_case(monkeypatch) -> None:
    monkeypatch.setenv("SWITCHYARD_LOG_LEVEL", "DEBUG")
    assert ServerSettings(backend="OpenVINO").model_dump(include={"log_level", "backend"}) == {
        "log_level": "debug",
        "backend": "openvino",
    }


def test_settings_are_named_by_flag_and_variable() -> None:
    assert setting_label("port") == "--port / SWITCHYARD_PORT"
    assert setting_label("models") == "--model / SWITCHYARD_MODELS"
    assert setting_label("reuse_port") == "SWITCHYARD_REUSE_PORT"  # set by the supervisor only: no flag


def test_workers_need_a_fixed_http_port(tmp_path):
    (tmp_path / "add").mkdir()
    (tmp_path / "add" / "config.yaml").write_text("backend: onnxruntime\n")
    with pytest.raises(CliError, match="--workers needs a fixed --http-port"):
        check_before_loading(ServerSettings(model_repository=tmp_path, port=9, workers=2, http_port=0))
