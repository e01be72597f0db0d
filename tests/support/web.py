"""Driving the box's pages as a person would: forms with their CSRF tokens, an operator's login."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from flask.testing import FlaskClient

from appliance.access import AccessStore
from appliance.datadir import DataDir

PASSWORD = "correct horse battery"


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the form carries a CSRF token"
    return match.group(1)


def log_in(client: FlaskClient, name: str, password: str) -> Any:
    token = csrf_token(client.get("/admin/login").get_data(as_text=True))
    return client.post("/admin/login", data={"name": name, "password": password, "csrf_token": token})


def bearer(box: DataDir, now: datetime, *, national_id_checks: bool = False) -> dict[str, str]:
    """The Authorization header of a new API key on ``box`` (one that may ask national-ID checks, if told)."""
    with AccessStore.open(box) as access:
        _, token = access.add_key("Example HR", now, national_id_checks=national_id_checks)
    return {"Authorization": f"Bearer {token}"}
