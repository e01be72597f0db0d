"""The kiosk page through the test client: languages, the verdict fragment, what stays in the field."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import DemoCodes
from tests.support.web import csrf_token


def check(client: FlaskClient, code: str, *, fragment: bool = False, **headers: str) -> str:
    token = csrf_token(client.get("/").get_data(as_text=True))
    if fragment:
        headers["X-Sehat-Fragment"] = "1"
    response = client.post("/", data={"code": code, "csrf_token": token}, headers=headers)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_persian_is_the_default(client: FlaskClient, synced: DemoCodes) -> None:
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="fa" dir="rtl">' in page


def test_a_browser_asking_for_english_gets_english(client: FlaskClient, synced: DemoCodes) -> None:
    page = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in page


def test_the_chosen_language_is_remembered(client: FlaskClient, synced: DemoCodes) -> None:
    assert client.get("/language/en?next=/").status_code == 302
    assert '<html lang="en"' in client.get("/", headers={"Accept-Language": "fa"}).get_data(as_text=True)


def test_the_language_switch_never_leaves_the_box(client: FlaskClient, synced: DemoCodes) -> None:
    assert client.get("/language/en?next=//evil.example/").headers["Location"] == "/"


def test_the_script_gets_the_verdict_alone(client: FlaskClient, synced: DemoCodes) -> None:
    fragment = check(client, synced.valid, fragment=True)
    assert "<html" not in fragment
    assert 'data-finding="valid"' in fragment


def test_a_valid_verdict_clears_the_field_for_the_next_person(client: FlaskClient, synced: DemoCodes) -> None:
    page = check(client, synced.valid)
    assert f'value="{synced.valid}"' not in page


def test_a_format_error_keeps_what_was_typed(client: FlaskClient, synced: DemoCodes) -> None:
    page = check(client, synced.valid[:19])
    assert f'value="{synced.valid[:19]}"' in page
    assert 'data-finding="invalid_format"' in page


def test_every_verdict_about_a_code_offers_a_receipt(client: FlaskClient, synced: DemoCodes) -> None:
    for code in (synced.valid, synced.revoked, "1" * 20):
        assert 'data-action="receipt"' in check(client, code)
    assert 'data-action="receipt"' not in check(client, "abc")


def test_a_box_with_no_data_says_so_as_the_headline(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    assert 'data-freshness="no_data"' in client.get("/").get_data(as_text=True)
    body = client.post("/api/v1/verify", json={"code": "1" * 20}).get_json()
    assert body["status"] == "not_found"
    assert body["summary"]["outcome"] == "no_data"
    assert body["summary"]["en"]["headline"] == "This box has no data yet"
    assert body["summary"]["fa"]["headline"] == "این دستگاه هنوز داده‌ای ندارد"
