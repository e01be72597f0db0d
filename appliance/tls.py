"""A small local certificate authority, so phones on the LAN reach the box over HTTPS.

A phone's browser opens its camera only on a secure context: ``https://`` (or
localhost). A box on an office LAN has no public name a public CA would certify, so it
makes its own CA once, and a server certificate for the names and addresses it is
reached by; the operator installs the CA certificate on the phones (after comparing its
fingerprint) and every later server certificate is trusted with it.

The server certificate lives 825 days, the most Apple's platforms accept for any TLS
server certificate; ``renew`` issues a new one from the same CA, so phones keep their
trust. The CA lives 10 years and signs nothing but the box's own certificates
(``pathlen=0``, key usage ``keyCertSign``). Files (PEM, keys mode 0600)::

    DIR/ca.pem        the CA certificate: give it to phones (public)
    DIR/ca-key.pem    the CA's private key (only to renew; may be moved offline)
    DIR/box.pem       the server certificate and the CA's: what nginx serves
    DIR/box-key.pem   the server's private key
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from storage.durable import write_atomic
from verifier.errors import OperatorError

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
CERT_FILE = "box.pem"
KEY_FILE = "box-key.pem"
CA_LIFETIME = timedelta(days=3650)
SERVER_LIFETIME = timedelta(days=825)  # the most iOS and macOS accept for a TLS server certificate
_BACKDATE = timedelta(minutes=5)  # a phone whose clock is a little behind still accepts it


class TlsError(OperatorError):
    code = "tls_error"


@dataclass(frozen=True)
class TlsFiles:
    """What ``init`` or ``renew`` wrote, and what the operator compares on each phone."""

    directory: Path
    ca_fingerprint: str
    names: tuple[str, ...]
    addresses: tuple[str, ...]
    not_after: datetime

    @property
    def ca_certificate(self) -> Path:
        return self.directory / CA_FILE


def default_names() -> list[str]:
    """The box's host name and its mDNS name (``name.local``), as phones on a LAN reach it."""
    host = socket.gethostname().split(".")[0]
    return [host, f"{host}.local"]


def default_addresses() -> list[str]:
    """Loopback, and the addresses the host name resolves to on this machine."""
    found = {"127.0.0.1"}
    try:
        for *_, sockaddr in socket.getaddrinfo(socket.gethostname(), None, family=socket.AF_INET):
            found.add(str(sockaddr[0]))
    except OSError:
        pass
    return sorted(found)


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the certificate, as phones and browsers show it: ``AB:CD:…``."""
    return ":".join(f"{byte:02X}" for byte in certificate.fingerprint(hashes.SHA256()))


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _subject(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sehat box"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _make_ca(now: datetime, label: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _subject(f"Sehat local CA ({label})")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def _parse_addresses(addresses: list[str]) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    parsed = []
    for text in addresses:
        try:
            parsed.append(ipaddress.ip_address(text))
        except ValueError as error:
            raise TlsError(f"{text!r} is not an IP address.", f"«{text}» نشانی IP نیست.") from error
    return parsed


def _make_server(
    ca_key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    names: list[str],
    addresses: list[str],
    now: datetime,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    if not names and not addresses:
        raise TlsError("Give at least one name or address.", "دست‌کم یک نام یا نشانی بدهید.")
    key = ec.generate_private_key(ec.SECP256R1())
    alternative: list[x509.GeneralName] = [x509.DNSName(name) for name in names]
    alternative += [x509.IPAddress(address) for address in _parse_addresses(addresses)]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_subject(names[0] if names else addresses[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(min(now + SERVER_LIFETIME, ca.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, certificate


def _write(
    directory: Path, server_key: ec.EllipticCurvePrivateKey, server: x509.Certificate, ca: x509.Certificate
) -> None:
    pem = serialization.Encoding.PEM
    write_atomic(directory / KEY_FILE, _key_pem(server_key), mode=0o600)
    write_atomic(directory / CERT_FILE, server.public_bytes(pem) + ca.public_bytes(pem), mode=0o644)


def init_tls(directory: Path, names: list[str], addresses: list[str], now: datetime) -> TlsFiles:
    """Make the CA and the box's server certificate in ``directory``.

    Raises:
        TlsError: a CA is already there (``renew`` reissues from it), or a bad address.
    """
    if (directory / CA_FILE).exists():
        raise TlsError(
            f"{directory} already holds a CA; use 'tls renew' to issue a new certificate from it.",
            f"در {directory} از پیش مرجع صدور گواهی هست؛ برای گواهی تازه از «tls renew» استفاده کنید.",
        )
    _parse_addresses(addresses)
    directory.mkdir(parents=True, exist_ok=True, mode=0o755)
    ca_key, ca = _make_ca(now, names[0] if names else addresses[0] if addresses else "box")
    write_atomic(directory / CA_KEY_FILE, _key_pem(ca_key), mode=0o600)
    write_atomic(directory / CA_FILE, ca.public_bytes(serialization.Encoding.PEM), mode=0o644)
    server_key, server = _make_server(ca_key, ca, names, addresses, now)
    _write(directory, server_key, server, ca)
    return TlsFiles(directory, fingerprint(ca), tuple(names), tuple(addresses), server.not_valid_after_utc)


def renew_tls(directory: Path, names: list[str], addresses: list[str], now: datetime) -> TlsFiles:
    """Issue a new server certificate from the CA in ``directory``; phones keep trusting it.

    Raises:
        TlsError: no CA, or its key is not there (moved offline: bring it back to renew).
    """
    try:
        ca = x509.load_pem_x509_certificate((directory / CA_FILE).read_bytes())
        loaded = serialization.load_pem_private_key((directory / CA_KEY_FILE).read_bytes(), password=None)
    except FileNotFoundError as error:
        raise TlsError(
            f"No CA and CA key in {directory}; run 'tls init' first (or bring the CA key back).",
            f"مرجع صدور گواهی و کلید آن در {directory} نیست؛ نخست «tls init» را اجرا کنید.",
        ) from error
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise TlsError("The CA key is not an EC key made by 'tls init'.", "کلید مرجع صدور گواهی نامعتبر است.")
    server_key, server = _make_server(loaded, ca, names, addresses, now)
    _write(directory, server_key, server, ca)
    return TlsFiles(directory, fingerprint(ca), tuple(names), tuple(addresses), server.not_valid_after_utc)
