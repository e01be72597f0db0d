"""Migrations run once, however many openers race to apply them (the web app's threads and the sync agent)."""

from __future__ import annotations

import threading
from pathlib import Path

from storage.database import Connection, Migration, applied_migrations, migrate, open_store
from storage.keyfile import create_key_file

MIGRATIONS = (
    Migration("0001_table", "CREATE TABLE things (id INTEGER PRIMARY KEY)"),
    Migration("0002_column", "ALTER TABLE things ADD COLUMN name TEXT"),
    Migration("0003_rows", lambda connection: connection.execute("INSERT INTO things (name) VALUES ('once')")),
)


def test_racing_openers_apply_each_migration_exactly_once(tmp_path: Path) -> None:
    key = create_key_file(tmp_path / "key")
    open_store(tmp_path / "store.db", key, create=True).close()
    connections: list[Connection] = [open_store(tmp_path / "store.db", key) for _ in range(8)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(connections))

    def opener(connection: Connection) -> None:
        start.wait()
        try:
            migrate(connection, MIGRATIONS)
        except BaseException as error:  # any failure is the test's finding
            errors.append(error)

    threads = [threading.Thread(target=opener, args=(connection,)) for connection in connections]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert applied_migrations(connections[0]) == [migration.name for migration in MIGRATIONS]
    assert connections[0].execute("SELECT count(*) FROM things").fetchone()[0] == 1
    for connection in connections:
        connection.close()


def test_a_store_reports_the_migrations_it_has_applied(tmp_path: Path) -> None:
    connection = open_store(tmp_path / "store.db", create_key_file(tmp_path / "key"), create=True)
    assert migrate(connection, MIGRATIONS[:2]) == ["0001_table", "0002_column"]
    assert migrate(connection, MIGRATIONS) == ["0003_rows"]
    assert applied_migrations(connection) == ["0001_table", "0002_column", "0003_rows"]
    connection.close()
