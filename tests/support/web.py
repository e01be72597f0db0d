"""Driving the box's pages as a person would: forms with their CSRF tokens, an operator's login."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

PASSWORD = "correct horse battery"


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the form carries a CSRF token"
    return match.group(1)


def log_in(client: FlaskClient, name: str, password: str) -> Any:
    token = csrf_token(client.get("/admin/login").get_data(as_text=True))
    return client.post("/admin/login", data={"name": name, "password": password, "csrf_token": token})
