"""KServe v2 REST on a real server: the repository routes' optional JSON body."""

from __future__ import annotations

import pytest

from tests.integration.test_rest import rest_server


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"[]", "request body must be a JSON object"), (b"{no", "request body is not valid JSON")],
)
async def test_a_repository_body_that_is_not_a_json_object_is_400(model_repo, body, message):
    async for _, client in rest_server(model_repo, models=["add"]):
        reply = await client.post("/v2/repository/index", content=body)
        assert reply.status_code == 400, reply.text
        assert reply.json()["error"].startswith(message)
