"""Model names are plain folder names and versions are digits: every way of pointing the
repository elsewhere is refused as INVALID_ARGUMENT naming the rule, a symlink out of the
repository is not a model, and no message shows the repository's absolute path."""

from __future__ import annotations

import logging

import pytest

from protos.errors import InvalidInputError, ModelNotFoundError
from protos.text import clipped
from service.repository.folders import scan
from service.repository.names import check_model_name, check_version, is_model_name
from tests.conftest import write_model
from tests.fixtures import models

NOT_NAMES = [
    "",
    ".",
    "..",
    "../outside/evil",
    "/etc/passwd",
    "tiny_cnn/../tiny_cnn",
    "tiny_cnn/",
    "a\\b",
    "a..b",
    ".hidden",
    "-dash",
    "nul\0byte",
    "line\nbreak",
    "spa ce",
    "ünïcode",
    "x" * 129,
]


@pytest.mark.parametrize("name", ["tiny_cnn", "resnet-50.v2", "A", "1", "x" * 128, "a.b_c-d"])
def test_names_that_are_names(name):
    assert is_model_name(name) and check_model_name(name) == name


@pytest.mark.parametrize("name", NOT_NAMES)
def test_names_that_are_not(name):
    assert not is_model_name(name)
    with pytest.raises(InvalidInputError, match="a model name is 1 to 128 characters") as info:
        check_model_name(name)
    assert len(info.value.message) < 300  # the name is echoed clipped, never whole


def test_a_long_name_is_echoed_clipped_and_control_characters_escaped():
    with pytest.raises(InvalidInputError) as info:
        check_model_name("/" + "a" * 10_000)
    assert "'/" + "a" * 63 + "... (9937 more characters)'" in info.value.message
    assert clipped("a\0b\n") == "a\\x00b\\n"


@pytest.mark.parametrize("version", ["", "1", "0", "42", "9" * 18])
def test_versions_that_are_versions(version):
    assert check_version(version) == version


@pytest.mark.parametrize("version", ["1a", "-1", "+1", " 1", "1_0", "١", "1.0", "9" * 19, "latest"])
def test_versions_that_are_not(version):
    with pytest.raises(InvalidInputError, match="up to 18 digits"):
        check_version(version)


async def test_repository_refuses_bad_names_and_versions_as_invalid_argument(make_repository, repo):
    repository = make_repository(repo)
    await repository.load_all()
    for name in ("../models", "/etc", "tiny_cnn/../tiny_cnn"):
        for call in (repository.get, repository.entry):
            with pytest.raises(InvalidInputError):
                call(name)
        with pytest.raises(InvalidInputError):
            await repository.load(name)
        with pytest.raises(InvalidInputError):
            await repository.unload(name)
    with pytest.raises(InvalidInputError, match="version '1a' is not valid"):
        repository.get("tiny_cnn", "1a")
    with pytest.raises(ModelNotFoundError, match="unknown model 'nope'"):
        repository.get("nope")


async def test_a_symlink_out_of_the_repository_is_not_a_model(make_repository, repo, tmp_path, caplog):
    outside = write_model(tmp_path / "elsewhere", "evil", models.tiny_cnn(), "")
    (repo / "evil").symlink_to(outside, target_is_directory=True)
    (repo / "inside").symlink_to(repo / "tiny_cnn", target_is_directory=True)  # inside: fine
    with caplog.at_level(logging.WARNING, logger="service.repository"):
        folders = scan(repo)
    assert "evil" not in folders.models and "inside" in folders.models
    assert any("'evil'" in r.getMessage() for r in caplog.records)
    repository = make_repository(repo)
    with pytest.raises(ModelNotFoundError, match="^no model 'evil' in the repository$"):
        await repository.load("evil")


def test_a_missing_repository_is_reported_without_its_path(make_repository, tmp_path):
    repository = make_repository(tmp_path / "gone")
    with pytest.raises(ModelNotFoundError) as info:
        repository.discover()
    assert str(tmp_path) not in info.value.message and "does not exist" in info.value.message
