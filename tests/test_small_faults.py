"""Small faults, fixed: deeply nested JSON is a 400 in the error shape, the audit export streams, and
``sehat sync import`` refuses what is not a regular file before it takes the sync lock."""

from __future__ import annotations

import csv
import io
import os
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from appliance.audit import EXPORT_BATCH, AuditEntry, AuditLog
from appliance.datadir import DataDir
from appliance.json_depth import json_depth_exceeds
from registry.publisher import Publisher
from sync_agent.agent import SyncAgent
from tests.conftest import TEST_SYNC_CONFIG, DemoCodes
from tests.support.simulator import FeedSimulator
from tests.support.web import PASSWORD, log_in
from verifier.errors import OperatorError

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


# --- sync import: only a regular file, and never while holding the lock --------------------------


def _not_a_file(kind: str, tmp_path: Path) -> Path:
    """A path of ``kind`` that an operator might pass to ``sehat sync import`` by mistake."""
    path = tmp_path / f"{kind}.sehat"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "socket":
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(path))
        listener.close()  # the socket file stays
    else:
        return Path("/dev/zero")  # a device that would never stop giving bytes
    return path


def test_sync_import_of_a_fifo_ends_at_once_with_a_clear_line(box: DataDir, tmp_path: Path) -> None:
    fifo = _not_a_file("fifo", tmp_path)
    started = time.monotonic()
    # Before the fix, open() waited for a writer forever, holding the sync lock.
    completed = subprocess.run(
        [sys.executable, "-m", "sehat", "sync", "import", str(box.path), str(fifo)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "LANG": "C.UTF-8", "LC_ALL": ""},
    )
    assert completed.returncode == 1
    assert "is a named pipe (FIFO), not a bundle file" in completed.stderr
    assert completed.stderr.count("\n") == 1, "one line, no traceback"
    assert time.monotonic() - started < 20


@pytest.mark.parametrize("kind", ["fifo", "directory", "socket", "device"])
def test_what_is_not_a_regular_file_is_refused_before_the_sync_lock(
    box: DataDir, simulator: FeedSimulator, tmp_path: Path, kind: str
) -> None:
    path = _not_a_file(kind, tmp_path)
    agent = SyncAgent(box, TEST_SYNC_CONFIG, clock=lambda: simulator.now)
    # Another sync is running: the refusal must not even wait for it.
    with box.sync_lock(), pytest.raises(OperatorError) as refused:
        agent.import_bundle(path)
    assert "not a bundle file" in refused.value.message and "بسته" in refused.value.message_fa
    # Nothing was left holding the lock: a genuine bundle imports next.
    simulator.add_records(3)
    bundle = tmp_path / "usb.sehat"
    Publisher(simulator.registry).write_bundle(bundle, simulator.now)
    assert agent.import_bundle(bundle).outcome == "updated"
