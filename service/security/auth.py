"""The auth config (--auth-config FILE) and who a caller is: a bearer token, a client certificate, or nobody.

tokens:   [{name, sha256, groups}]   sha256 is the hex SHA-256 of the token; the token itself
                                     is never stored, logged or echoed
clients:  [{name, subject: {dns: ...} | {cn: ...}, groups}]   mTLS identities (--tls-client-ca)
anonymous: [groups]                  what a caller without credentials may do (default nothing)

A presented token decides alone: a valid one is its identity, an invalid one is refused even
when a client certificate would have matched. Tokens are compared in constant time: the digest
of what was sent against every entry's digest, without stopping at the first match.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from service.security.groups import Group
from service.security.identity import ANONYMOUS, Identity

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$"  # names are log values and metric labels
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


class AuthConfigError(Exception):
    """The auth config cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenEntry(_Strict):
    name: str = Field(pattern=_NAME)
    sha256: str
    groups: list[Group] = Field(min_length=1)

    @field_validator("sha256", mode="before")
    @classmethod
    def _hex_digest(cls, value: object) -> str:
        # The message never repeats the value: a token pasted here by mistake stays out of the logs.
        if not isinstance(value, str):  # YAML reads a digest of decimal digits only as a number
            raise ValueError("expected the token's SHA-256 as a string of 64 hex digits: quote it")
        if not _SHA256.match(value):
            raise ValueError("expected the token's SHA-256 as 64 hex digits (printf %s TOKEN | sha256sum)")
        return value.lower()


class Subject(_Strict):
    dns: str | None = Field(default=None, min_length=1)
    cn: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> Subject:
        if (self.dns is None) == (self.cn is None):
            raise ValueError("give exactly one of dns (a DNS subjectAltName) or cn (the subject's common name)")
        return self


class ClientEntry(_Strict):
    name: str = Field(pattern=_NAME)
    subject: Subject
    groups: list[Group] = Field(min_length=1)


class AuthConfig(_Strict):
    tokens: list[TokenEntry] = Field(default_factory=list)
    clients: list[ClientEntry] = Field(default_factory=list)
    anonymous: list[Group] = Field(default_factory=list)

    @model_validator(mode="after")
    def _distinct(self) -> AuthConfig:
        if ANONYMOUS in [t.name for t in self.tokens] + [c.name for c in self.clients]:
            raise ValueError(f"the name '{ANONYMOUS}' is reserved for callers without credentials")
        _no_repeats("token names", [t.name for t in self.tokens])
        _no_repeats("client names", [c.name for c in self.clients])
        if len({t.sha256 for t in self.tokens}) != len(self.tokens):
            raise ValueError("two tokens have the same sha256")
        _no_repeats("client subjects", [f"{c.subject.dns or ''}|{c.subject.cn or ''}" for c in self.clients])
        return self

    def grants_admin(self) -> bool:
        """Whether a named identity (not the anonymous caller) holds the admin group."""
        return any(Group.ADMIN in e.groups for e in self.tokens) or any(Group.ADMIN in e.groups for e in self.clients)


def _no_repeats(what: str, values: list[str]) -> None:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"{what} must be unique; repeated: {', '.join(repeated)}")


def load_auth_config(path: Path) -> AuthConfig:
    """Read and validate the auth config; errors name the file and the field, never a value."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise AuthConfigError(f"auth config {path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        # Only the position: YAML's own message quotes the line, which may hold a secret.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise AuthConfigError(f"auth config {path}: not valid YAML{where}") from None
    if not isinstance(raw, dict):
        raise AuthConfigError(f"auth config {path}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        return AuthConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors(include_url=False, include_input=False))
        raise AuthConfigError(f"auth config {path}: {problems}") from None


def _problem(error: Mapping) -> str:
    field = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"field '{field}': {message}" if field else message


class Outcome(StrEnum):
    ALLOWED = "allowed"
    UNAUTHENTICATED = "unauthenticated"
    DENIED = "denied"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    identity: Identity | None
    # For the caller: says what is missing, never what was sent.
    message: str = ""


# grpc's auth context: property name -> values (bytes); called only when a certificate could matter.
AuthContext = Callable[[], Mapping[str, Sequence[bytes]]]
Metadata = Sequence[tuple[str, str | bytes]]


class Authenticator:
    """Resolves a call's identity from its metadata and TLS peer, and decides against the RPC's group."""

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self._tokens = [
            (bytes.fromhex(t.sha256), Identity(t.name, frozenset(t.groups), "token")) for t in config.tokens
        ]
        self._by_dns = {c.subject.dns: _client(c) for c in config.clients if c.subject.dns}
        self._by_cn = {c.subject.cn: _client(c) for c in config.clients if c.subject.cn}
        self._anonymous = Identity(ANONYMOUS, frozenset(config.anonymous), "anonymous") if config.anonymous else None

    def decide(self, method: str, group: Group | None, metadata: Metadata, auth_context: AuthContext) -> Decision:
        identity = self._identify(metadata, auth_context)
        if isinstance(identity, str):
            return Decision(Outcome.UNAUTHENTICATED, None, identity)
        if group is None:
            return Decision(Outcome.DENIED, identity, f"{method} is not open to any identity")
        if group in identity.groups:
            return Decision(Outcome.ALLOWED, identity)
        if identity.via == "anonymous":
            return Decision(Outcome.UNAUTHENTICATED, identity, f"{method} needs credentials with the '{group}' group")
        return Decision(
            Outcome.DENIED, identity, f"'{identity.name}' may not call {method}: it needs the '{group}' group"
        )

    def _identify(self, metadata: Metadata, auth_context: AuthContext) -> Identity | str:
        """The caller's identity, or why there is none (a message for UNAUTHENTICATED)."""
        header = next((value for key, value in metadata if key == "authorization"), None)
        if header is not None:
            return self._token_identity(header)
        if self._by_dns or self._by_cn:
            peer = auth_context()
            for name in peer.get("peer_dns", ()):
                found = self._by_dns.get(name.decode("utf-8", "replace"))
                if found is not None:
                    return found
            for name in peer.get("x509_common_name", ()):
                found = self._by_cn.get(name.decode("utf-8", "replace"))
                if found is not None:
                    return found
        if self._anonymous is not None:
            return self._anonymous
        ways = "'authorization: Bearer <token>' metadata"
        if self._by_dns or self._by_cn:
            ways += " or a known client certificate"
        return f"this server needs credentials: send {ways}"

    def _token_identity(self, header: str | bytes) -> Identity | str:
        text = header.decode("latin-1") if isinstance(header, bytes) else header
        scheme, _, token = text.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return "the authorization metadata must be 'Bearer <token>'"
        digest = hashlib.sha256(token.encode()).digest()
        found: Identity | None = None
        for expected, identity in self._tokens:  # every entry, so the time does not say which one matched
            if hmac.compare_digest(digest, expected):
                found = identity
        return found if found is not None else "the bearer token is not valid"


def _client(entry: ClientEntry) -> Identity:
    return Identity(entry.name, frozenset(entry.groups), "certificate")
