"""KServe v2 REST on a real server: the repository routes (index, load, unload) and their JSON body."""

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


async def test_load_and_unload_take_the_model_of_the_path_and_the_bodys_parameters(model_repo):
    async for _, client in rest_server(model_repo, models=["add"], allow_repository_admin=True):
        reply = await client.post("/v2/repository/models/add/unload")
        assert (reply.status_code, reply.json()) == (200, {})
        assert (await client.get("/v2/models/add/ready")).status_code == 400
        reply = await client.post("/v2/repository/models/add/load", content=b'{"parameters": {"bogus": 1}}')
        assert reply.status_code == 501 and "parameter 'bogus' is not supported" in reply.json()["error"]
        reply = await client.post(
            "/v2/repository/models/add/load", content=b'{"parameters": {"unload_dependents": true}}'
        )
        assert (reply.status_code, reply.json()) == (200, {})
        assert (await client.get("/v2/models/add/ready")).status_code == 200
        reply = await client.post("/v2/repository/models/add/unload", content=b'{"parameters": {"x": []}}')
        assert reply.status_code == 400 and reply.json()["error"].startswith("parameters.x must be")
