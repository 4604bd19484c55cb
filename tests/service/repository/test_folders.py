"""Folders without config.yaml are reported (warning, UNAVAILABLE entry with what to write), hidden ones ignored."""

from __future__ import annotations

import logging

import pytest

from protos.errors import InvalidInputError, ModelNotFoundError, ModelUnavailableError
from service.repository.folders import missing_config_reason, scan
from service.repository.repository import ModelState


def test_scan_splits_models_from_unconfigured_folders_and_skips_hidden_ones(repo):
    (repo / "lost+found").mkdir()
    folders = scan(repo)
    assert folders.models == ["corrupt", "tiny_cnn"]
    assert folders.unconfigured == ["from_triton", "no_config"]


def test_triton_folder_is_told_what_to_write_instead(repo):
    reason = missing_config_reason(repo / "from_triton")
    assert reason.startswith("found config.pbtxt (Triton): Switchyard reads config.yaml;")
    assert "an empty config.yaml serves the model with defaults read from the artifact" in reason
    assert reason.endswith("see README 'Model repository'")


def test_folder_without_any_config(repo):
    assert missing_config_reason(repo / "no_config").startswith("no config.yaml: ")


async def test_load_all_reports_unconfigured_folders_as_unavailable_entries(make_repository, repo, caplog):
    repository = make_repository(repo)
    with caplog.at_level(logging.INFO, logger="service.repository"):
        await repository.load_all()
    assert repository.names() == ["corrupt", "from_triton", "no_config", "tiny_cnn"]  # no ".cache"
    triton = repository.entry("from_triton")
    assert triton.state is ModelState.UNAVAILABLE and triton.reason.startswith("found config.pbtxt (Triton)")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith("model no_config: UNAVAILABLE: no config.yaml") for m in warnings), warnings
    assert any(m.startswith("model from_triton: UNAVAILABLE: found config.pbtxt") for m in warnings), warnings
    assert not any(".cache" in r.getMessage() for r in caplog.records)
    # A request for it says why rather than "unknown model".
    with pytest.raises(ModelUnavailableError, match="found config.pbtxt"):
        repository.get("from_triton")


async def test_only_filter_applies_to_unconfigured_folders_too(make_repository, repo):
    repository = make_repository(repo, only=["tiny_cnn"])
    await repository.load_all()
    assert repository.names() == ["tiny_cnn"]


async def test_load_of_a_missing_folder_is_not_found(make_repository, repo):
    with pytest.raises(ModelNotFoundError, match="in the repository$"):
        await make_repository(repo).load("missing")


@pytest.mark.parametrize("name", ["../models", ".cache", "a/b"])
async def test_load_refuses_names_that_are_not_model_names(make_repository, repo, name):
    with pytest.raises(InvalidInputError, match="is not valid: a model name is"):
        await make_repository(repo).load(name)


async def test_an_unconfigured_folder_loads_once_it_has_a_config(make_repository, repo):
    repository = make_repository(repo)
    assert (await repository.load("no_config")).state is ModelState.UNAVAILABLE
    write = repo / "no_config"
    (write / "1" / "model.onnx").write_bytes((repo / "tiny_cnn" / "1" / "model.onnx").read_bytes())
    (write / "config.yaml").write_text("")  # empty: defaults read from the artifact
    entry = await repository.load("no_config")
    assert entry.state is ModelState.READY and not entry.reason
