"""Operators' sessions end when they should, the lockout tells nothing and locks out only the guesser,
and every admin action is in the audit log — without a password or a token."""

from __future__ import annotations

import csv
import getpass
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

import appliance.access
from appliance.access import AccessStore
from appliance.audit import AuditEntry, AuditLog, admin_entry
from appliance.datadir import DataDir
from sehat.cli import cli
from tests.conftest import DemoCodes
from tests.support.simulator import FeedSimulator
from tests.support.web import PASSWORD, csrf_token, log_in

NEW_PASSWORD = "a different horse battery"


def signed_in(client: FlaskClient) -> bool:
    """Whether the client's session still opens the admin pages (not a redirect to the login)."""
    return client.get("/admin/").status_code == 200


def copy_of(client: FlaskClient, app: Flask) -> FlaskClient:
    """A second browser holding a copy of ``client``'s session cookie (a stolen or shared cookie)."""
    cookie = client.get_cookie("sehat_session")
    assert cookie is not None
    other = app.test_client()
    other.set_cookie("sehat_session", cookie.value)
    return other


def log_out(client: FlaskClient) -> None:
    token = csrf_token(client.get("/admin/").get_data(as_text=True))
    client.post("/admin/logout", data={"csrf_token": token})


def from_address(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def sehat(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result


def audit_rows(box: DataDir) -> list[dict[str, str]]:
    with AuditLog.open(box) as audit:
        out = io.StringIO()
        audit.export_csv(out)
    return list(csv.DictReader(io.StringIO(out.getvalue())))


def admin_rows(box: DataDir, client: str) -> list[tuple[str, str]]:
    """(actor, action) of the ``admin`` entries from one client address (``local``: the command line)."""
    return [
        (row["actor"], row["status"])
        for row in audit_rows(box)
        if row["channel"] == "admin" and row["client"] == client
    ]


# --- sessions that end -----------------------------------------------------------------------------


def test_a_copied_cookie_stops_working_after_logout(app: Flask, client: FlaskClient, operator: str) -> None:
    log_in(client, operator, PASSWORD)
    stolen = copy_of(client, app)
    assert signed_in(stolen)
    log_out(client)
    assert not signed_in(client)
    assert not signed_in(stolen), "the session ended on the box, not only in the browser that logged out"


@pytest.mark.parametrize(
    "command",
    [
        ["user", "remove"],
        ["user", "disable"],
        ["user", "passwd", "--password", NEW_PASSWORD],
    ],
    ids=["remove", "disable", "passwd"],
)
def test_removing_disabling_or_re_passwording_an_operator_ends_their_sessions_at_once(
    app: Flask, client: FlaskClient, operator: str, box: DataDir, command: list[str]
) -> None:
    log_in(client, operator, PASSWORD)
    other_browser = app.test_client()
    log_in(other_browser, operator, PASSWORD)
    assert signed_in(client) and signed_in(other_browser)
    sehat("appliance", command[0], command[1], str(box.path), operator, *command[2:])
    assert not signed_in(client)
    assert not signed_in(other_browser)


def test_a_new_password_replaces_the_old_one(client: FlaskClient, operator: str, box: DataDir) -> None:
    sehat("appliance", "user", "passwd", str(box.path), operator, "--password", NEW_PASSWORD)
    assert log_in(client, operator, PASSWORD).status_code == 401
    assert log_in(client, operator, NEW_PASSWORD).status_code == 302


def test_a_disabled_operator_cannot_log_in_until_enabled(client: FlaskClient, operator: str, box: DataDir) -> None:
    sehat("appliance", "user", "disable", str(box.path), operator)
    refused = log_in(client, operator, PASSWORD)
    assert refused.status_code == 401
    assert "نام کاربری یا گذرواژه نادرست است" in refused.get_data(as_text=True), "told apart from a wrong password"
    assert "disabled" in sehat("appliance", "user", "list", str(box.path)).output
    sehat("appliance", "user", "enable", str(box.path), operator)
    assert log_in(client, operator, PASSWORD).status_code == 302


def test_a_removed_operator_is_gone(client: FlaskClient, operator: str, box: DataDir) -> None:
    sehat("appliance", "user", "remove", str(box.path), operator)
    assert operator not in sehat("appliance", "user", "list", str(box.path)).output
    assert log_in(client, operator, PASSWORD).status_code == 401
    missing = CliRunner().invoke(cli, ["appliance", "user", "remove", str(box.path), operator])
    assert missing.exit_code == 1 and "No operator" in missing.output


def test_a_session_ends_at_its_absolute_lifetime_however_busy(
    make_app: Callable[..., Flask], synced: DemoCodes, operator: str, simulator: FeedSimulator
) -> None:
    client = make_app(session_max_hours=1).test_client()
    log_in(client, operator, PASSWORD)
    for _ in range(2):  # busy all along: a request every 20 minutes
        simulator.advance(timedelta(minutes=20))
        assert signed_in(client)
    simulator.advance(timedelta(minutes=21))
    assert not signed_in(client)
    assert log_in(client, operator, PASSWORD).status_code == 302
    assert signed_in(client)


def test_the_session_lifetime_is_a_documented_setting(make_app: Callable[..., Flask], synced: DemoCodes) -> None:
    app = make_app(session_max_hours=3)
    assert app.config["SEHAT"].session_max_hours == 3
    with pytest.raises(Exception, match="session_max_hours must be positive"):
        make_app(session_max_hours=0)


def test_only_a_hash_of_a_session_token_is_stored(client: FlaskClient, operator: str, box: DataDir) -> None:
    log_in(client, operator, PASSWORD)
    with AccessStore.open(box) as access:
        stored = [row[0] for row in access.connection.execute("SELECT token_sha256 FROM sessions")]
    assert len(stored) == 1 and re.fullmatch(r"[0-9a-f]{64}", stored[0])


# --- a lockout that tells nothing and cannot keep the admin out -------------------------------------


def test_a_guesser_locks_out_only_its_own_address(app: Flask, operator: str, simulator: FeedSimulator) -> None:
    attacker = from_address(app, "10.0.0.66")
    answers = [log_in(attacker, operator, "wrong password").status_code for _ in range(6)]
    assert answers == [401] * 6
    locked = log_in(attacker, operator, PASSWORD)
    assert locked.status_code == 401 and "قفل" in locked.get_data(as_text=True)
    admin = from_address(app, "10.0.0.2")
    assert log_in(admin, operator, PASSWORD).status_code == 302, "the admin at another desk still gets in"
    simulator.advance(timedelta(hours=2))
    assert log_in(attacker, operator, PASSWORD).status_code == 302


def test_a_locked_client_gets_the_same_answer_whatever_the_name(app: Flask, operator: str) -> None:
    client = from_address(app, "10.0.0.67")
    for _ in range(6):
        log_in(client, "nobody", "wrong password")
    unknown = log_in(client, "nobody", PASSWORD)
    known = log_in(client, operator, PASSWORD)
    assert unknown.status_code == known.status_code == 401
    assert strip_token(unknown.get_data(as_text=True)) == strip_token(known.get_data(as_text=True))


def strip_token(page: str) -> str:
    return re.sub(r'value="[^"]*"', "", page)


def test_unknown_known_and_disabled_names_spend_the_same_password_hash(
    app: Flask, operator: str, box: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = appliance.access.check_password_hash

    def counted(stored: str, password: str) -> bool:
        calls.append(stored.split(":")[0])
        return real(stored, password)

    monkeypatch.setattr(appliance.access, "check_password_hash", counted)
    client = from_address(app, "10.0.0.68")
    pages = [log_in(client, name, "wrong password").get_data(as_text=True) for name in ("nobody", operator)]
    sehat("appliance", "user", "disable", str(box.path), operator)
    pages.append(log_in(client, operator, PASSWORD).get_data(as_text=True))
    assert calls == ["scrypt", "scrypt", "scrypt"], "one scrypt check for every name"
    assert len({strip_token(page) for page in pages}) == 1


# --- every admin action in the audit log, without secrets -------------------------------------------


def test_failed_logins_and_admin_actions_are_audited_without_secrets(
    client: FlaskClient, operator: str, box: DataDir
) -> None:
    log_in(client, "my secret password", "x" * 12)  # a password typed in the name field
    log_in(client, operator, "wrong password")
    log_in(client, operator, PASSWORD)
    created = client.post(
        "/admin/keys", data={"name": "HR", "csrf_token": csrf_token(client.get("/admin/keys").get_data(as_text=True))}
    ).get_data(as_text=True)
    token = re.search(r"sehat_([0-9a-f]{12})_[\w-]+", created)
    assert token
    key_id = token.group(1)
    client.post(f"/admin/keys/{key_id}/revoke", data={"csrf_token": csrf_token(created)})
    client.get("/admin/audit.csv").get_data()
    log_out(client)
    sehat("appliance", "user", "add", str(box.path), "ops", "--password", PASSWORD)
    sehat("appliance", "user", "passwd", str(box.path), "ops", "--password", NEW_PASSWORD)
    sehat("appliance", "user", "disable", str(box.path), "ops")
    sehat("appliance", "user", "enable", str(box.path), "ops")
    sehat("appliance", "user", "remove", str(box.path), "ops")
    cli_token = sehat("appliance", "apikey", "add", str(box.path), "CLI key").stdout.strip()
    cli_key = cli_token.split("_")[1]
    sehat("appliance", "apikey", "revoke", str(box.path), cli_key)

    assert admin_rows(box, "127.0.0.1") == [
        ("unknown", "login_failed"),
        ("operator:admin", "login_failed"),
        ("operator:admin", "login"),
        ("operator:admin", f"key_create:{key_id}"),
        ("operator:admin", f"key_revoke:{key_id}"),
        ("operator:admin", "audit_export"),
        ("operator:admin", "logout"),
    ]
    local = admin_rows(box, "local")
    assert {actor for actor, _ in local} == {f"operator:{getpass.getuser()}"}
    assert [action for _, action in local] == [
        "user_add:ops",
        "user_passwd:ops",
        "user_disable:ops",
        "user_enable:ops",
        "user_remove:ops",
        f"key_create:{cli_key}",
        f"key_revoke:{cli_key}",
    ]
    everything = "\n".join(",".join(row.values()) for row in audit_rows(box))
    for secret in ("my secret password", "x" * 12, PASSWORD, NEW_PASSWORD, token.group(0), cli_token):
        assert secret not in everything
    assert all(row["at"] and row["client"] for row in audit_rows(box))
    verified = CliRunner().invoke(cli, ["appliance", "audit", "verify", str(box.path)])
    assert verified.exit_code == 0, verified.output


def test_an_admin_entry_names_a_known_action_and_a_printable_target() -> None:
    at = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="ACTION"):
        AuditEntry(at, "admin", "local", "operator:x", None, None, "drop_tables")
    with pytest.raises(ValueError, match="status must be one of"):
        AuditEntry(at, "api", "local", None, None, None, "login")
    assert admin_entry(at, "local", "operator:x", "user_add", "bad\x00name").status == "user_add:bad?name"
