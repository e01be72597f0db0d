"""Assembling the box's web app: configuration, stores, security, blueprints, errors, metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask
from werkzeug.routing import PathConverter

from appliance.admin import admin
from appliance.api import api
from appliance.config import ApplianceConfig
from appliance.datadir import DataDir
from appliance.desk import desk
from appliance.i18n import init_i18n
from appliance.json_depth import BoundedJSONProvider
from appliance.kiosk import kiosk
from appliance.metrics import Metrics
from appliance.receipt_routes import receipts
from appliance.security import csrf, init_security
from appliance.store import EXTENSION, init_stores
from appliance.uploads import InMemoryUploadRequest
from appliance.verification_budget import init_bulk_slots
from appliance.web_errors import register_error_handlers
from verifier.errors import OperatorError


def _session_secret(datadir: DataDir) -> bytes:
    """Stable across restarts, unique per box, and never stored: derived from the box key."""
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"sehat/session-secret/v1").derive(datadir.read_key())


class CodeConverter(PathConverter):
    """A code in a link: anything, slashes and line breaks included, so that the verdict (not the
    router) says what is wrong with it — exactly as for the same text sent by POST."""

    regex = r"[^/][\s\S]*?"


def build_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the configuration file, ``SEHAT_*`` environment variables, then ``test_config``.

    ``test_config`` may also carry ``clock`` (a callable returning an aware datetime),
    ``settings_file`` (the configuration file the ``sehat`` command read, under the environment)
    and any Flask setting in upper case.
    """
    overrides = dict(test_config or {})
    clock: Callable[[], datetime] = overrides.pop("clock", lambda: datetime.now(UTC))
    settings_file = overrides.pop("settings_file", None)
    flask_settings = {name: overrides.pop(name) for name in list(overrides) if name.isupper()}
    try:
        config = ApplianceConfig.from_environment(settings=settings_file).with_overrides(overrides)
    except ValueError as error:
        raise OperatorError(f"Bad setting: {error}", f"تنظیمات نادرست است: {error}") from error
    app = Flask(__name__)
    app.request_class = InMemoryUploadRequest
    app.url_map.converters["code"] = CodeConverter
    datadir = DataDir(config.datadir, config.key_file)
    app.config.update(
        SEHAT=config,
        SEHAT_CLOCK=clock,
        SECRET_KEY=_session_secret(datadir),
        MAX_CONTENT_LENGTH=config.max_body_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=config.secure_cookies,
        SESSION_COOKIE_NAME="sehat_session",
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=config.session_minutes),
        WTF_CSRF_TIME_LIMIT=None,
        JSON_AS_ASCII=False,
    )
    app.json = BoundedJSONProvider(app, config.json_max_depth)
    app.json.ensure_ascii = False
    app.config.update(flask_settings)
    init_stores(app, config)
    init_security(app)
    init_bulk_slots(app)
    init_i18n(app)
    register_error_handlers(app)
    app.register_blueprint(kiosk)
    app.register_blueprint(api)
    app.register_blueprint(admin)
    app.register_blueprint(desk)
    app.register_blueprint(receipts)
    csrf.exempt(api)
    app.extensions["sehat_metrics"] = Metrics(lambda: app.extensions[EXTENSION].for_this_thread().replica, clock)
    logging.getLogger("appliance").setLevel(logging.INFO)
    return app
