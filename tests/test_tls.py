"""The box's local CA: phones that trust it reach the box over HTTPS by its names and addresses."""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from appliance.tls import (
    CA_FILE,
    CA_KEY_FILE,
    CERT_FILE,
    KEY_FILE,
    SERVER_LIFETIME,
    TlsError,
    fingerprint,
    init_tls,
    renew_tls,
)

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
NAMES = ["sehat-box", "sehat-box.local"]
ADDRESSES = ["127.0.0.1", "192.168.1.20"]


@pytest.fixture
def tls_dir(tmp_path: Path) -> Path:
    init_tls(tmp_path / "tls", NAMES, ADDRESSES, NOW)
    return tmp_path / "tls"


def chain(directory: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates((directory / CERT_FILE).read_bytes())


def test_the_server_certificate_names_every_name_and_address(tls_dir: Path) -> None:
    server = chain(tls_dir)[0]
    alternative = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert alternative.get_values_for_type(x509.DNSName) == NAMES
    assert alternative.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address(text) for text in ADDRESSES]


def test_the_server_certificate_is_signed_by_the_ca_and_served_with_it(tls_dir: Path) -> None:
    server, served_ca = chain(tls_dir)
    ca = x509.load_pem_x509_certificate((tls_dir / CA_FILE).read_bytes())
    assert served_ca == ca
    server.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_the_server_certificate_lives_no_longer_than_phones_accept(tls_dir: Path) -> None:
    server = chain(tls_dir)[0]
    assert server.not_valid_after_utc - server.not_valid_before_utc <= SERVER_LIFETIME + timedelta(minutes=5)
    assert timedelta(days=825) >= SERVER_LIFETIME


def test_private_keys_are_readable_by_their_owner_only(tls_dir: Path) -> None:
    for name in (KEY_FILE, CA_KEY_FILE):
        assert stat.S_IMODE((tls_dir / name).stat().st_mode) == 0o600
    assert stat.S_IMODE((tls_dir / CA_FILE).stat().st_mode) == 0o644


def test_init_refuses_to_replace_a_ca_phones_already_trust(tls_dir: Path) -> None:
    with pytest.raises(TlsError, match="renew"):
        init_tls(tls_dir, NAMES, ADDRESSES, NOW)


def test_renew_keeps_the_ca_and_issues_a_new_certificate(tls_dir: Path) -> None:
    ca_before = (tls_dir / CA_FILE).read_bytes()
    serial_before = chain(tls_dir)[0].serial_number
    renewed = renew_tls(tls_dir, ["sehat-box"], ["10.0.0.7"], NOW + timedelta(days=700))
    assert (tls_dir / CA_FILE).read_bytes() == ca_before
    server = chain(tls_dir)[0]
    assert server.serial_number != serial_before
    server.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_before))
    assert renewed.ca_fingerprint == fingerprint(x509.load_pem_x509_certificate(ca_before))


def test_a_bad_address_is_refused_in_both_languages(tmp_path: Path) -> None:
    with pytest.raises(TlsError) as caught:
        init_tls(tmp_path / "tls", NAMES, ["192.168.1.300"], NOW)
    assert caught.value.message_fa
    assert not (tmp_path / "tls" / CA_FILE).exists()


@pytest.fixture
def https_server(tls_dir: Path) -> Iterator[int]:
    """A TLS server with the box's certificate on 127.0.0.1, answering one line."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_dir / CERT_FILE, tls_dir / KEY_FILE)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(connection, server_side=True) as wrapped:
                    wrapped.sendall(b"sehat\n")
            except (ssl.SSLError, OSError):
                connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    stop.set()
    thread.join(timeout=5)
    listener.close()


def handshake(tls_dir: Path, port: int, server_name: str) -> bytes:
    context = ssl.create_default_context(cafile=str(tls_dir / CA_FILE))  # the CA is the only trust
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as wrapped,
    ):
        return wrapped.recv(16)


@pytest.mark.parametrize("server_name", ["sehat-box.local", "127.0.0.1"])
def test_a_client_trusting_only_the_ca_connects_by_name_or_address(
    tls_dir: Path, https_server: int, server_name: str
) -> None:
    assert handshake(tls_dir, https_server, server_name) == b"sehat\n"


def test_a_name_the_certificate_lacks_is_refused(tls_dir: Path, https_server: int) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(tls_dir, https_server, "someone-else.local")


def test_the_command_prints_the_ca_fingerprint_to_compare_on_phones(tmp_path: Path) -> None:
    answer = subprocess.run(
        [sys.executable, "-m", "sehat", "appliance", "tls", "init", "--dir", str(tmp_path / "tls"), "--name", "box"],
        capture_output=True,
        text=True,
        check=True,
    )
    ca = x509.load_pem_x509_certificate((tmp_path / "tls" / CA_FILE).read_bytes())
    printed = re.search(r"SHA-256 ([0-9A-F:]{95})", answer.stdout)
    assert printed and printed.group(1) == fingerprint(ca)
    assert ca.fingerprint(hashes.SHA256()).hex().upper() == printed.group(1).replace(":", "")
