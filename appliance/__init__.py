"""The box: the encrypted replica and the web app that answers from it.

Serve it with ``sehat appliance serve DATADIR``, or with any WSGI server as
``waitress-serve --call appliance:create_app`` (settings from ``SEHAT_*`` variables).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The Flask application factory (imported lazily: the sync agent needs no web stack)."""
    from appliance.app import build_app

    return build_app(test_config)
