"""TLS certificate files that are re-read when they change: no restart, no dropped connections.

CertificateFiles holds the PEMs of --tls-cert, --tls-key and (mTLS) --tls-client-ca. Each new
connection asks refresh(): one stat per file, and only when a file changed are they read and
the key checked against the certificate. A half-written rotation (a new certificate beside the
old key) is not taken: the previous pair keeps serving and the next connection tries again.
Connections already open keep the certificate they were set up with.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc

log = logging.getLogger(__name__)


class TlsError(Exception):
    """A certificate, key or CA file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    client_ca: Path | None = None

    def paths(self) -> list[Path]:
        return [self.cert, self.key, *([self.client_ca] if self.client_ca else [])]


@dataclass(frozen=True)
class Pems:
    cert: bytes
    key: bytes
    client_ca: bytes | None


def load_pems(files: TlsFiles) -> Pems:
    """Read the files and check that they work together; raises TlsError naming the file at fault."""
    pems = Pems(
        _read(files.cert, "certificate (--tls-cert)"),
        _read(files.key, "key (--tls-key)"),
        _read(files.client_ca, "client CA (--tls-client-ca)") if files.client_ca else None,
    )
    check = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        check.load_verify_locations(cadata=pems.cert.decode("ascii", "replace"))
    except ssl.SSLError:
        raise TlsError(f"TLS certificate {files.cert} holds no PEM certificate (--tls-cert)") from None
    try:
        # The password callback refuses an encrypted key instead of letting OpenSSL prompt on the terminal.
        check.load_cert_chain(files.cert, files.key, password=lambda: b"")
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise TlsError(f"TLS key {files.key} does not match the certificate {files.cert}") from None
        raise TlsError(f"TLS key {files.key} is not an unencrypted PEM private key (--tls-key)") from None
    if files.client_ca and pems.client_ca is not None:
        try:
            check.load_verify_locations(cadata=pems.client_ca.decode("ascii", "replace"))
        except ssl.SSLError:
            raise TlsError(f"TLS client CA {files.client_ca} holds no PEM certificate (--tls-client-ca)") from None
    # ssl checked the files by path: make sure that is still what was read (a rotation may be under way).
    if _read(files.cert, "certificate") != pems.cert or _read(files.key, "key") != pems.key:
        raise TlsError(f"TLS certificate {files.cert} or key {files.key} changed while being read")
    return pems


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise TlsError(f"TLS {what} {path}: no such file") from None
    except OSError as exc:
        raise TlsError(f"TLS {what} {path}: cannot read: {exc.strerror or exc}") from None


class CertificateFiles:
    """The current PEMs of a TlsFiles, with a version that goes up each time a change is taken."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        self._lock = threading.Lock()  # grpc's handshakes and the metrics thread both refresh
        self.pems = load_pems(files)
        self._signature = self._stat()
        self.version = 0
        self._rejected: tuple | None = None

    def _stat(self) -> tuple:
        stats = [path.stat() for path in self.files.paths()]
        return tuple((s.st_ino, s.st_size, s.st_mtime_ns) for s in stats)

    def refresh(self) -> int:
        """Take changed files if they are complete and consistent; returns the current version."""
        with self._lock:
            try:
                signature = self._stat()
            except OSError:
                return self.version  # a file is being replaced (rename in progress): the next connection looks again
            if signature == self._signature or signature == self._rejected:
                return self.version
            try:
                pems = load_pems(self.files)
            except TlsError as exc:
                self._rejected = signature  # said once per state of the files, not per connection
                log.warning("keeping the current TLS certificate: %s", exc)
                return self.version
            self._signature, self.pems, self._rejected = signature, pems, None
            self.version += 1
            log.info("TLS certificate reloaded from %s", self.files.cert)
            return self.version

    def grpc_credentials(self) -> grpc.ServerCredentials:
        """Server credentials that pick up new files at the next handshake (and demand client
        certificates signed by the client CA when there is one)."""
        served = self.version

        def fetch() -> grpc.ServerCertificateConfiguration | None:
            nonlocal served
            try:
                version = self.refresh()
            except Exception:  # an exception here would fail the handshake: serve the current pair
                log.exception("checking the TLS files failed")
                return None
            if version == served:
                return None
            served = version
            return _grpc_configuration(self.pems)

        return grpc.dynamic_ssl_server_credentials(
            _grpc_configuration(self.pems), fetch, require_client_authentication=self.files.client_ca is not None
        )

    def ssl_context(self) -> ssl.SSLContext:
        """A server-side SSLContext of the current files (the metrics endpoint builds one per version)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.files.cert, self.files.key, password=lambda: b"")
        return context


class RotatingContext:
    """The SSLContext of the certificate files' current version, built again when refresh() takes
    new files. A context that cannot be built keeps the previous one serving (and the first one
    failing raises: a certificate that cannot be served fails at start-up)."""

    def __init__(self, certificates: CertificateFiles, build: Callable[[], ssl.SSLContext], what: str) -> None:
        self._certificates = certificates
        self._build = build
        self._what = what  # who keeps its certificate, in the warning
        self._current: tuple[int, ssl.SSLContext] | None = None

    def current(self) -> ssl.SSLContext:
        version = self._certificates.refresh()
        if self._current is None or self._current[0] != version:
            try:
                self._current = (version, self._build())
            except (OSError, ssl.SSLError) as exc:
                if self._current is None:
                    raise
                log.warning("%s keeps its TLS certificate: %s", self._what, exc)
        return self._current[1]


def _grpc_configuration(pems: Pems) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration([(pems.key, pems.cert)], root_certificates=pems.client_ca)
