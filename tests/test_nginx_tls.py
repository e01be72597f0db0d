"""The box over HTTPS: systemd/nginx-sehat-tls.conf, run by a real nginx with a CA made by the box.

The CA and certificate come from ``appliance.tls.init_tls`` (for the name ``sehat-box.test``
and the address 127.0.0.1), exactly as ``sehat appliance tls init`` makes them; clients trust
that CA and nothing else. The site file is used as shipped, with only its lines marked
``test:`` rewritten (tests/support/nginx.py): both servers listen on free ports of 127.0.0.1,
the redirect names the https port, and the certificate paths point into the test's folder.
nginx missing is a failure, not a skip.
"""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from appliance.clock import utc_now
from appliance.tls import init_tls
from tests.conftest import DemoCodes
from tests.support.nginx import SYSTEMD, rewrite_marked, running_nginx
from tests.support.servers import free_port

SITE = SYSTEMD / "nginx-sehat-tls.conf"
HTTP_SITE = SYSTEMD / "nginx-sehat.conf"
NAME = "sehat-box.test"


@dataclass(frozen=True)
class Front:
    https_port: int
    http_port: int
    command: list[str]  # nginx with the rendered configuration, for ``-T``

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


@pytest.fixture
def tls_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "tls"
    init_tls(directory, [NAME], ["127.0.0.1"], utc_now())
    return directory


def render_site(tls_dir: Path, box_port: int, https_port: int, http_port: int) -> str:
    """The shipped TLS site on free ports of 127.0.0.1, with the certificate made for the test."""
    return rewrite_marked(
        SITE,
        {
            "the box": f"server 127.0.0.1:{box_port};",
            "http, where phones fetch the CA": f"listen 127.0.0.1:{http_port} default_server;",
            "https, where LAN clients connect": f"listen 127.0.0.1:{https_port} ssl http2 default_server;",
            "the https address": f"return 301 https://$host:{https_port}$request_uri;",
            "the certificate": f"ssl_certificate {tls_dir / 'box.pem'};",
            "its private key": f"ssl_certificate_key {tls_dir / 'box-key.pem'};",
            "the CA certificate": f"alias {tls_dir / 'ca.pem'};",
        },
    )


@contextmanager
def tls_front(tls_dir: Path, box_port: int, directory: Path) -> Iterator[Front]:
    https_port, http_port = free_port(), free_port()
    site = render_site(tls_dir, box_port, https_port, http_port)
    with running_nginx(site, directory, [https_port, http_port]) as command:
        yield Front(https_port, http_port, command)


@pytest.fixture
def boxed_front(live_box: str, tls_dir: Path, tmp_path: Path) -> Iterator[Front]:
    """nginx with the TLS site in front of a real, synced box."""
    with tls_front(tls_dir, urlsplit(live_box).port or 80, tmp_path / "nginx") as front:
        yield front


@pytest.fixture
def front(tls_dir: Path, tmp_path: Path) -> Iterator[Front]:
    """nginx with the TLS site and no box behind it: for what nginx answers by itself."""
    with tls_front(tls_dir, free_port(), tmp_path / "nginx") as front:
        yield front


def test_a_code_is_verified_over_https_trusting_only_the_box_ca(
    boxed_front: Front, tls_dir: Path, synced: DemoCodes
) -> None:
    response = requests.post(
        f"{boxed_front.https}/api/v1/verify", json={"code": synced.revoked}, verify=str(tls_dir / "ca.pem"), timeout=10
    )
    assert response.status_code == 200 and response.json()["status"] == "revoked"


def test_a_client_without_the_box_ca_refuses_the_certificate(front: Front) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{front.https}/healthz", timeout=10)  # the system's public CAs only


def test_https_answers_carry_hsts_for_the_box_alone(boxed_front: Front, tls_dir: Path, synced: DemoCodes) -> None:
    response = requests.get(f"{boxed_front.https}/healthz", verify=str(tls_dir / "ca.pem"), timeout=10)
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_http2_is_offered_by_alpn(front: Front, tls_dir: Path) -> None:
    context = ssl.create_default_context(cafile=str(tls_dir / "ca.pem"))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", front.https_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=NAME) as tls,
    ):
        assert tls.selected_alpn_protocol() == "h2"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_plain_http_is_redirected_to_https(front: Front) -> None:
    response = requests.get(f"{front.http}/desk?lang=en", allow_redirects=False, timeout=10)
    assert response.status_code == 301
    assert response.headers["Location"] == f"{front.https}/desk?lang=en"


def test_the_ca_certificate_is_served_over_plain_http(front: Front, tls_dir: Path) -> None:
    response = requests.get(f"{front.http}/ca.pem", allow_redirects=False, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-x509-ca-cert"
    assert response.content == (tls_dir / "ca.pem").read_bytes()


def _limits_and_timeouts(text: str) -> set[str]:
    """The per-client limits, body and header sizes and timeouts in ``text``, one directive each."""
    names = r"limit_|client_|large_client_|send_timeout|keepalive_timeout|reset_timedout|proxy_\w+_timeout"
    pattern = rf"^\s*((?:{names})[^;]*;)"
    return {" ".join(match.split()) for match in re.findall(pattern, text, flags=re.MULTILINE)}


def _server_block(text: str, holding: str) -> str:
    """The ``server { … }`` block of ``text`` that holds ``holding``, nested blocks included."""
    start = text.rindex("server {", 0, text.index(holding))
    depth = 0
    for end in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        if text[end] == "}" and depth == 0:
            return text[start : end + 1]
    raise AssertionError(f"unbalanced server block at {start}")


def test_the_https_server_keeps_the_http_site_s_limits_and_timeouts(front: Front) -> None:
    dumped = subprocess.run([*front.command, "-T"], capture_output=True, text=True, timeout=30)
    assert dumped.returncode == 0, dumped.stderr
    http_site = HTTP_SITE.read_text(encoding="utf-8")
    expected = _limits_and_timeouts(_server_block(http_site, "listen 80"))
    assert len(expected) >= 12, expected  # the pattern still finds them in the HTTP site
    assert expected <= _limits_and_timeouts(_server_block(dumped.stdout, "ssl http2"))
    assert _limits_and_timeouts(http_site) - expected <= _limits_and_timeouts(dumped.stdout)  # the zones
