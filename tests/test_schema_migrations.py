"""Stores written by the released schema (tests/fixtures/schema-2026-11) open with today's code.

The fixture was made once by scripts/make-schema-fixture and is never regenerated: it stands for
every box installed from that release. Opening it runs the current migrations, as an upgrade does.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from appliance import access, audit, replica
from appliance.access import AccessStore
from appliance.audit import AuditLog
from appliance.datadir import DataDir
from appliance.replica import Replica
from appliance.verification import Verifier
from registry import store as registry_store
from registry.registry import Registry
from storage.database import applied_migrations, open_store
from storage.keyfile import read_key_file

FIXTURE = Path(__file__).parent / "fixtures" / "schema-2026-11"
EXPECTED = json.loads((FIXTURE / "codes.json").read_text(encoding="utf-8"))
VERIFY_AT = datetime.fromisoformat(EXPECTED["verify_at"])
# Each store of the fixture, with the key file that opens it and the migrations its module applies.
STORES = {
    "box/access.db": ("box/replica.key", access.MIGRATIONS),
    "box/audit.db": ("box/replica.key", audit.MIGRATIONS),
    "box/replica-000002.db": ("box/replica.key", replica.MIGRATIONS),
    "registry/registry.db": ("registry/keys/store.key", registry_store.MIGRATIONS),
}


@pytest.fixture()
def released(tmp_path: Path) -> Path:
    """A copy of the fixture, with its key files made private again (git keeps no 0600)."""
    copy = tmp_path / "released"
    shutil.copytree(FIXTURE, copy)
    for key in (copy / "box/replica.key", copy / "registry/keys/store.key", copy / "registry/keys/signing.pem"):
        key.chmod(0o600)
    return copy


@pytest.mark.parametrize("store", sorted(STORES))
def test_the_released_stores_record_their_migrations(released: Path, store: str) -> None:
    key_file, migrations = STORES[store]
    connection = open_store(released / store, read_key_file(released / key_file))
    try:
        recorded = applied_migrations(connection)
    finally:
        connection.close()
    assert recorded
    assert recorded == [migration.name for migration in migrations][: len(recorded)]


def test_known_codes_verify_as_released_with_current_code(released: Path) -> None:
    with Replica.open(DataDir(released / "box")) as box:
        verifier = Verifier(box, lambda: VERIFY_AT)
        found = {entry["code"]: verifier.verify(entry["code"]).verdict.status.value for entry in EXPECTED["codes"]}
    assert found == {entry["code"]: entry["status"] for entry in EXPECTED["codes"]}


def test_opening_applies_every_current_migration(released: Path) -> None:
    datadir = DataDir(released / "box")
    with Replica.open(datadir), AuditLog.open(datadir), AccessStore.open(datadir):
        pass
    Registry.open(released / "registry").close()
    for store, (key_file, migrations) in STORES.items():
        connection = open_store(released / store, read_key_file(released / key_file))
        try:
            assert applied_migrations(connection) == [migration.name for migration in migrations], store
        finally:
            connection.close()


def test_the_released_audit_log_and_access_store_still_hold_their_entries(released: Path) -> None:
    datadir = DataDir(released / "box")
    with AuditLog.open(datadir) as log:
        assert log.count() == EXPECTED["audit_entries"]
        assert log.verify().ok
    with AccessStore.open(datadir) as store:
        assert [user.name for user in store.users()] == [EXPECTED["operator"]]
        assert [key.key_id for key in store.keys()] == [EXPECTED["api_key_id"]]  # noqa: SIM118 - not a mapping
