"""The KServe v2 routes (and Triton's extensions): each one request -> one servicer call -> one reply.

Every handler turns the HTTP request into the servicer's request message, calls the servicer
method the gRPC port serves (service/rest/calls.py), and writes its reply as JSON. `ROUTES`
(service/rest/app.py) names the RPC each route stands for: its auth group and its place in the docs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from protos.inference import grpc_service_pb2 as pb
from protos.switchyard.v1 import predict_pb2
from service.oip.servicer import OipServicer
from service.predict.image import IMAGE_INPUT
from service.predict.servicer import PredictServicer
from service.repository.repository import ModelRepository
from service.rest.binary import HEADER_LENGTH, BinaryParts, split_body
from service.rest.body import read_body
from service.rest.calls import ServicerCall, call
from service.rest.documents import document
from service.rest.errors import RestError, error_response, json_response
from service.rest.replies import infer_reply, predict_reply
from service.rest.requests import ReplyLayout, _object, infer_request, parse_json, set_parameters

IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
# JSON up to this size is parsed and written on the event loop (~2 ms); bigger (tensors as
# JSON numbers) in a worker thread. Binary tensors are never parsed, only sliced.
INLINE_JSON_BYTES = 256 * 1024

Handler = Callable[[Request, ServicerCall], Awaitable[Response]]


@dataclass
class Services:
    """What the routes call: the gRPC port's own servicers and repository, and the body limit."""

    oip: OipServicer
    predict: PredictServicer
    repository: ModelRepository
    max_body_bytes: int


def _model(request: Request) -> tuple[str, str]:
    return request.path_params.get("model", ""), request.path_params.get("version", "")


async def _json_body(request: Request, services: Services) -> dict:
    """An optional JSON object body (repository routes)."""
    body = await read_body(request, services.max_body_bytes)
    if not body.strip():
        return {}
    # Not an object: INVALID_ARGUMENT, which the app answers 400, as for JSON that does not parse.
    return _object(parse_json(body), "request body")


def handlers(services: Services) -> dict[str, Handler]:
    oip = services.oip

    async def live(request: Request, context: ServicerCall) -> Response:
        reply = await call(oip.ServerLive, pb.ServerLiveRequest(), context)
        return json_response({"live": reply.live})

    async def ready(request: Request, context: ServicerCall) -> Response:
        reply = await call(oip.ServerReady, pb.ServerReadyRequest(), context)
        # The KServe v2 spec: 200 means ready, a 4xx not ready (Triton answers 400 too).
        return json_response({"ready": reply.ready}) if reply.ready else error_response(400, "server is not ready")

    async def server_metadata(request: Request, context: ServicerCall) -> Response:
        return json_response(document(await call(oip.ServerMetadata, pb.ServerMetadataRequest(), context)))

    async def model_metadata(request: Request, context: ServicerCall) -> Response:
        name, version = _model(request)
        reply = await call(oip.ModelMetadata, pb.ModelMetadataRequest(name=name, version=version), context)
        return json_response(document(reply))

    async def model_ready(request: Request, context: ServicerCall) -> Response:
        name, version = _model(request)
        reply = await call(oip.ModelReady, pb.ModelReadyRequest(name=name, version=version), context)
        if reply.ready:
            return json_response({"name": name, "ready": True})
        return error_response(400, f"model '{name}' is not ready")

    async def model_config(request: Request, context: ServicerCall) -> Response:
        name, version = _model(request)
        reply = await call(oip.ModelConfig, pb.ModelConfigRequest(name=name, version=version), context)
        return json_response(document(reply.config))

    async def model_stats(request: Request, context: ServicerCall) -> Response:
        name, version = _model(request)
        reply = await call(oip.ModelStatistics, pb.ModelStatisticsRequest(name=name, version=version), context)
        return json_response(document(reply))

    async def infer(request: Request, context: ServicerCall) -> Response:
        name, version = _model(request)
        # An unknown or unavailable model is the answer whatever the body holds, as over gRPC.
        services.repository.get(name, version)
        body = await read_body(request, services.max_body_bytes)
        media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media in IMAGE_TYPES:
            return await _image(services, name, version, body, context)
        json_part, binary_part = split_body(body, request.headers.get(HEADER_LENGTH))
        if len(json_part) > INLINE_JSON_BYTES:  # parsing a big JSON tensor would hold the event loop
            message, layout = await asyncio.to_thread(_convert, json_part, binary_part, name, version)
        else:
            message, layout = _convert(json_part, binary_part, name, version)
        del body, json_part, binary_part  # the message holds the tensors now
        reply = await call(oip.ModelInfer, message, context)
        if reply.ByteSize() > INLINE_JSON_BYTES:  # as for requests: big JSON is written off the loop
            content, headers = await asyncio.to_thread(infer_reply, reply, layout)
        else:
            content, headers = infer_reply(reply, layout)
        return Response(content, headers=headers)

    async def repository_index(request: Request, context: ServicerCall) -> Response:
        options = await _json_body(request, services)
        message = pb.RepositoryIndexRequest(ready=bool(options.get("ready", False)))
        reply = await call(oip.RepositoryIndex, message, context)
        return json_response([document(model) for model in reply.models])

    def repository_model(
        make: type[pb.RepositoryModelLoadRequest] | type[pb.RepositoryModelUnloadRequest],
        method: Callable[[Any, Any], Awaitable[Any]],
    ) -> Handler:
        """Load or unload: the model of the path, the body's parameters, an empty JSON reply."""

        async def handler(request: Request, context: ServicerCall) -> Response:
            options = await _json_body(request, services)
            message = make(model_name=_model(request)[0])
            set_parameters(message.parameters, options.get("parameters", {}), "parameters")
            await call(method, message, context)
            return json_response({})

        return handler

    return {
        "live": live,
        "ready": ready,
        "server_metadata": server_metadata,
        "model_metadata": model_metadata,
        "model_ready": model_ready,
        "model_config": model_config,
        "model_stats": model_stats,
        "infer": infer,
        "repository_index": repository_index,
        "load": repository_model(pb.RepositoryModelLoadRequest, oip.RepositoryModelLoad),
        "unload": repository_model(pb.RepositoryModelUnloadRequest, oip.RepositoryModelUnload),
    }


def _convert(
    json_part: memoryview, binary_part: memoryview, name: str, version: str
) -> tuple[pb.ModelInferRequest, ReplyLayout]:
    return infer_request(parse_json(json_part), BinaryParts(binary_part), name, version)


async def _image(services: Services, name: str, version: str, body: bytes, context: ServicerCall) -> Response:
    """A JPEG or PNG body for a model that declares preprocess: Predict's image path, answered as JSON."""
    model = services.repository.get(name, version)
    if model.config is None or model.config.preprocess is None:
        raise RestError(
            415, f"model '{name}' declares no preprocess in its config.yaml: send JSON tensors, not an image"
        )
    message = predict_pb2.PredictRequest(model=name, version=version, raw_output=True)
    message.inputs.add(name=IMAGE_INPUT, datatype="BYTES", shape=[1]).contents.bytes_contents.append(body)
    reply = await call(services.predict.Predict, message, context)
    return json_response(predict_reply(reply))
