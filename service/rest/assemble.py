"""The REST port of one Switchyard server, put together from that server's own parts.

The same servicers (so the same repository, runners, intake, cache and drain gate), the same
authenticator and auth counts, the same observability sinks, the same certificate files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.rest.app import build_app
from service.rest.auth import RestAuth
from service.rest.observe import Observers
from service.rest.routes import Services
from service.rest.server import RestServer

if TYPE_CHECKING:
    from service.server import SwitchyardServer


async def start_rest_server(server: SwitchyardServer) -> RestServer:
    settings = server.settings
    services = Services(server.oip, server.predict, server.repository, settings.max_message_bytes)
    auth = RestAuth(server.security.authenticator, server.security.stats)
    observers = Observers(server.access_log, server.stages, server.unknown_models, server.protocol_requests)
    rest = RestServer(
        build_app(services, auth, observers),
        settings.host,
        settings.http_port,
        settings.reuse_port,
        server.security.certificates,
    )
    await rest.start()
    return rest
