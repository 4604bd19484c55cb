"""The Starlette application: the route table, and the one wrapper every route runs in.

The wrapper is to HTTP what the gRPC interceptors are to a call: it opens the request's
observability (service/rest/observe.py), checks the caller (service/rest/auth.py), runs the
handler, and turns whatever fails into `{"error": "..."}` with its HTTP status. Messages are
the gRPC port's own (service/rpc/status.py): an unexpected error is INTERNAL with an incident
id, never a Python exception's name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from service.rest.auth import RestAuth
from service.rest.calls import ServicerCall
from service.rest.errors import HTTP_STATUS, RestError, error_response
from service.rest.observe import Observers, RestCall
from service.rest.peer import PEER
from service.rest.routes import Handler, Services, handlers
from service.rpc.status import grpc_status

MODEL = "/v2/models/{model}"
VERSION = "/v2/models/{model}/versions/{version}"

# (path, HTTP method, handler name, the GRPCInferenceService RPC it stands for; None = open to all)
ROUTES: list[tuple[str, str, str, str | None]] = [
    ("/v2/health/live", "GET", "live", None),
    ("/v2/health/ready", "GET", "ready", None),
    ("/v2", "GET", "server_metadata", "ServerMetadata"),
    ("/v2/models/stats", "GET", "model_stats", "ModelStatistics"),
    ("/v2/repository/index", "POST", "repository_index", "RepositoryIndex"),
    ("/v2/repository/models/{model}/load", "POST", "load", "RepositoryModelLoad"),
    ("/v2/repository/models/{model}/unload", "POST", "unload", "RepositoryModelUnload"),
    *(
        route
        for base in (MODEL, VERSION)
        for route in (
            (base, "GET", "model_metadata", "ModelMetadata"),
            (f"{base}/ready", "GET", "model_ready", "ModelReady"),
            (f"{base}/config", "GET", "model_config", "ModelConfig"),
            (f"{base}/stats", "GET", "model_stats", "ModelStatistics"),
            (f"{base}/infer", "POST", "infer", "ModelInfer"),
        )
    ),
]


def _endpoint(
    path: str, rpc: str | None, handler: Handler, auth: RestAuth, observers: Observers
) -> Callable[[Request], object]:
    async def endpoint(request: Request) -> Response:
        model, version = request.path_params.get("model", ""), request.path_params.get("version", "")
        observed = RestCall(request.method, path, request.url.path, model, version, request.headers, observers)
        message = ""
        try:
            auth.admit(observed.route, rpc, request.headers, request.scope.get("extensions", {}).get(PEER, {}))
            response = await handler(request, ServicerCall())
            # An answer, even "not ready" (400), is not a failed call: gRPC's ServerReady says
            # ready=false with status OK, and probes polling a loading server fill no log.
            code = grpc.StatusCode.OK
        except RestError as exc:  # HTTP's own refusals, and a servicer's status (CallFailed)
            code, message = exc.code, exc.message
            response = error_response(exc.status, message, exc.headers)
        except asyncio.CancelledError:  # the client went away
            observed.end(499, grpc.StatusCode.CANCELLED, "client disconnected", observers)
            raise
        except ClientDisconnect:  # the client went away while sending its body: no fault of ours
            code, message = grpc.StatusCode.CANCELLED, "client disconnected"
            response = error_response(499, message)
        except Exception as exc:
            code, message = grpc_status(exc, observed.route)
            response = error_response(HTTP_STATUS.get(code, 500), message)
        observed.end(response.status_code, code, message, observers)
        return response

    return endpoint


async def _not_found(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        return error_response(405, f"{request.method} is not served on {request.url.path}")
    return error_response(404, f"no route {request.url.path}: see docs/protocols.md for the KServe v2 routes")


def build_app(services: Services, auth: RestAuth, observers: Observers) -> Starlette:
    table = handlers(services)
    routes = [
        Route(path, _endpoint(path, rpc, table[name], auth, observers), methods=[method])
        for path, method, name, rpc in ROUTES
    ]
    return Starlette(routes=routes, exception_handlers={404: _not_found, 405: _not_found})
