"""The box behind nginx on a LAN: systemd/nginx-sehat.conf, run by a real nginx in front of a real box.

nginx is a system package (scripts/install-system-packages installs it, as CI does); when it
is missing these tests fail, saying so, rather than skip — the shipped config would go untested
(tests/support/nginx.py). The site file is used as shipped, with only its two lines marked
``test:`` rewritten: nginx listens on a free port of 127.0.0.1 and proxies to the box served on
another. Different client addresses are different loopback addresses (127.0.0.2, 127.0.0.3, …).
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask

from tests.conftest import DemoCodes
from tests.support.nginx import SYSTEMD, rewrite_marked, running_nginx
from tests.support.servers import free_port, serving

SITE = SYSTEMD / "nginx-sehat.conf"
CONNECTIONS_PER_CLIENT = 20  # limit_conn in the site file


def render_site(box_port: int, listen_port: int) -> str:
    """The shipped site file, listening on 127.0.0.1:listen_port and proxying to the box on box_port."""
    return rewrite_marked(
        SITE,
        {
            "the box": f"server 127.0.0.1:{box_port};",
            "where LAN clients connect": f"listen 127.0.0.1:{listen_port} default_server;",
        },
    )


@contextmanager
def nginx_front(box_url: str, directory: Path) -> Iterator[int]:
    """Run nginx with the site file in front of ``box_url``, in the foreground; yields its port."""
    port = free_port()
    with running_nginx(render_site(urlsplit(box_url).port or 80, port), directory, [port]):
        yield port


def ask(
    port: int, client: str, method: str, path: str, body: dict[str, str] | None = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    """One request to 127.0.0.1:port from the loopback address ``client``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(client, 0))
    try:
        payload = json.dumps(body).encode() if body is not None else None
        if payload is not None:
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_a_verification_through_nginx_answers_as_the_box_does(live_box: str, synced: DemoCodes, tmp_path: Path) -> None:
    with nginx_front(live_box, tmp_path / "nginx") as port:
        status, headers, body = ask(port, "127.0.0.2", "POST", "/api/v1/verify", {"code": synced.revoked})
    assert status == 200 and json.loads(body)["status"] == "revoked"
    assert headers["server"] == "nginx", "no version (server_tokens off), and not the box's own name"


def test_a_client_past_its_connection_limit_is_refused_and_others_are_served(
    live_box: str, synced: DemoCodes, tmp_path: Path
) -> None:
    # Each held connection has sent its request's header and promises a body it never sends:
    # nginx counts it as a request in progress.
    held_request = (
        b"POST /api/v1/verify HTTP/1.1\r\nHost: box\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n"
    )
    with nginx_front(live_box, tmp_path / "nginx") as port, ExitStack() as stack:
        for _ in range(CONNECTIONS_PER_CLIENT):
            held = stack.enter_context(socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0)))
            held.sendall(held_request)
        time.sleep(0.5)
        over_status, _, _ = ask(port, "127.0.0.2", "GET", "/healthz")
        other_status, _, other_body = ask(port, "127.0.0.3", "POST", "/api/v1/verify", {"code": synced.valid})
        direct = http.client.HTTPConnection("127.0.0.1", urlsplit(live_box).port, timeout=5)
        direct.request("GET", "/healthz")
        direct_status = direct.getresponse().status
        direct.close()
    assert over_status == 429
    assert other_status == 200 and json.loads(other_body)["status"] == "valid"
    assert direct_status == 200


def _limited_after_two(port: int, client: str, code: str, **headers: str) -> list[int]:
    return [ask(port, client, "POST", "/api/v1/verify", {"code": code}, **headers)[0] for _ in range(3)]


def test_behind_nginx_the_box_counts_each_client_by_its_own_address(
    make_app: Callable[..., Flask], synced: DemoCodes, tmp_path: Path
) -> None:
    app = make_app(behind_proxy=True, anonymous_rate_limit="2 per minute")
    with serving(app) as box, nginx_front(box, tmp_path / "nginx") as port:
        # A client's own X-Forwarded-For is replaced by nginx: it cannot pass for a fresh address.
        first = _limited_after_two(port, "127.0.0.4", synced.valid, **{"X-Forwarded-For": "10.0.0.1"})
        second, _, _ = ask(port, "127.0.0.5", "POST", "/api/v1/verify", {"code": synced.valid})
    assert first == [200, 200, 429]
    assert second == 200, "another client behind the same nginx has its own budget"


def test_without_behind_proxy_the_box_ignores_x_forwarded_for(
    make_app: Callable[..., Flask], synced: DemoCodes, tmp_path: Path
) -> None:
    app = make_app(anonymous_rate_limit="2 per minute")
    with serving(app) as box, nginx_front(box, tmp_path / "nginx") as port:
        first = _limited_after_two(port, "127.0.0.6", synced.valid)
        second, _, _ = ask(port, "127.0.0.7", "POST", "/api/v1/verify", {"code": synced.valid})
        # Straight to waitress, a forged header changes nothing either.
        forged = [
            ask(
                urlsplit(box).port or 80,
                "127.0.0.8",
                "POST",
                "/api/v1/verify",
                {"code": synced.valid},
                **{"X-Forwarded-For": f"10.0.0.{n}"},
            )[0]
            for n in range(3)
        ]
    assert first == [200, 200, 429]
    assert second == 429, "every client behind nginx is one address to the box"
    assert forged == [200, 200, 429], "three addresses claimed, one counted"
