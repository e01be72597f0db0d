"""The verification API over a real waitress server: every status, every channel, the same verdict."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
import requests
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from appliance import create_app
from appliance.datadir import DataDir
from appliance.store import close_stores
from sehat.cli import cli
from sync_agent.agent import SyncAgent
from tests.conftest import TEST_SYNC_CONFIG, DemoCodes, app_settings, make_box
from tests.support.import_rows import GOOD_ROW, make_csv
from tests.support.servers import serving
from tests.support.simulator import FeedSimulator
from tests.support.web import bearer

PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def comparable(verdict: dict[str, Any]) -> dict[str, Any]:
    """A verdict without the moment it was made, to compare channels."""
    return {key: value for key, value in verdict.items() if key != "checked_at"}


def post(base: str, body: object, **kwargs: Any) -> requests.Response:
    return requests.post(f"{base}/api/v1/verify", json=body, timeout=30, **kwargs)


@pytest.fixture
def codes(synced: DemoCodes) -> dict[str, str]:
    return {
        "valid": synced.valid,
        "revoked": synced.revoked,
        "superseded": synced.superseded,
        "not_found": "1" * 20,
    }


@pytest.mark.parametrize("status", ["valid", "revoked", "superseded", "not_found"])
def test_each_status_is_the_same_over_post_link_bulk_and_cli(
    live_box: str, codes: dict[str, str], box: DataDir, status: str
) -> None:
    code = codes[status]
    by_post = post(live_box, {"code": code})
    by_link = requests.get(f"{live_box}/api/v1/verify/{code}", timeout=30)
    by_bulk = requests.post(
        f"{live_box}/api/v1/verify/bulk",
        data=f"code\n{code}\n".encode(),
        headers={"Content-Type": "text/csv", "Accept": "application/json"},
        timeout=30,
    )
    by_cli = CliRunner().invoke(cli, ["verify", str(box.path), code, "--json"])
    assert by_post.status_code == by_link.status_code == by_bulk.status_code == 200
    assert by_post.json()["status"] == status
    (bulk_result,) = by_bulk.json()["results"]
    expected = comparable(by_post.json())
    assert comparable(by_link.json()) == expected
    assert comparable(bulk_result["verdict"]) == expected
    cli_verdict = json.loads(by_cli.stdout)
    assert cli_verdict["status"] == status
    assert cli_verdict["code"] == code


def test_invalid_format_is_a_422_with_both_languages_on_every_channel(live_box: str, box: DataDir) -> None:
    by_post = post(live_box, {"code": "۱۲۳-abc"})
    by_link = requests.get(f"{live_box}/api/v1/verify/12345", timeout=30)
    bulk = requests.post(f"{live_box}/api/v1/verify/bulk", data=b"code\nabc\n", timeout=30)
    for response in (by_post, by_link):
        assert response.status_code == 422
        body = response.json()
        assert body["status"] == "invalid_format"
        assert body["error"]["message"] and body["error"]["message_fa"]
    assert "invalid_format" in bulk.text.splitlines()[1]
    assert json.loads(CliRunner().invoke(cli, ["verify", str(box.path), "abc", "--json"]).stdout)["status"] == (
        "invalid_format"
    )


def test_a_valid_verdict_names_issuer_document_and_masked_holder(live_box: str, synced: DemoCodes) -> None:
    body = post(live_box, {"code": synced.valid}).json()
    assert body["issuer"]["id"] == "msrt"
    assert body["document"]["type"] in {"diploma", "provisional", "transcript", "confirmation", "enrolment"}
    assert body["holder"]["national_id_masked"] == "******" + synced.valid_national_id[-4:]
    assert synced.valid_national_id not in json.dumps(body)
    assert body["replica"]["stale"] is False
    assert body["summary"]["fa"]["headline"] == "معتبر"


def test_a_revoked_verdict_carries_reason_and_date(live_box: str, synced: DemoCodes) -> None:
    body = post(live_box, {"code": synced.revoked}).json()
    assert body["revocation"] == {"reason": "صدور اشتباه", "revoked_on": "2026-11-23"}


def test_a_superseded_verdict_names_the_newer_document(live_box: str, synced: DemoCodes) -> None:
    body = post(live_box, {"code": synced.superseded}).json()
    assert body["superseded_by"]["document_type"] == "diploma"
    assert body["superseded_by"]["code_hint"].startswith("…")


def test_not_found_is_never_called_fake(live_box: str) -> None:
    body = post(live_box, {"code": "1" * 20}).json()
    assert body["status"] == "not_found"
    assert "does not mean the document is fake" in body["summary"]["en"]["detail"]
    assert body["replica"]["as_of"] is not None


@pytest.mark.parametrize(
    "given",
    [
        lambda code: code.translate(PERSIAN),
        lambda code: code.translate(ARABIC),
        lambda code: "\u200f" + "-".join(code[i : i + 4] for i in range(0, 20, 4)) + "\u200e",
        lambda code: " ".join(code[i : i + 5] for i in range(0, 20, 5)).translate(PERSIAN),
        lambda code: f"https://verify.example.ir/v/{code}",
        lambda code: f"https://x.ir/check?code={quote(code.translate(PERSIAN))}",
    ],
    ids=["persian", "arabic-indic", "dashes-and-bidi", "spaced-persian", "url-path", "url-query"],
)
def test_every_digit_system_and_link_form_gives_the_same_verdict(
    live_box: str, synced: DemoCodes, given: Callable[[str], str]
) -> None:
    expected = comparable(post(live_box, {"code": synced.valid}).json())
    assert comparable(post(live_box, {"code": given(synced.valid)}).json()) == expected


def test_the_national_id_is_compared_when_given(
    live_box: str, synced: DemoCodes, box: DataDir, simulator: FeedSimulator
) -> None:
    headers = bearer(box, simulator.now, national_id_checks=True)  # anonymous askers get no comparison
    persian_id = synced.valid_national_id.translate(PERSIAN)
    match = post(live_box, {"code": synced.valid, "national_id": persian_id}, headers=headers)
    mismatch = post(live_box, {"code": synced.valid, "national_id": "0084575948"}, headers=headers)
    assert match.json()["holder"]["national_id_match"] is True
    assert mismatch.json()["holder"]["national_id_match"] is False


def test_an_invalid_national_id_is_a_422(live_box: str, synced: DemoCodes) -> None:
    response = post(live_box, {"code": synced.valid, "national_id": "1234567890"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_national_id"


def test_a_stale_replica_is_flagged(
    make_app: Callable[..., Flask], synced: DemoCodes, simulator: FeedSimulator
) -> None:
    simulator.advance(timedelta(days=3))
    with serving(make_app()) as base:
        body = post(base, {"code": synced.valid}).json()
    assert body["status"] == "valid"
    assert body["replica"]["stale"] is True
    assert body["summary"]["en"]["headline"].startswith("Valid as of")
    assert "revocations since are unknown" in body["summary"]["en"]["detail"]


def test_a_body_that_is_not_json_is_a_400_in_the_error_shape(live_box: str) -> None:
    response = requests.post(
        f"{live_box}/api/v1/verify", data=b"code=1", headers={"Content-Type": "text/plain"}, timeout=30
    )
    assert response.status_code == 400
    body = response.json()
    assert set(body["error"]) == {"code", "message", "message_fa"}
    assert body["request_id"] == response.headers["X-Request-Id"]


def test_past_the_limit_the_answer_is_429_with_retry_after(make_app: Callable[..., Flask], synced: DemoCodes) -> None:
    with serving(make_app(anonymous_rate_limit="3 per minute")) as base:
        answers = [post(base, {"code": synced.valid}) for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert int(answers[-1].headers["Retry-After"]) > 0
    assert answers[-1].json()["error"]["message_fa"]


def test_an_unexpected_failure_is_a_json_500_with_a_request_id_that_is_logged(
    client: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("appliance.verification.Verifier.verify", broken)
    response = client.post("/api/v1/verify", json={"code": "1" * 20})
    assert response.status_code == 500
    body = response.get_json()
    assert body["error"]["code"] == "internal_error"
    assert "disk on fire" not in json.dumps(body)
    assert body["request_id"] in caplog.text


def test_every_answer_carries_the_security_headers(live_box: str) -> None:
    for path in ("/", "/api/v1/status", "/healthz", "/nowhere", "/admin/login"):
        headers = requests.get(f"{live_box}{path}", timeout=30).headers
        policy = headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "http" not in policy, "no outside sources"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"


def test_verdicts_are_never_cached(live_box: str, synced: DemoCodes) -> None:
    assert post(live_box, {"code": synced.valid}).headers["Cache-Control"] == "no-store"


def test_api_errors_are_json_never_an_html_trace(live_box: str) -> None:
    for response in (
        requests.get(f"{live_box}/api/v1/nothing", timeout=30),
        requests.delete(f"{live_box}/api/v1/verify", timeout=30),
    ):
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.json()["error"]["code"]


def test_status_and_health_answer(live_box: str) -> None:
    status = requests.get(f"{live_box}/api/v1/status", timeout=30).json()
    assert status["issuers"][0]["issuer"] == "msrt"
    assert status["issuers"][0]["records"] == 32  # 30 records and a provisional-diploma pair
    assert requests.get(f"{live_box}/healthz", timeout=30).json()["status"] == "ok"


def test_health_fails_when_the_replica_cannot_be_read(
    make_app: Callable[..., Flask], box: DataDir, synced: DemoCodes
) -> None:
    app = make_app()
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    for path in box.path.glob("replica-*.db*"):
        path.write_bytes(b"\0" * 4096)

    close_stores(app)
    app.extensions["sehat_stores"].local.__dict__.clear()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"]


def test_the_kiosk_page_verifies_a_code_and_speaks_persian(client: Any, synced: DemoCodes) -> None:
    page = client.get("/").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    answer = client.post("/", data={"code": synced.revoked.translate(PERSIAN), "csrf_token": token})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "باطل شده" in html and 'dir="rtl"' in html
    assert "۱۴۰۵/۰۹/۰۲" in html, "the revocation date in the Solar Hijri calendar"


def test_the_kiosk_form_needs_its_csrf_token(client: Any, synced: DemoCodes) -> None:
    assert client.post("/", data={"code": synced.valid}).status_code == 400


def test_bulk_answers_csv_an_operator_can_open(
    live_box: str, synced: DemoCodes, box: DataDir, simulator: FeedSimulator
) -> None:
    file = f"name,code,national_id\nx,{synced.valid},{synced.valid_national_id}\ny,{synced.revoked},\nz,123,\n"
    response = requests.post(
        f"{live_box}/api/v1/verify/bulk",
        files={"file": ("in.csv", file.encode("utf-8"), "text/csv")},
        headers=bearer(box, simulator.now, national_id_checks=True),  # anonymous bulk gets no comparison
        timeout=30,
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert response.headers["Content-Type"].startswith("text/csv")
    assert [(row["line"], row["status"]) for row in rows] == [("2", "valid"), ("3", "revoked"), ("4", "invalid_format")]
    assert rows[0]["national_id_match"] == "true"


def test_bulk_without_a_code_column_is_a_422(live_box: str) -> None:
    response = requests.post(f"{live_box}/api/v1/verify/bulk", data=b"serial\n1\n", timeout=30)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "bad_bulk_file"


def test_a_bad_national_id_fails_only_its_own_bulk_row(live_box: str, synced: DemoCodes) -> None:
    data = f"code,national_id\n{synced.valid},1234567890\n{synced.valid},\n".encode()
    lines = requests.post(f"{live_box}/api/v1/verify/bulk", data=data, timeout=30).text.splitlines()
    assert "invalid_national_id" in lines[1]
    assert ",valid," in lines[2]


def test_a_code_held_by_two_issuers_answers_with_the_graver_record(
    simulator: FeedSimulator, make_registry: Callable[..., Any], tmp_path: Any
) -> None:
    code = "98716543209861754320"  # supplied codes must look random (docs/protocol.md §4.2)
    simulator.registry.import_csv(make_csv(code + GOOD_ROW), simulator.now)
    simulator.registry.revoke(code, "صدور اشتباه", simulator.now)
    simulator.publish()
    other = FeedSimulator(make_registry("aaa"), tmp_path / "feed-aaa")
    try:
        other.registry.import_csv(make_csv(code + GOOD_ROW), simulator.now)
        other.publish()
        datadir = make_box(tmp_path / "two-issuers", other, simulator)
        SyncAgent(datadir, TEST_SYNC_CONFIG, lambda: simulator.now).sync_once()
        app = create_app(app_settings(datadir, simulator))
        body = app.test_client().post("/api/v1/verify", json={"code": code}).get_json()
        close_stores(app)
    finally:
        other.close()
    assert (body["status"], body["issuer"]["id"]) == ("revoked", "msrt")


def test_the_429_answer_says_how_long_to_wait(make_app: Callable[..., Flask], synced: DemoCodes) -> None:
    client = make_app(anonymous_rate_limit="1 per minute").test_client()
    client.post("/api/v1/verify", json={"code": synced.valid})
    body = client.post("/api/v1/verify", json={"code": synced.valid}).get_json()
    assert body["retry_after"] > 0
    assert f"wait {body['retry_after']} seconds" in body["error"]["message"]
    assert "ثانیه صبر کنید" in body["error"]["message_fa"]


def test_a_national_id_mismatch_is_its_own_outcome_in_the_summary(
    client: FlaskClient, synced: DemoCodes, box: DataDir, simulator: FeedSimulator
) -> None:
    other = "0499370899" if synced.valid_national_id != "0499370899" else "0013542419"
    headers = bearer(box, simulator.now, national_id_checks=True)
    body = client.post("/api/v1/verify", json={"code": synced.valid, "national_id": other}, headers=headers).get_json()
    assert body["status"] == "valid"
    assert body["holder"]["national_id_match"] is False
    assert body["summary"]["outcome"] == "mismatch"
    assert "belongs to someone else" in body["summary"]["en"]["headline"]
