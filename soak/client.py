"""A small HTTP client over ``http.client``: a chosen source address, keep-alive, cookies, timings.

Each loopback address (127.0.0.2, 127.0.0.3, …) is a different client to the box, so
per-address limits and lockouts can be exercised from one machine: an attacker on one
address, the real operator or a kiosk probe on another.
"""

from __future__ import annotations

import http.client
import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

VERDICT_STATUSES = frozenset({"valid", "revoked", "superseded", "not_found"})


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


class HttpClient:
    """One client of the box: one connection at a time, reopened when the box closes it."""

    def __init__(self, base_url: str, source: str = "127.0.0.1", timeout: float = 30.0, keep_alive: bool = True):
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.source = source
        self.timeout = timeout
        self.keep_alive = keep_alive
        self.cookies: dict[str, str] = {}
        self._connection: http.client.HTTPConnection | None = None

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        """Send one request and read the whole answer; raises OSError/HTTPException on a broken connection."""
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if not self.keep_alive:
            sent["Connection"] = "close"
        started = time.perf_counter()
        connection = self._connection or http.client.HTTPConnection(
            self.host, self.port, timeout=self.timeout, source_address=(self.source, 0)
        )
        self._connection = connection
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read()
        except BaseException:
            self.close()
            raise
        seconds = time.perf_counter() - started
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                cookie_name, _, rest = value.partition("=")
                self.cookies[cookie_name.strip()] = rest.split(";", 1)[0]
        if not self.keep_alive or response.will_close:
            self.close()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data, seconds)

    def verify(self, code: str, national_id: str | None = None, headers: dict[str, str] | None = None) -> Reply:
        document: dict[str, str] = {"code": code}
        if national_id is not None:
            document["national_id"] = national_id
        sent = {"Content-Type": "application/json", **(headers or {})}
        return self.request("POST", "/api/v1/verify", json.dumps(document).encode(), sent)

    def log_in(self, name: str, password: str) -> Reply:
        """Log in through the admin form as a browser would: fetch the CSRF token, post the form."""
        page = self.request("GET", "/admin/login")
        match = re.search(rb'name="csrf_token" value="([^"]+)"', page.body)
        token = match.group(1).decode() if match else ""
        form = urlencode({"name": name, "password": password, "csrf_token": token}).encode()
        return self.request("POST", "/admin/login", form, {"Content-Type": "application/x-www-form-urlencoded"})


def verdict_problem(reply: Reply) -> str | None:
    """Why ``reply`` is not a 200 with a whole verdict body (None: it is one)."""
    if reply.status != 200:
        return f"HTTP {reply.status}: {reply.body[:200]!r}"
    try:
        body = reply.json()
    except ValueError:
        return f"a 200 that is not JSON: {reply.body[:200]!r}"
    if not isinstance(body, dict) or body.get("status") not in VERDICT_STATUSES:
        return f"a 200 without a verdict status: {reply.body[:200]!r}"
    replica = body.get("replica")
    if not isinstance(replica, dict) or not isinstance(replica.get("seq"), int):
        return f"a verdict without replica.seq: {reply.body[:200]!r}"
    return None


def error_shape_problem(reply: Reply) -> str | None:
    """Why ``reply`` is not an error answer in the box's error shape (None: it is one)."""
    try:
        body = reply.json()
    except ValueError:
        return f"HTTP {reply.status} that is not JSON: {reply.body[:200]!r}"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not all(isinstance(error.get(key), str) for key in ("code", "message")):
        return f"HTTP {reply.status} not in the error shape: {reply.body[:200]!r}"
    return None
