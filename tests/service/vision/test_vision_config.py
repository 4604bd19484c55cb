"""Config schema: validation errors name the field; per-stream overrides re-validate."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest

from protos.errors import ErrorCode, InvalidInputError
from service.vision.config import (
    BoxDetectionConfig,
    ClassificationConfig,
    DbTextConfig,
    PostprocessConfig,
    PreprocessConfig,
    apply_overrides,
    apply_preprocess_overrides,
    image_input_check,
)

# How config.yaml's `postprocess:` mapping is validated (ModelConfig.postprocess has this type).
parse_postprocess = pydantic.TypeAdapter(PostprocessConfig).validate_python


def test_postprocess_union_dispatches_on_kind() -> None:
    assert isinstance(parse_postprocess({"kind": "db_text"}), DbTextConfig)
    assert isinstance(parse_postprocess({"kind": "classification", "top_k": 3}), ClassificationConfig)
    assert isinstance(parse_postprocess({"kind": "box_detection"}), BoxDetectionConfig)


def test_db_text_defaults_are_paddleocr_defaults() -> None:
    cfg = parse_postprocess({"kind": "db_text"})
    assert isinstance(cfg, DbTextConfig)
    assert (cfg.thresh, cfg.box_thresh, cfg.unclip_ratio, cfg.max_candidates, cfg.min_size) == (
        0.3, 0.6, 1.5, 1000, 3.0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "segmentation"}, "kind"),
        ({"kind": "db_text", "treshold": 0.3}, "treshold"),  # typo: extra fields are forbidden
        ({"kind": "db_text", "box_thresh": 1.5}, "box_thresh"),
        ({"kind": "classification", "top_k": 0}, "top_k"),
    ],
)
def test_postprocess_errors_name_the_field(data: dict, field: str) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        parse_postprocess(data)
    assert field in str(info.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"resize_mode": "stretch"}, "size"),
        ({"resize_mode": "keep_aspect", "size": [32, 32]}, "size"),
        ({"size": [32, 32], "mean": [0.1, 0.2]}, "mean"),
        ({"size": [32, 32], "std": [0.0]}, "std"),
        ({"size": [32, 32], "dtype": "uint8", "scale": 0.5}, "uint8"),
        ({"size": [32, 32], "colour_order": "RGB"}, "colour_order"),
    ],
)
def test_preprocess_rejects_inconsistent_config(data: dict, message: str) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        PreprocessConfig(**data)
    assert message in str(info.value)


def test_gray_accepts_single_channel_statistics() -> None:
    cfg = PreprocessConfig(size=(8, 8), color_order="GRAY", mean=(0.5,), std=(0.25,))
    assert cfg.mean == (0.5,)


def test_box_detection_needs_both_split_outputs() -> None:
    with pytest.raises(pydantic.ValidationError, match="together"):
        BoxDetectionConfig(kind="box_detection", boxes_output="boxes")


def test_overrides_parse_strings_and_return_a_new_config() -> None:
    base = DbTextConfig(kind="db_text")
    new = apply_overrides(base, {"box_thresh": "0.45", "use_dilation": "true", "max_candidates": "50"})
    assert (new.box_thresh, new.use_dilation, new.max_candidates) == (0.45, True, 50)
    assert base.box_thresh == 0.6  # the model's config is untouched


def test_overrides_accept_lists_as_csv_or_json() -> None:
    base = PreprocessConfig(size=(32, 32))
    assert apply_overrides(base, {"mean": "0.5,0.5,0.5"}).mean == (0.5, 0.5, 0.5)
    assert apply_overrides(base, {"size": "[64, 48]"}).size == (64, 48)
    assert apply_overrides(base, {"resize_mode": "letterbox"}).resize_mode == "letterbox"


def test_override_unknown_key_names_it_and_lists_allowed() -> None:
    with pytest.raises(InvalidInputError) as info:
        apply_overrides(DbTextConfig(kind="db_text"), {"box_threshold": "0.5"})
    assert "'box_threshold'" in str(info.value) and "box_thresh" in str(info.value)
    assert info.value.code is ErrorCode.INVALID_ARGUMENT


@pytest.mark.parametrize("key", ["kind", "output_name", "labels_file"])
def test_override_cannot_change_structure(key: str) -> None:
    with pytest.raises(InvalidInputError, match=key):
        apply_overrides(ClassificationConfig(kind="classification"), {key: "x"})


@pytest.mark.parametrize(("key", "value"), [("box_thresh", "high"), ("box_thresh", "2"), ("thresh", "[0.1")])
def test_override_bad_value_names_the_field(key: str, value: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        apply_overrides(DbTextConfig(kind="db_text"), {key: value})
    assert repr(key) in str(info.value)


def test_override_that_breaks_a_cross_field_rule_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="size"):
        apply_overrides(PreprocessConfig(size=(32, 32)), {"resize_mode": "keep_aspect"})


# ----------------------------------------------------------------- stream overrides stay bounded

TEXT = PreprocessConfig(resize_mode="keep_aspect", max_side=320, multiple=32)
MPX = 16 * 1024 * 1024


@pytest.mark.parametrize(
    ("base", "overrides", "words"),
    [
        (TEXT, {"resize_mode": "stretch", "size": "6000,6000"}, "size='6000,6000'.*6000 px a side.*at most 320 px"),
        (TEXT, {"max_side": "8000"}, "max_side='8000'.*at most 320 px a side"),
        (TEXT, {"multiple": "8000"}, "'multiple' 8000 .* at most 128"),
        (TEXT, {"multiple": "48"}, "'multiple' 48 must be a multiple of the model's 32"),
        (TEXT, {"max_side": "none"}, "the source frame's size"),
        (PreprocessConfig(size=(256, 256)), {"size": "256,512"}, "at most 256 px a side and 65536 pixels"),
        (PreprocessConfig(resize_mode="keep_aspect"), {"resize_mode": "stretch", "size": "5000,5000"}, "max_image"),
        (TEXT.model_copy(update={"override_max_side": 960}), {"max_side": "1280"}, "override_max_side 960"),
    ],
)
def test_preprocess_overrides_cannot_make_inputs_larger_than_the_config_allows(base, overrides, words) -> None:
    with pytest.raises(InvalidInputError, match=words) as caught:
        apply_preprocess_overrides(base, overrides, MPX)
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT


@pytest.mark.parametrize("key", ["color_order", "mean", "std", "scale", "layout", "dtype", "override_max_side"])
def test_preprocess_overrides_cannot_change_what_the_model_was_trained_on(key) -> None:
    with pytest.raises(InvalidInputError, match=f"'{key}' cannot be overridden.*overridable: interpolation"):
        apply_preprocess_overrides(TEXT, {key: "1"}, MPX)


def test_preprocess_overrides_within_the_bound_apply() -> None:
    assert apply_preprocess_overrides(TEXT, {"max_side": "160", "multiple": "64"}, MPX).max_side == 160
    raised = apply_preprocess_overrides(TEXT.model_copy(update={"override_max_side": 960}), {"max_side": "480"}, MPX)
    assert raised.input_bound() == (480, 480 * 480)
    fixed = PreprocessConfig(size=(256, 256))
    assert apply_preprocess_overrides(fixed, {"resize_mode": "letterbox", "size": "128,256"}, MPX).size == (128, 256)
    free = PreprocessConfig(resize_mode="keep_aspect")  # keeps the source size: only the pixel limit applies
    assert apply_preprocess_overrides(free, {"resize_mode": "stretch", "size": "2000,3000"}, MPX).size == (2000, 3000)
    assert apply_preprocess_overrides(TEXT, {}, MPX) is TEXT


def test_shape_rule_for_raw_tensors_is_keep_aspects_multiple() -> None:
    check = image_input_check("det", TEXT, ["x"])
    assert check is not None
    check({"x": np.zeros((1, 3, 64, 96), np.float32)})
    with pytest.raises(InvalidInputError, match=r"model 'det': input 'x': .*multiples of 32.*\[1, 3, 33, 47\]"):
        check({"x": np.zeros((1, 3, 33, 47), np.float32)})
    nhwc = image_input_check("det", TEXT.model_copy(update={"layout": "NHWC"}), ["x"])
    assert nhwc is not None
    nhwc({"x": np.zeros((1, 64, 32, 3), np.float32)})
    with pytest.raises(InvalidInputError, match="multiples of 32"):
        nhwc({"x": np.zeros((1, 3, 64, 33), np.float32)})
    # A fixed size is a resize choice (a stream may change it); several inputs need input_name.
    assert image_input_check("det", PreprocessConfig(size=(64, 64)), ["x"]) is None
    assert image_input_check("det", TEXT, ["x", "scale"]) is None
