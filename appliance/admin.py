"""The operator's pages: login, status and sync history, audit export, API keys.

Every login (and failed login), logout, export and key change is an ``admin`` entry in
the audit log: who, from which address, what, when — never a password or a token.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.wrappers.response import Response as BaseResponse

from appliance.access import LockoutPolicy
from appliance.audit import admin_entry
from appliance.i18n import local_digits
from appliance.security import limiter, login_limit, login_required
from appliance.service import now
from appliance.status import status_document
from appliance.store import app_config, stores
from appliance.web_errors import ApiError

admin = Blueprint("admin", __name__, url_prefix="/admin")
MAX_EXPORT_DAYS = 36_500


def _safe_next(target: str | None) -> str:
    """Only redirect within the box after login."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("admin.dashboard")


def _audit(action: str, target: str | None = None, actor: str | None = None) -> None:
    who = actor or f"operator:{g.get('operator')}"
    stores().audit.append([admin_entry(now(), request.remote_addr or "unknown", who, action, target)])


@admin.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
def login() -> str | BaseResponse:
    if request.method == "GET":
        return render_template("admin/login.html", next=request.args.get("next", ""))
    config = app_config()
    name = request.form.get("name", "").strip()
    policy = LockoutPolicy(config.lockout_after, config.lockout_seconds, config.lockout_max_seconds)
    client = request.remote_addr or "unknown"
    result = stores().access.check_login(name, request.form.get("password", ""), client, now(), policy)
    if not result.ok:
        # A name the box does not have is not kept: it may be a password typed in the wrong field.
        _audit("login_failed", actor=f"operator:{name}" if result.known_name else "unknown")
        if result.locked_until is not None:
            wait = max(1, int((result.locked_until - now()).total_seconds()))
            flash(
                _(
                    "Too many failed attempts from this device: logging in from it is locked for %(seconds)s seconds.",
                    seconds=local_digits(wait),
                ),
                "error",
            )
        else:
            flash(_("Wrong name or password."), "error")
        return render_template("admin/login.html", next=request.form.get("next", "")), 401  # type: ignore[return-value]
    session.clear()
    session["sid"] = stores().access.open_session(name, now(), timedelta(hours=config.session_max_hours))
    session.permanent = True
    _audit("login", actor=f"operator:{name}")
    return redirect(_safe_next(request.form.get("next")))


@admin.post("/logout")
def logout() -> BaseResponse:
    token = session.get("sid")
    if token:
        stores().access.end_session(token)
    if g.get("operator"):
        _audit("logout")
    session.clear()
    return redirect(url_for("admin.login"))


@admin.get("/")
@login_required
def dashboard() -> str:
    replica = stores().replica
    return render_template(
        "admin/dashboard.html",
        status=status_document(replica, now()),
        history=replica.history(30),
        audit_entries=stores().audit.count(),
    )


@admin.get("/audit.csv")
@login_required
def audit_export() -> Response:
    days = request.args.get("days", type=int)
    if days is not None and not 1 <= days <= MAX_EXPORT_DAYS:
        raise ApiError(400, "bad_request", f"days must be 1–{MAX_EXPORT_DAYS}.", "بازه روزها نامعتبر است.")
    since = now() - timedelta(days=days) if days else None
    _audit("audit_export")
    # Streamed a batch of rows at a time: constant memory however long the log is.
    response = Response(stream_with_context(stores().audit.csv_lines(since=since)), mimetype="text/csv")
    response.headers["Content-Disposition"] = "attachment; filename=sehat-audit.csv"
    return response


@admin.get("/audit/verify")
@login_required
def audit_verify() -> str:
    return render_template("admin/audit.html", check=stores().audit.verify())


@admin.route("/keys", methods=["GET", "POST"])
@login_required
def keys() -> str:
    token = None
    if request.method == "POST":
        key, token = stores().access.add_key(
            request.form.get("name", ""), now(), national_id_checks=request.form.get("national_id_checks") == "on"
        )
        _audit("key_create", key.key_id)
    return render_template("admin/keys.html", keys=stores().access.keys(), token=token)


@admin.post("/keys/<key_id>/revoke")
@login_required
def revoke_key(key_id: str) -> BaseResponse:
    stores().access.revoke_key(key_id, now())
    _audit("key_revoke", key_id)
    flash(_("Key %(key_id)s revoked.", key_id=key_id), "info")
    return redirect(url_for("admin.keys"))
