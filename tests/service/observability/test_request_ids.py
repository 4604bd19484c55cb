"""Ids the server gives requests that came without one."""

from __future__ import annotations

import re

from service.observability.logging import new_request_id


def test_generated_request_ids_are_16_hex_digits_and_do_not_repeat() -> None:
    ids = [new_request_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9a-f]{16}", value) for value in ids)
    assert len(set(ids)) == len(ids)
