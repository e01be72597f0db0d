"""Who may use the box: operators behind a login with CSRF and lock-out, integrators with revocable keys."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from appliance.access import AccessStore
from appliance.datadir import DataDir
from sehat.cli import cli
from tests.conftest import DemoCodes
from tests.support.simulator import FeedSimulator
from tests.support.web import PASSWORD, csrf_token, log_in


@pytest.mark.parametrize("path", ["/admin/", "/admin/keys", "/admin/audit.csv", "/admin/audit/verify"])
def test_admin_pages_without_a_session_redirect_to_login(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login")


def test_an_operator_logs_in_and_sees_the_dashboard(client: FlaskClient, operator: str) -> None:
    response = log_in(client, operator, PASSWORD)
    assert response.status_code == 302
    page = client.get("/admin/").get_data(as_text=True)
    assert "msrt" in page and "به‌روز شد" in page
    assert "updated" in client.get("/admin/?lang=en").get_data(as_text=True)


def test_the_session_cookie_is_http_only_and_same_site(client: FlaskClient, operator: str) -> None:
    log_in(client, operator, PASSWORD)
    cookie = client.get_cookie("sehat_session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Strict"


def test_a_post_without_the_csrf_token_is_refused(client: FlaskClient, operator: str) -> None:
    assert client.post("/admin/login", data={"name": operator, "password": PASSWORD}).status_code == 400
    log_in(client, operator, PASSWORD)
    assert client.post("/admin/keys", data={"name": "HR"}).status_code == 400


def test_a_login_redirect_never_leaves_the_box(client: FlaskClient, operator: str) -> None:
    token = csrf_token(client.get("/admin/login").get_data(as_text=True))
    response = client.post(
        "/admin/login",
        data={"name": operator, "password": PASSWORD, "csrf_token": token, "next": "//evil.example/x"},
    )
    assert response.headers["Location"] == "/admin/"


def test_six_wrong_passwords_lock_the_account_for_a_while(
    client: FlaskClient, operator: str, simulator: FeedSimulator
) -> None:
    answers = [log_in(client, operator, "wrong password") for _ in range(6)]
    assert all(answer.status_code == 401 for answer in answers)
    locked = log_in(client, operator, PASSWORD)
    assert locked.status_code == 401
    assert "قفل" in locked.get_data(as_text=True)
    simulator.advance(timedelta(hours=2))
    assert log_in(client, operator, PASSWORD).status_code == 302


def test_an_unknown_name_is_refused_like_a_wrong_password(client: FlaskClient, operator: str) -> None:
    wrong_name = log_in(client, "nobody", PASSWORD).get_data(as_text=True)
    wrong_password = log_in(client, operator, "wrong password").get_data(as_text=True)
    assert "نام کاربری یا گذرواژه نادرست است" in wrong_name
    assert "نام کاربری یا گذرواژه نادرست است" in wrong_password


def test_an_operator_creates_and_revokes_an_api_key(client: FlaskClient, operator: str, synced: DemoCodes) -> None:
    log_in(client, operator, PASSWORD)
    page = client.get("/admin/keys").get_data(as_text=True)
    created = client.post("/admin/keys", data={"name": "HR system", "csrf_token": csrf_token(page)})
    token = re.search(r"sehat_[0-9a-f]{12}_[\w-]+", created.get_data(as_text=True))
    assert token
    bearer = {"Authorization": f"Bearer {token.group(0)}"}
    assert client.post("/api/v1/verify", json={"code": synced.valid}, headers=bearer).status_code == 200
    key_id = token.group(0).split("_")[1]
    page = created.get_data(as_text=True)
    client.post(f"/admin/keys/{key_id}/revoke", data={"csrf_token": csrf_token(page)})
    assert client.post("/api/v1/verify", json={"code": synced.valid}, headers=bearer).status_code == 401


def test_a_revoked_api_key_gets_401(box: DataDir, client: FlaskClient, simulator: FeedSimulator) -> None:
    with AccessStore.open(box) as access:
        key, token = access.add_key("HR", simulator.now)
        access.revoke_key(key.key_id, simulator.now)
    response = client.post("/api/v1/verify", json={"code": "1" * 20}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.get_json()["error"]["message_fa"]


def test_only_a_hash_of_an_api_key_is_stored(box: DataDir, simulator: FeedSimulator) -> None:
    with AccessStore.open(box) as access:
        _, token = access.add_key("HR", simulator.now)
        stored = access.connection.execute("SELECT secret_sha256 FROM api_keys").fetchone()[0]
    assert token.split("_")[2] not in stored
    assert token.encode() not in (box.path / "access.db").read_bytes()


def test_keys_only_mode_refuses_anonymous_verification(
    make_app: Callable[..., Flask], box: DataDir, synced: DemoCodes, simulator: FeedSimulator
) -> None:
    client = make_app(open_verification=False).test_client()
    with AccessStore.open(box) as access:
        _, token = access.add_key("HR", simulator.now)
    assert client.post("/api/v1/verify", json={"code": synced.valid}).status_code == 401
    ok = client.post("/api/v1/verify", json={"code": synced.valid}, headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200


def test_a_key_gets_a_looser_limit_than_anonymous_askers(
    make_app: Callable[..., Flask], box: DataDir, synced: DemoCodes, simulator: FeedSimulator
) -> None:
    client = make_app(anonymous_rate_limit="2 per minute", keyed_rate_limit="5 per minute").test_client()
    with AccessStore.open(box) as access:
        _, token = access.add_key("HR", simulator.now)
    anonymous = [client.post("/api/v1/verify", json={"code": synced.valid}).status_code for _ in range(3)]
    bearer = {"Authorization": f"Bearer {token}"}
    keyed = [client.post("/api/v1/verify", json={"code": synced.valid}, headers=bearer).status_code for _ in range(5)]
    assert anonymous == [200, 200, 429]
    assert keyed == [200] * 5


def test_a_malformed_authorization_header_is_401(client: FlaskClient) -> None:
    response = client.get("/api/v1/status", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    assert response.status_code == 401


def test_the_cli_manages_keys_and_users(box: DataDir) -> None:
    runner = CliRunner()
    added = runner.invoke(cli, ["appliance", "apikey", "add", str(box.path), "Example Co."])
    token = added.stdout.strip()
    assert re.fullmatch(r"sehat_[0-9a-f]{12}_[\w-]+", token)
    key_id = token.split("_")[1]
    assert "active" in runner.invoke(cli, ["appliance", "apikey", "list", str(box.path)]).stdout
    assert runner.invoke(cli, ["appliance", "apikey", "revoke", str(box.path), key_id]).exit_code == 0
    assert "revoked" in runner.invoke(cli, ["appliance", "apikey", "list", str(box.path)]).stdout
    short = runner.invoke(cli, ["appliance", "user", "add", str(box.path), "ops", "--password", "short"])
    assert short.exit_code == 1 and "at least 8" in short.output
    assert runner.invoke(cli, ["appliance", "user", "add", str(box.path), "ops", "--password", PASSWORD]).exit_code == 0


def test_passwords_are_stored_as_slow_hashes(box: DataDir, operator: str) -> None:
    with AccessStore.open(box) as access:
        stored = access.connection.execute("SELECT password_hash FROM users").fetchone()[0]
    assert stored.startswith("scrypt:")
    assert PASSWORD not in stored


def test_access_db_is_encrypted(box: DataDir, operator: str) -> None:
    assert b"admin" not in (Path(box.path) / "access.db").read_bytes()


@pytest.mark.parametrize("days", ["0", "-3", "99999999999"])
def test_an_out_of_range_audit_export_window_is_a_400(client: FlaskClient, operator: str, days: str) -> None:
    log_in(client, operator, PASSWORD)
    assert client.get(f"/admin/audit.csv?days={days}").status_code == 400
