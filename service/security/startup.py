"""The security layer of one server, built from its settings: every mistake is one line at start-up.

Also says, in one log line, what the gRPC port lets through: a warning when anyone who can
reach it may call everything, or when tokens would cross the network in plaintext.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass, field

import grpc

from service.security.audit import AuthStats
from service.security.auth import AuthConfigError, Authenticator, load_auth_config
from service.security.interceptor import AuthInterceptor
from service.security.tls import CertificateFiles, TlsError, TlsFiles
from service.settings import ServerSettings

LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})
SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


class SecurityError(Exception):
    """The TLS files, the auth config or the settings together cannot be served; one line for the user."""


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def shared_memory_on(settings: ServerSettings) -> bool:
    """Whether the OIP system shared memory RPCs work: "auto" only on loopback, where every
    client is on this host (the only place a client's shared memory exists)."""
    return settings.shared_memory == "system" or (settings.shared_memory == "auto" and is_loopback(settings.host))


@dataclass
class ServerSecurity:
    certificates: CertificateFiles | None = None
    authenticator: Authenticator | None = None
    stats: AuthStats = field(default_factory=AuthStats)

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> ServerSecurity:
        _check_combinations(settings)
        try:
            certificates = None
            if settings.tls_cert and settings.tls_key:
                certificates = CertificateFiles(TlsFiles(settings.tls_cert, settings.tls_key, settings.tls_client_ca))
            config = load_auth_config(settings.auth_config) if settings.auth_config else None
        except (TlsError, AuthConfigError) as exc:
            raise SecurityError(str(exc)) from None
        if config is not None and config.clients and not settings.tls_client_ca:
            raise SecurityError(
                f"auth config {settings.auth_config} lists clients, but without --tls-client-ca "
                "no client certificate is asked for"
            )
        grants_admin = config is not None and config.grants_admin()
        if settings.allow_repository_admin and not grants_admin and not is_loopback(settings.host):
            raise SecurityError(
                f"--allow-repository-admin on {settings.host} would let anyone who reaches the port load and "
                "unload models: give an identity the admin group in --auth-config, or bind --host 127.0.0.1"
            )
        if settings.shared_memory == "system" and not grants_admin and not is_loopback(settings.host):
            raise SecurityError(
                f"--shared-memory system on {settings.host} would let anyone who reaches the port have the server "
                "read and write this host's shared memory: give an identity the admin group in --auth-config, "
                "or bind --host 127.0.0.1"
            )
        return cls(certificates, Authenticator(config) if config is not None else None)

    def interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        return [AuthInterceptor(self.authenticator, self.stats)] if self.authenticator else []

    def exposure(self, settings: ServerSettings) -> tuple[int, str]:
        """(log level, line): what the gRPC port, and the HTTP port when on (same auth), let through."""
        admin = " including loading and unloading models" if settings.allow_repository_admin else ""
        ports, is_, uses = "the gRPC port", "is", "uses"
        if settings.http_port >= 0:  # -1 = off
            ports, is_, uses = "the gRPC and HTTP ports", "are", "use"
        files = self.certificates.files if self.certificates else None
        if files is None and self.authenticator is None:
            return logging.WARNING, (
                f"{ports} {is_} plaintext with no --auth-config: anyone who can reach {settings.host} "
                f"may call every RPC{admin} (docs/security.md)"
            )
        transport = "plaintext"
        if files is not None:
            transport = f"TLS with client certificates from {files.client_ca}" if files.client_ca else "TLS"
        if self.authenticator is None:
            callers = "every client with a certificate" if files and files.client_ca else "every client"
            level = logging.INFO if files and files.client_ca else logging.WARNING
            return level, f"{ports} {uses} {transport} with no --auth-config: {callers} may call every RPC{admin}"
        config = self.authenticator.config
        line = (
            f"{ports} {uses} {transport}; {settings.auth_config}: {len(config.tokens)} token(s), "
            f"{len(config.clients)} client(s), anonymous callers may use "
            f"{', '.join(g.value for g in config.anonymous) or 'nothing'}"
        )
        if files is None and config.tokens:
            return logging.WARNING, f"{line}; bearer tokens cross the network in plaintext: add --tls-cert/--tls-key"
        return logging.INFO, line


def _check_combinations(settings: ServerSettings) -> None:
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise SecurityError("--tls-cert and --tls-key go together (SWITCHYARD_TLS_CERT, SWITCHYARD_TLS_KEY)")
    if settings.tls_client_ca and not settings.tls_cert:
        raise SecurityError("--tls-client-ca needs --tls-cert and --tls-key: client certificates are part of TLS")
    if settings.metrics_tls and not settings.tls_cert:
        raise SecurityError("--metrics-tls serves the --tls-cert/--tls-key certificate: set them too")
    if settings.metrics_token_sha256 is not None and not SHA256_HEX.fullmatch(settings.metrics_token_sha256):
        # Never the value: a token pasted in place of its digest would end up on the terminal and in logs.
        raise SecurityError(
            "--metrics-token-sha256 takes the token's SHA-256 as 64 hex digits (printf %s TOKEN | sha256sum)"
        )
