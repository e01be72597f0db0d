"""Verifications leave a chained audit trail without codes, and show in the Prometheus metrics."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from click.testing import CliRunner
from flask.testing import FlaskClient

from appliance.audit import AuditLog
from appliance.datadir import DataDir
from sehat.cli import cli
from tests.conftest import DemoCodes
from tests.support.web import PASSWORD, log_in


def test_n_verifications_leave_n_chained_entries_without_the_codes(
    client: FlaskClient, box: DataDir, synced: DemoCodes
) -> None:
    codes = [synced.valid, synced.revoked, synced.superseded, "1" * 20, "not a code"]
    for code in codes:
        client.post("/api/v1/verify", json={"code": code, "national_id": synced.valid_national_id})
    client.get(f"/api/v1/verify/{synced.valid}")
    with AuditLog.open(box) as audit:
        check = audit.verify()
        out = io.StringIO()
        audit.export_csv(out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert check.ok and check.checked == 6
    assert [row["status"] for row in rows] == ["valid", "revoked", "superseded", "not_found", "invalid_format", "valid"]
    assert {row["channel"] for row in rows} == {"api"}
    assert all(row["client"] == "127.0.0.1" for row in rows)
    exported = out.getvalue()
    for secret in (*codes[:4], synced.valid_national_id):
        assert secret not in exported
    assert (box.path / "audit.db").exists() and synced.valid.encode() not in (box.path / "audit.db").read_bytes()


def test_an_edited_audit_row_is_named_by_audit_verify(client: FlaskClient, box: DataDir, synced: DemoCodes) -> None:
    for _ in range(3):
        client.post("/api/v1/verify", json={"code": synced.valid})
    with AuditLog.open(box) as audit:
        audit.connection.execute("UPDATE entries SET status = 'revoked' WHERE id = 2")
    result = CliRunner().invoke(cli, ["appliance", "audit", "verify", str(box.path)])
    assert result.exit_code == 1
    assert "entry 2" in result.output


def test_the_kiosk_bulk_and_key_channels_are_told_apart(
    client: FlaskClient,
    box: DataDir,
    synced: DemoCodes,
    operator: str,
) -> None:
    page = client.get("/").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/", data={"code": synced.valid, "csrf_token": token})
    client.post("/api/v1/verify/bulk", data=f"code\n{synced.valid}\n{synced.revoked}\n".encode())
    log_in(client, operator, PASSWORD)
    client.post("/api/v1/verify", json={"code": synced.valid})
    with AuditLog.open(box) as audit:
        out = io.StringIO()
        audit.export_csv(out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(row["channel"], row["actor"]) for row in rows] == [
        ("kiosk", ""),
        ("bulk", ""),
        ("bulk", ""),
        ("admin", "operator:admin"),  # the login itself
        ("api", "operator:admin"),
    ]


def test_an_operator_exports_the_audit_log_as_csv(
    client: FlaskClient,
    synced: DemoCodes,
    operator: str,
) -> None:
    client.post("/api/v1/verify", json={"code": synced.valid})
    log_in(client, operator, PASSWORD)
    response = client.get("/admin/audit.csv")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert rows[0]["status"] == "valid"
    assert "intact" in client.get("/admin/audit/verify?lang=en").get_data(as_text=True)


def test_metrics_count_verifications_and_show_replica_freshness(client: FlaskClient, synced: DemoCodes) -> None:
    client.post("/api/v1/verify", json={"code": synced.valid})
    client.post("/api/v1/verify", json={"code": synced.revoked})
    client.post("/api/v1/verify/bulk", data=f"code\n{synced.valid}\n".encode())
    text = client.get("/metrics").get_data(as_text=True)
    assert 'sehat_verifications_total{channel="api",status="valid"} 1.0' in text
    assert 'sehat_verifications_total{channel="api",status="revoked"} 1.0' in text
    assert 'sehat_verifications_total{channel="bulk",status="valid"} 1.0' in text
    assert 'sehat_verification_seconds_count{channel="api"} 2.0' in text
    assert 'sehat_replica_seq{issuer="msrt"} 34.0' in text
    assert 'sehat_replica_stale{issuer="msrt"} 0.0' in text
    assert 'sehat_sync_total{issuer="msrt",outcome="updated"} 1.0' in text
    assert "sehat_replica_age_seconds" in text


def test_the_cli_verification_is_audited_as_the_cli_channel(box: DataDir, synced: DemoCodes, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["verify", str(box.path), synced.revoked])
    assert result.exit_code == 4
    assert result.output.startswith("revoked: Revoked")
    with AuditLog.open(box) as audit:
        out = io.StringIO()
        audit.export_csv(out)
    (row,) = csv.DictReader(io.StringIO(out.getvalue()))
    assert (row["channel"], row["status"]) == ("cli", "revoked")


def test_the_served_box_applies_the_audit_retention_behind_a_checkpoint(box: DataDir, synced: DemoCodes) -> None:
    import threading
    from datetime import UTC, datetime, timedelta

    from appliance.audit import AuditEntry
    from appliance.cli import _prune_audit_daily
    from appliance.config import ApplianceConfig

    old = datetime.now(UTC) - timedelta(days=400)
    entry = AuditEntry(at=old, channel="api", client="127.0.0.1", actor=None, issuer=None, lookup_id=None,
                       status="invalid_format")  # fmt: skip
    with AuditLog.open(box, create=True) as audit:
        audit.append([entry, entry])
        audit.append([AuditEntry(**{**entry.__dict__, "at": datetime.now(UTC)})])
    stop = threading.Event()
    stop.set()
    _prune_audit_daily(ApplianceConfig(datadir=box.path, audit_retention_days=365), stop)
    with AuditLog.open(box) as audit:
        assert audit.count() == 1
        assert audit.verify().ok
