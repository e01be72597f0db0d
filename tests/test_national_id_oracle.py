"""No national-ID oracle: comparisons only for those allowed to ask, a few per code per hour, across restarts."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from appliance.access import AccessStore
from appliance.datadir import DataDir
from sehat.cli import cli
from tests.conftest import DemoCodes
from tests.support.simulator import FeedSimulator
from tests.support.web import PASSWORD, bearer, csrf_token, log_in


def other_id(synced: DemoCodes) -> str:
    """A valid national ID that is not the holder's."""
    return "0499370899" if synced.valid_national_id != "0499370899" else "0013542419"


def ask(client: FlaskClient, code: str, national_id: str, headers: dict[str, str] | None = None) -> dict[str, object]:
    response = client.post("/api/v1/verify", json={"code": code, "national_id": national_id}, headers=headers or {})
    assert response.status_code == 200
    body: dict[str, object] = response.get_json()
    return body


def match(body: dict[str, object]) -> object:
    holder = body["holder"]
    assert isinstance(holder, dict)
    return holder["national_id_match"]


def note(body: dict[str, object]) -> object:
    summary = body["summary"]
    assert isinstance(summary, dict)
    return summary.get("national_id")


def kiosk_check(client: FlaskClient, code: str, national_id: str) -> str:
    token = csrf_token(client.get("/").get_data(as_text=True))
    return client.post("/", data={"code": code, "national_id": national_id, "csrf_token": token}).get_data(as_text=True)


# --- who may ask --------------------------------------------------------------------------------------


def test_an_anonymous_api_asker_gets_the_verdict_but_no_comparison(client: FlaskClient, synced: DemoCodes) -> None:
    for national_id in (synced.valid_national_id, other_id(synced)):
        body = ask(client, synced.valid, national_id)
        assert body["status"] == "valid"
        assert match(body) is None
        assert note(body) == "not_permitted"
        summary = body["summary"]
        assert isinstance(summary, dict)
        assert "not compared" in summary["en"]["detail"] and "مقایسه نشد" in summary["fa"]["detail"]


def test_a_key_without_the_flag_gets_no_comparison_and_one_with_it_does(
    client: FlaskClient, synced: DemoCodes, box: DataDir, simulator: FeedSimulator
) -> None:
    plain = bearer(box, simulator.now)
    allowed = bearer(box, simulator.now, national_id_checks=True)
    assert match(ask(client, synced.valid, synced.valid_national_id, plain)) is None
    assert match(ask(client, synced.valid, synced.valid_national_id, allowed)) is True
    mismatch = ask(client, synced.valid, other_id(synced), allowed)
    assert match(mismatch) is False and note(mismatch) is None
    summary = mismatch["summary"]
    assert isinstance(summary, dict) and summary["outcome"] == "mismatch"


def test_anonymous_bulk_never_compares(client: FlaskClient, synced: DemoCodes) -> None:
    data = f"code,national_id\n{synced.valid},{synced.valid_national_id}\n{synced.valid},{other_id(synced)}\n"
    rows = list(csv.DictReader(io.StringIO(client.post("/api/v1/verify/bulk", data=data.encode()).get_data(True))))
    assert [row["status"] for row in rows] == ["valid", "valid"]
    assert [row["national_id_match"] for row in rows] == ["", ""]


def test_a_bulk_row_says_why_its_national_id_was_not_compared(client: FlaskClient, synced: DemoCodes) -> None:
    data = f"code,national_id\n{synced.valid},{other_id(synced)}\n{synced.valid},\n"
    rows = list(csv.DictReader(io.StringIO(client.post("/api/v1/verify/bulk", data=data.encode()).get_data(True))))
    assert [row["national_id_note"] for row in rows] == ["not_permitted", ""]
    assert "not compared" in rows[0]["reason_en"] and "مقایسه نشد" in rows[0]["reason_fa"]
    assert rows[1]["reason_en"] == ""


def test_an_invalid_national_id_is_still_a_422_for_anyone(client: FlaskClient, synced: DemoCodes) -> None:
    response = client.post("/api/v1/verify", json={"code": synced.valid, "national_id": "1234567890"})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid_national_id"


def test_the_kiosk_compares_and_an_operator_may_ask(client: FlaskClient, synced: DemoCodes, operator: str) -> None:
    page = kiosk_check(client, synced.valid, other_id(synced))
    assert 'data-finding="mismatch"' in page
    log_in(client, operator, PASSWORD)
    assert match(ask(client, synced.valid, synced.valid_national_id)) is True


# --- a few per code, for everyone together ---------------------------------------------------------------


def test_the_sixth_question_about_one_code_within_the_hour_is_not_answered(
    make_app: Callable[..., Flask], synced: DemoCodes, box: DataDir, simulator: FeedSimulator
) -> None:
    client = make_app().test_client()
    keys = [bearer(box, simulator.now, national_id_checks=True) for _ in range(2)]
    answers = [match(ask(client, synced.valid, other_id(synced), keys[i % 2])) for i in range(5)]
    assert answers == [False] * 5, "five questions, from two keys, all answered"
    limited = ask(client, synced.valid, synced.valid_national_id, keys[0])
    assert limited["status"] == "valid" and match(limited) is None and note(limited) == "limited"
    summary = limited["summary"]
    assert isinstance(summary, dict)
    assert "limited per code" in summary["en"]["detail"] and "محدود" in summary["fa"]["detail"]
    assert 'data-national-id="limited"' in kiosk_check(client, synced.valid, synced.valid_national_id)
    simulator.advance(timedelta(minutes=61))
    assert match(ask(client, synced.valid, synced.valid_national_id, keys[1])) is True


def test_the_limit_is_per_code(
    client: FlaskClient, synced: DemoCodes, box: DataDir, simulator: FeedSimulator, make_app: Callable[..., Flask]
) -> None:
    key = bearer(box, simulator.now, national_id_checks=True)
    for _ in range(5):
        ask(client, synced.valid, other_id(synced), key)
    assert note(ask(client, synced.valid, other_id(synced), key)) == "limited"
    assert match(ask(client, synced.revoked, other_id(synced), key)) is False, "another code is not affected"


def test_the_limit_survives_a_restart(
    make_app: Callable[..., Flask], synced: DemoCodes, box: DataDir, simulator: FeedSimulator
) -> None:
    key = bearer(box, simulator.now, national_id_checks=True)
    first = make_app(national_id_checks_per_code=2).test_client()
    assert [match(ask(first, synced.valid, other_id(synced), key)) for _ in range(2)] == [False, False]
    restarted = make_app(national_id_checks_per_code=2).test_client()
    assert note(ask(restarted, synced.valid, other_id(synced), key)) == "limited"


def test_keyed_bulk_rows_count_against_the_limit(
    client: FlaskClient, synced: DemoCodes, box: DataDir, simulator: FeedSimulator
) -> None:
    candidates = [other_id(synced)] * 7 + [synced.valid_national_id]
    data = "code,national_id\n" + "".join(f"{synced.valid},{candidate}\n" for candidate in candidates)
    key = bearer(box, simulator.now, national_id_checks=True)
    answer = client.post("/api/v1/verify/bulk", data=data.encode(), headers=key).get_data(as_text=True)
    matches = [row["national_id_match"] for row in csv.DictReader(io.StringIO(answer))]
    assert matches == ["false"] * 5 + [""] * 3, "the holder's ID, guessed last, is never confirmed"


def test_the_question_log_keeps_lookup_ids_never_codes_or_ids(
    client: FlaskClient, synced: DemoCodes, box: DataDir, simulator: FeedSimulator
) -> None:
    ask(client, synced.valid, synced.valid_national_id, bearer(box, simulator.now, national_id_checks=True))
    with AccessStore.open(box) as access:
        rows = access.connection.execute("SELECT lookup_id, at FROM national_id_questions").fetchall()
    assert len(rows) == 1 and re.fullmatch(r"[0-9a-f]{32}", rows[0][0])
    assert synced.valid not in str(rows) and synced.valid_national_id not in str(rows)


@pytest.mark.parametrize("flag", [True, False])
def test_the_cli_makes_keys_that_may_or_may_not_ask(box: DataDir, flag: bool) -> None:
    runner = CliRunner()
    args = ["appliance", "apikey", "add", str(box.path), "HR"] + (["--national-id-checks"] if flag else [])
    token = runner.invoke(cli, args).stdout.strip()
    with AccessStore.open(box) as access:
        key = access.authenticate_key(token)
    assert key is not None and key.national_id_checks is flag
    listed = runner.invoke(cli, ["appliance", "apikey", "list", str(box.path)]).stdout
    assert ("national-id" in listed) is flag


def test_an_operator_makes_a_key_that_may_ask_on_the_keys_page(
    client: FlaskClient, synced: DemoCodes, operator: str, box: DataDir
) -> None:
    log_in(client, operator, PASSWORD)
    page = client.get("/admin/keys").get_data(as_text=True)
    form = {"name": "HR", "national_id_checks": "on", "csrf_token": csrf_token(page)}
    created = client.post("/admin/keys", data=form).get_data(as_text=True)
    token = re.search(r"sehat_[0-9a-f]{12}_[\w-]+", created)
    assert token
    client.post("/admin/logout", data={"csrf_token": csrf_token(created)})
    answer = ask(client, synced.valid, synced.valid_national_id, {"Authorization": f"Bearer {token.group(0)}"})
    assert match(answer) is True
