"""Who may ask, how often, and what every answer carries: keys, sessions, limits, CSRF, headers."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, redirect, request, session, url_for
from flask_limiter import Limiter
from flask_wtf.csrf import CSRFProtect

from appliance.store import app_config, stores
from appliance.web_errors import ApiError

F = TypeVar("F", bound=Callable[..., Any])

# No outside source of anything: the box works offline and trusts only itself.
# 'wasm-unsafe-eval' lets the camera's QR decoder (static/vendor/zxing-wasm) compile its WebAssembly;
# it allows no JavaScript eval. A camera stream shown through video.srcObject needs no media-src.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

csrf = CSRFProtect()


def rate_key() -> str:
    """Whom a limit counts against: the API key, else the client address."""
    key = g.get("api_key")
    return f"key:{key.key_id}" if key is not None else f"addr:{request.remote_addr}"


limiter = Limiter(key_func=rate_key, storage_uri="memory://", headers_enabled=True, default_limits=[])


def verification_limit() -> str:
    """Anonymous askers get the stricter limit; integrators with a key the looser one."""
    config = app_config()
    return config.keyed_rate_limit if g.get("api_key") is not None else config.anonymous_rate_limit


def login_limit() -> str:
    return app_config().login_rate_limit


def init_security(app: Flask) -> None:
    csrf.init_app(app)
    limiter.init_app(app)

    @app.before_request
    def identify() -> None:
        """Resolve a bearer token before limits are counted; a bad token is 401, never anonymous."""
        g.api_key = None
        g.operator = None
        token = session.get("sid")
        if token:
            # The session must still be on record: logout, expiry, and removing, disabling or
            # re-passwording the operator delete it, whatever copies of the cookie exist.
            g.operator = stores().access.session_operator(token, current_app.config["SEHAT_CLOCK"]())
            if g.operator is None:
                session.clear()
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise ApiError(401, "unauthorized", "Use Authorization: Bearer <API key>.")
            key = stores().access.authenticate_key(token.strip())
            if key is None:
                raise ApiError(
                    401, "unauthorized", "The API key is unknown or revoked.", "کلید API نامعتبر یا باطل است."
                )
            g.api_key = key

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if not request.path.startswith("/static/"):
            # Verdicts name people: never keep them in a browser or proxy cache.
            response.headers["Cache-Control"] = "no-store"
        return response


def require_verifier_access(view: F) -> F:
    """Open on the LAN by default; with ``open_verification`` off, an API key or an operator is needed."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not app_config().open_verification and g.get("api_key") is None and not g.get("operator"):
            raise ApiError(401, "unauthorized")
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def login_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not g.get("operator"):
            return redirect(url_for("admin.login", next=request.path))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]
