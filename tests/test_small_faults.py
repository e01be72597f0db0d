"""Small faults, fixed: deeply nested JSON is a 400 in the error shape, and the audit export streams."""

from __future__ import annotations

import csv
import io
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from appliance.audit import EXPORT_BATCH, AuditEntry, AuditLog
from appliance.datadir import DataDir
from appliance.json_depth import json_depth_exceeds
from tests.conftest import DemoCodes
from tests.support.web import PASSWORD, log_in

LOOKUP_ID = "cd" * 16


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("route", ["/api/v1/verify", "/api/v1/receipts/verify"])
@pytest.mark.parametrize("depth", [33, 1_000, 100_000])
def test_deeply_nested_json_is_a_400_in_the_error_shape(client: FlaskClient, route: str, depth: int) -> None:
    body = '{"code": ' + nested(depth) + "}"
    response = client.post(route, data=body, content_type="application/json")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "bad_request" and error["message"] and error["message_fa"]


def test_json_within_the_depth_is_answered(client: FlaskClient, synced: DemoCodes) -> None:
    body = '{"code": "' + synced.valid + '", "extra": ' + nested(30) + "}"
    assert client.post("/api/v1/verify", data=body, content_type="application/json").status_code == 200


def test_the_depth_is_a_setting(make_app: Callable[..., Flask], synced: DemoCodes) -> None:
    client = make_app(json_max_depth=2).test_client()
    body = '{"code": "' + synced.valid + '", "extra": [[]]}'
    assert client.post("/api/v1/verify", data=body, content_type="application/json").status_code == 400


@pytest.mark.parametrize(
    ("text", "deeper"),
    [
        ("[[[]]]", True),
        ("[[]]", False),
        ('{"a": "[[[[[[[["}', False),  # brackets inside a string do not nest
        ('["\\"[[[[[[", []]', False),  # nor after an escaped quote
        ("[[], [], [], [], []]", False),
        ('{"a": {"b": {"c": 1}}}', True),
    ],
)
def test_json_depth_is_measured_outside_strings(text: str, deeper: bool) -> None:
    assert json_depth_exceeds(text, 2) is deeper


def fill_audit(box: DataDir, count: int) -> None:
    start = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    entries = [
        AuditEntry(start + timedelta(milliseconds=i), "api", "10.0.0.9", None, "msrt", LOOKUP_ID, "valid")
        for i in range(count)
    ]
    with AuditLog.open(box, create=True) as audit:
        audit.append(entries)


def test_the_admin_export_streams_every_row(client: FlaskClient, operator: str, box: DataDir) -> None:
    fill_audit(box, 2 * EXPORT_BATCH + 7)
    log_in(client, operator, PASSWORD)
    response = client.get("/admin/audit.csv")
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Disposition"] == "attachment; filename=sehat-audit.csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 2 * EXPORT_BATCH + 7 + 2  # the login and the export itself are audited too
    assert [int(row["id"]) for row in rows] == list(range(1, len(rows) + 1))


def test_the_export_reads_the_log_a_batch_at_a_time(box: DataDir, synced: DemoCodes) -> None:
    """Memory stays flat however long the log: each piece is one batch, and nothing piles up."""
    fill_audit(box, 20 * EXPORT_BATCH)
    with AuditLog.open(box) as audit:
        tracemalloc.start()
        try:
            biggest, total = 0, 0
            for text, rows in audit.csv_batches():
                assert rows <= EXPORT_BATCH
                biggest, total = max(biggest, len(text)), total + rows
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert total == 20 * EXPORT_BATCH
    assert peak < 20 * biggest, f"peak {peak} B for pieces of at most {biggest} B"


def test_the_export_holds_what_was_logged_when_it_began(box: DataDir, synced: DemoCodes) -> None:
    fill_audit(box, EXPORT_BATCH + 1)
    with AuditLog.open(box) as audit:
        pieces = audit.csv_batches()
        next(pieces)  # the header
        fill_audit(box, 5)  # appended while the export runs
        exported = sum(rows for _, rows in pieces)
    assert exported == EXPORT_BATCH + 1
