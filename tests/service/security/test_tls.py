"""Certificate files: one-line errors naming the file, and rotation that never takes a broken pair."""

from __future__ import annotations

import logging

import pytest

from service.security.tls import CertificateFiles, TlsError, TlsFiles, load_pems
from tests.fixtures.tls import Pki, ServerFiles


@pytest.fixture
def pki(tmp_path) -> Pki:
    return Pki(tmp_path / "pki")


def test_a_matching_pair_and_ca_load(pki):
    files = pki.server()
    pems = load_pems(TlsFiles(files.cert, files.key, pki.ca_file))
    assert pems.cert.startswith(b"-----BEGIN CERTIFICATE-----")
    assert pems.client_ca == pki.ca_pem


def test_a_missing_file_is_named(pki, tmp_path):
    files = pki.server()
    with pytest.raises(TlsError, match=r"key \(--tls-key\) .*nope.key: no such file"):
        load_pems(TlsFiles(files.cert, tmp_path / "nope.key"))


def test_a_key_of_another_certificate_is_a_mismatch_naming_both(pki, tmp_path):
    first = pki.server()
    second = pki.server(ServerFiles(tmp_path / "b.pem", tmp_path / "b.key"))
    with pytest.raises(TlsError) as caught:
        load_pems(TlsFiles(first.cert, second.key))
    assert f"TLS key {second.key} does not match the certificate {first.cert}" == str(caught.value)


@pytest.mark.parametrize("which", ["cert", "key", "client_ca"])
def test_a_file_that_is_not_pem_is_named(pki, tmp_path, which):
    files = pki.server()
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("this is not PEM\n")
    paths = {"cert": files.cert, "key": files.key, "client_ca": pki.ca_file, which: garbage}
    with pytest.raises(TlsError, match=str(garbage)):
        load_pems(TlsFiles(**paths))


def test_refresh_keeps_the_version_while_nothing_changes(pki):
    files = pki.server()
    certificates = CertificateFiles(TlsFiles(files.cert, files.key))
    assert certificates.refresh() == certificates.refresh() == 0


def test_refresh_takes_a_rotated_pair(pki, tmp_path):
    files = pki.server()
    certificates = CertificateFiles(TlsFiles(files.cert, files.key))
    before = certificates.pems.cert
    Pki(tmp_path / "next").server(files)
    assert certificates.refresh() == 1
    assert certificates.pems.cert != before and certificates.pems.cert == files.cert.read_bytes()


def test_a_half_written_rotation_keeps_the_old_pair_and_says_so_once(pki, tmp_path, caplog):
    files = pki.server()
    certificates = CertificateFiles(TlsFiles(files.cert, files.key))
    served = certificates.pems
    # The new certificate has landed, its key not yet.
    staged = Pki(tmp_path / "next").server(ServerFiles(tmp_path / "new.pem", tmp_path / "new.key"))
    files.cert.write_bytes(staged.cert.read_bytes())
    with caplog.at_level(logging.WARNING, logger="service.security.tls"):
        assert certificates.refresh() == 0
        assert certificates.refresh() == 0
    assert certificates.pems is served
    assert len([r for r in caplog.records if "does not match" in r.getMessage()]) == 1
    files.key.write_bytes(staged.key.read_bytes())
    assert certificates.refresh() == 1
    assert certificates.pems.key == staged.key.read_bytes()


def test_a_file_missing_for_a_moment_keeps_the_current_pair(pki):
    files = pki.server()
    certificates = CertificateFiles(TlsFiles(files.cert, files.key))
    files.key.rename(files.key.with_suffix(".moved"))
    assert certificates.refresh() == 0
    files.key.with_suffix(".moved").rename(files.key)
    assert certificates.refresh() == 0  # the same files again: nothing to take
