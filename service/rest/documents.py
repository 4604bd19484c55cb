"""Protobuf replies as the JSON documents Triton's HTTP endpoint serves (config, metadata, statistics).

Not json_format's canonical JSON: that writes 64-bit integers as strings, and tritonclient and
perf_analyzer read shapes, counts and nanoseconds as numbers. Field names are the proto's,
enums are their names, scalars and lists are written even when empty or zero (the readers
index into them), nested messages only when set (ModelConfig would otherwise unfold every
optional block).
"""

from __future__ import annotations

import base64
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message


def document(message: Message) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            found[field.name] = {key: _value(value_field, v) for key, v in getattr(message, field.name).items()}
        elif field.is_repeated:
            found[field.name] = [_value(field, v) for v in getattr(message, field.name)]
        elif field.containing_oneof is not None or field.type == FieldDescriptor.TYPE_MESSAGE:
            if message.HasField(field.name):
                found[field.name] = _value(field, getattr(message, field.name))
        else:
            found[field.name] = _value(field, getattr(message, field.name))
    return found


def _value(field: Any, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return document(value)
    if field.type == FieldDescriptor.TYPE_ENUM:
        number = field.enum_type.values_by_number.get(value)
        return number.name if number is not None else value
    if field.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode()
    return value
