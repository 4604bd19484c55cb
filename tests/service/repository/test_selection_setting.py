"""A model's `selection:`: auto (the default), first or fastest; anything else names the field."""

from __future__ import annotations

import pytest

from protos.errors import SwitchyardError
from service.repository.config import load_model_config


@pytest.mark.parametrize(("text", "expected"), [("selection: auto\n", "auto"), ("backend: onnxruntime\n", "auto")])
def test_selection_auto_may_be_written_and_is_the_default(tmp_path, text, expected):
    (tmp_path / "config.yaml").write_text(text)
    assert load_model_config(tmp_path / "config.yaml").selection == expected


def test_an_unknown_selection_names_the_field(tmp_path):
    (tmp_path / "config.yaml").write_text("selection: quickest\n")
    with pytest.raises(SwitchyardError, match="selection"):
        load_model_config(tmp_path / "config.yaml")
