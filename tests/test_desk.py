"""The HR desk through the test client: upload a spreadsheet, follow its progress, download it answered, once."""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from appliance.audit import AuditLog
from appliance.datadir import DataDir
from tests.conftest import DemoCodes
from tests.support.simulator import FeedSimulator
from tests.support.web import csrf_token

HEADER = ["نام متقاضی", "کد صحت", "کد ملی", "یادداشت"]
STATUS_EN = 5  # the officer's four columns, then status (Persian), status (English), …
WAIT_SECONDS = 30


@pytest.fixture
def rows(synced: DemoCodes) -> list[list[str]]:
    """An applicants' sheet: one row of each kind the desk must tell apart."""
    return [
        ["مریم احمدی", synced.valid, "", "valid"],
        ["رضا کریمی", synced.revoked, "", "revoked"],
        ["سارا محمدی", synced.superseded, "", "superseded"],
        ["علی رضایی", "1" * 20, "", "not found"],
        ["نیما صادقی", "123", "", "not a code"],
        ["لیلا نوری", "1.23457E+19", "", "a number"],
    ]


def csv_file(rows: Sequence[Sequence[object]], header: Sequence[str] = HEADER) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([header, *rows])
    return buffer.getvalue().encode("utf-8")


def xlsx_file(rows: Sequence[Sequence[object]], header: Sequence[str] = HEADER) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "متقاضیان"
    for row in [header, *rows]:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def upload(client: FlaskClient, data: bytes, name: str = "applicants.csv") -> TestResponse:
    """Post the file as the page's form does (the body built in memory, so a test may forbid temporary files)."""
    token = csrf_token(client.get("/desk").get_data(as_text=True))
    form = {"csrf_token": token, "file": FileStorage(io.BytesIO(data), name)}
    boundary, body = encode_multipart(form)
    return client.post("/desk/jobs", data=body, content_type=f"multipart/form-data; boundary={boundary}")


def job_url(response: TestResponse) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    location = response.headers["Location"]
    assert re.fullmatch(r"/desk/jobs/[\w-]{20,}", location), location
    return location


def wait_until_done(client: FlaskClient, url: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        progress: dict[str, Any] = client.get(f"{url}/progress").get_json()
        if progress["state"] in ("done", "failed"):
            return progress
        time.sleep(0.05)
    raise AssertionError(f"the job did not finish: {progress}")


def checked(client: FlaskClient, data: bytes, name: str = "applicants.csv") -> TestResponse:
    """Upload, wait, download: the answered file's response."""
    url = job_url(upload(client, data, name))
    progress = wait_until_done(client, url)
    assert progress["state"] == "done", progress
    return client.get(progress["download"])


def csv_rows(response: TestResponse) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def xlsx_rows(response: TestResponse) -> list[tuple[Any, ...]]:
    return list(openpyxl.load_workbook(io.BytesIO(response.get_data())).worksheets[0].iter_rows(values_only=True))


# --- the page ------------------------------------------------------------------------------------


def test_the_page_offers_a_file_upload_with_stable_hooks(client: FlaskClient) -> None:
    page = client.get("/desk").get_data(as_text=True)
    assert 'id="desk-file"' in page and 'id="desk-submit"' in page
    assert 'name="csrf_token"' in page
    assert 'src="/static/desk.js"' in page and "<script>" not in page


def test_the_page_speaks_the_chosen_language(client: FlaskClient) -> None:
    assert "Check a spreadsheet of authenticity codes" in client.get("/desk?lang=en").get_data(as_text=True)
    assert "استعلام" in client.get("/desk?lang=fa").get_data(as_text=True)


# --- a whole file --------------------------------------------------------------------------------


def test_a_csv_comes_back_as_csv_with_each_rows_verdict(client: FlaskClient, rows: list[list[str]]) -> None:
    response = checked(client, csv_file(rows))
    answered = csv_rows(response)
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.get_data().startswith(codecs.BOM_UTF8)
    assert answered[0][:4] == HEADER
    assert "Status (English)" in answered[0][STATUS_EN] and "وضعیت" in answered[0][STATUS_EN - 1]
    assert [row[:4] for row in answered[1:]] == rows
    assert [row[STATUS_EN] for row in answered[1:]] == [
        "Valid",
        "Revoked",
        "Superseded",
        "Not in this box's data",
        "Not a code",
        "Not checked: the code is a number",
    ]
    assert answered[1][STATUS_EN - 1] == "معتبر"


def test_an_xlsx_comes_back_as_xlsx_with_each_rows_verdict(client: FlaskClient, rows: list[list[str]]) -> None:
    response = checked(client, xlsx_file(rows), "متقاضیان.xlsx")
    answered = xlsx_rows(response)
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "filename*=UTF-8''%D9%85" in response.headers["Content-Disposition"]
    assert [row[STATUS_EN] for row in answered[1:]][:3] == ["Valid", "Revoked", "Superseded"]
    assert [list(row[:3]) for row in answered[1:]] == [[*row[:2], None] for row in rows]


def test_a_valid_row_names_the_holder_the_document_and_the_data_date(
    client: FlaskClient, rows: list[list[str]]
) -> None:
    answered = csv_rows(checked(client, csv_file(rows[:1])))
    header, (row,) = answered[0], answered[1:]
    fields = dict(zip(header, row, strict=True))
    holder = next(value for name, value in fields.items() if "Holder" in name)
    as_of = next(value for name, value in fields.items() if "Gregorian" in name)
    jalali = next(value for name, value in fields.items() if "Solar Hijri" in name)
    assert holder and as_of == "2026-11-23" and jalali == "۱۴۰۵/۰۹/۰۲"


def test_a_revoked_row_says_why(client: FlaskClient, rows: list[list[str]]) -> None:
    (row,) = csv_rows(checked(client, csv_file(rows[1:2])))[1:]
    assert "revoked" in row[-4].lower() or "revoked" in row[-3].lower()


def test_a_national_id_that_does_not_match_is_never_reported_valid(client: FlaskClient, synced: DemoCodes) -> None:
    other_person = "0084575948"
    answered = csv_rows(checked(client, csv_file([["x", synced.valid, other_person, ""]])))
    status = answered[1][STATUS_EN]
    assert status != "Valid" and "someone else" in status


def test_a_matching_national_id_is_valid(client: FlaskClient, synced: DemoCodes) -> None:
    answered = csv_rows(checked(client, csv_file([["x", synced.valid, synced.valid_national_id, ""]])))
    assert answered[1][STATUS_EN] == "Valid"


def test_progress_counts_every_row_by_what_it_means(client: FlaskClient, rows: list[list[str]]) -> None:
    progress = wait_until_done(client, job_url(upload(client, csv_file(rows))))
    assert (progress["done"], progress["total"]) == (6, 6)
    assert progress["counts"] == {
        "valid": 1,
        "mismatch": 0,
        "revoked": 1,
        "superseded": 1,
        "not_found": 1,
        "invalid": 1,
        "unchecked": 1,
    }


def test_the_audit_log_gets_each_checked_row_on_the_desk_channel(
    client: FlaskClient, rows: list[list[str]], box: DataDir
) -> None:
    checked(client, csv_file(rows))
    with AuditLog.open(box) as audit:
        out = io.StringIO()
        audit.export_csv(out)
    channels = [row["channel"] for row in csv.DictReader(io.StringIO(out.getvalue()))]
    assert channels == ["desk"] * 5  # the number cell was not checked, so not audited


# --- choosing the columns ------------------------------------------------------------------------


def test_an_ambiguous_file_shows_its_first_rows_and_waits_for_the_officers_choice(
    client: FlaskClient, synced: DemoCodes
) -> None:
    data = csv_file([[synced.revoked, synced.valid]], header=["شماره قدیم", "شماره جدید"])
    url = job_url(upload(client, data))
    page = client.get(url).get_data(as_text=True)
    assert client.get(f"{url}/progress").get_json()["state"] == "choose"
    assert "شماره قدیم" in page and synced.valid in page
    client.post(f"{url}/columns", data={"code_column": "1", "csrf_token": csrf_token(page)})
    progress = wait_until_done(client, url)
    (_, row) = csv_rows(client.get(progress["download"]))
    assert row[2 + 1] == "Valid"  # the two columns of the file, status (Persian), status (English)


def test_a_column_that_does_not_exist_is_refused_on_the_page(client: FlaskClient, synced: DemoCodes) -> None:
    url = job_url(upload(client, csv_file([[synced.revoked, synced.valid]], header=["a", "b"])))
    token = csrf_token(client.get(url).get_data(as_text=True))
    response = client.post(f"{url}/columns", data={"code_column": "9", "csrf_token": token})
    assert response.status_code == 422
    assert "no such column" in response.get_data(as_text=True)


# --- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name", "english", "persian"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "photo.png", "not a CSV file", "نه CSV است"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "old.xls", "Excel 97", "قالب قدیمی اکسل"),
        (b"", "empty.csv", "The file is empty", "فایل خالی است"),
    ],
    ids=["image", "xls", "empty"],
)
def test_a_bad_file_is_a_clear_error_in_both_languages(
    client: FlaskClient, data: bytes, name: str, english: str, persian: str
) -> None:
    response = upload(client, data, name)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert english in page and persian in page
    assert 'id="desk-file"' in page  # the form again, to try another file


def test_an_upload_without_a_file_is_a_clear_error(client: FlaskClient) -> None:
    token = csrf_token(client.get("/desk").get_data(as_text=True))
    response = client.post("/desk/jobs", data={"csrf_token": token}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "Choose a CSV or Excel" in response.get_data(as_text=True)


def test_an_upload_needs_its_csrf_token(client: FlaskClient, rows: list[list[str]]) -> None:
    client.get("/desk")
    response = client.post(
        "/desk/jobs", data={"file": (io.BytesIO(csv_file(rows)), "a.csv")}, content_type="multipart/form-data"
    )
    assert response.status_code == 400


def test_a_file_over_the_row_limit_fails_with_a_reason_in_both_languages(
    make_app: Callable[..., Flask], synced: DemoCodes, rows: list[list[str]]
) -> None:
    client = make_app(bulk_max_rows=3).test_client()
    progress = wait_until_done(client, job_url(upload(client, csv_file(rows))))
    assert progress["state"] == "failed"
    assert "more than 3 rows" in progress["error"]["message"] and "۳" in progress["error"]["message_fa"]


def test_a_keys_only_box_keeps_the_desk_from_anonymous_visitors(
    make_app: Callable[..., Flask], synced: DemoCodes
) -> None:
    client = make_app(open_verification=False).test_client()
    assert client.get("/desk").status_code == 401


def test_one_client_may_hold_only_a_few_jobs_at_once(client: FlaskClient, synced: DemoCodes) -> None:
    ambiguous = csv_file([[synced.revoked, synced.valid]], header=["a", "b"])
    answers = [upload(client, ambiguous).status_code for _ in range(3)]
    assert answers == [303, 303, 503]


# --- forgetting --------------------------------------------------------------------------------------


def test_the_results_are_gone_once_downloaded(client: FlaskClient, rows: list[list[str]]) -> None:
    url = job_url(upload(client, csv_file(rows)))
    progress = wait_until_done(client, url)
    assert client.get(progress["download"]).status_code == 200
    assert client.get(progress["download"]).status_code == 404
    assert client.get(f"{url}/progress").status_code == 404
    assert client.get(url).status_code == 404


def test_a_job_nobody_looks_at_is_forgotten(
    client: FlaskClient, rows: list[list[str]], simulator: FeedSimulator
) -> None:
    url = job_url(upload(client, csv_file(rows)))
    wait_until_done(client, url)
    simulator.advance(timedelta(minutes=6))
    assert client.get(f"{url}/progress").status_code == 404


def test_another_client_cannot_follow_a_job(app: Flask, rows: list[list[str]]) -> None:
    url = job_url(upload(app.test_client(), csv_file(rows)))
    stranger = app.test_client()
    stranger.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert stranger.get(f"{url}/progress").status_code == 404


def test_results_cannot_be_downloaded_before_they_are_ready(client: FlaskClient, synced: DemoCodes) -> None:
    url = job_url(upload(client, csv_file([[synced.revoked, synced.valid]], header=["a", "b"])))
    assert client.get(f"{url}/download").status_code == 409


# --- privacy -------------------------------------------------------------------------------------------


def test_nothing_is_written_to_the_temp_dir_or_the_data_dir_in_the_clear(
    client: FlaskClient,
    rows: list[list[str]],
    synced: DemoCodes,
    box: DataDir,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no usable temporary directory, a spooled upload or openpyxl's temporary file would fail the job."""
    big = [rows[0] + ["x" * 2000]] * 400  # past Werkzeug's 500 KiB in-memory limit for uploads
    csv_data, xlsx_data = csv_file(big, header=[*HEADER, "long"]), xlsx_file(rows)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-temporary-files-here"))
    csv_answer, xlsx_answer = checked(client, csv_data), checked(client, xlsx_data, "a.xlsx")
    assert len(csv_rows(csv_answer)) == 401 and len(xlsx_rows(xlsx_answer)) == 7
    secrets = [synced.valid.encode(), "مریم احمدی".encode(), "مریم احمدی".encode("utf-16-le")]
    for path in box.path.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not [secret for secret in secrets if secret in content], path


def test_no_name_code_or_national_id_reaches_the_log(
    client: FlaskClient, synced: DemoCodes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    checked(client, csv_file([["مریم احمدی", synced.valid, synced.valid_national_id, ""]]))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "desk job" in logged
    for secret in ("مریم احمدی", synced.valid, synced.valid_national_id):
        assert secret not in logged


def test_a_file_over_what_the_officer_may_check_this_hour_fails_with_a_reason_in_both_languages(
    make_app: Callable[..., Flask], synced: DemoCodes, rows: list[list[str]]
) -> None:
    client = make_app(anonymous_file_rate_limit=f"{len(rows) + 1} per hour").test_client()
    assert wait_until_done(client, job_url(upload(client, csv_file(rows))))["state"] == "done"
    progress = wait_until_done(client, job_url(upload(client, csv_file(rows))))
    assert progress["state"] == "failed"
    assert "try again later" in progress["error"]["message"] and progress["error"]["message_fa"]
