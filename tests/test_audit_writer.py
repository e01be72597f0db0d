"""Group commit: concurrent appends share transactions, yet each returns only once its entry is durable."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from flask import Flask

from appliance.audit import AUDIT_FILE, AuditEntry, AuditLog
from appliance.audit_writer import AuditWriteError, AuditWriter
from appliance.datadir import DataDir
from appliance.store import EXTENSION
from storage.database import open_store
from storage.keyfile import create_key_file
from tests.conftest import DemoCodes
from tests.test_audit import make_entry


@pytest.fixture
def datadir(tmp_path: Path) -> DataDir:
    create_key_file(tmp_path / "replica.key")
    return DataDir(tmp_path)


@pytest.fixture
def writer(datadir: DataDir) -> Iterator[AuditWriter]:
    audit_writer = AuditWriter(AuditLog.open(datadir, create=True))
    yield audit_writer
    audit_writer.close()


def reopened(datadir: DataDir) -> AuditLog:
    """The log as another connection sees it: only what was committed."""
    return AuditLog.open(datadir)


def clients_in_log(datadir: DataDir) -> list[str]:
    connection = open_store(datadir.path / AUDIT_FILE, datadir.read_key())
    try:
        return [row[0] for row in connection.execute("SELECT client FROM entries ORDER BY id")]
    finally:
        connection.close()


@contextmanager
def write_lock_held(datadir: DataDir) -> Iterator[None]:
    """Another connection holds the log's write lock, so the writer's next commit waits and callers queue up."""
    connection = open_store(datadir.path / AUDIT_FILE, datadir.read_key())
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.002)


def writer_blocked(writer: AuditWriter, callers: Callers, name: str) -> None:
    """Start one caller whose entry the writer takes alone and then waits with for the held write lock."""
    callers.start(make_entry(client=name))
    wait_until(lambda: writer.pending == 0)
    time.sleep(0.05)  # from taking the entry to waiting on the lock is far quicker than this


class Callers:
    """Threads that each append one entry through the writer, keeping what each one raised."""

    def __init__(self, writer: AuditWriter) -> None:
        self.writer = writer
        self.threads: list[threading.Thread] = []
        self.errors: dict[str, BaseException | None] = {}

    def start(self, *entries: AuditEntry) -> None:
        for entry in entries:
            thread = threading.Thread(target=self._append, args=(entry,))
            self.threads.append(thread)
            thread.start()

    def _append(self, entry: AuditEntry) -> None:
        try:
            self.writer.append([entry])
            self.errors[entry.client] = None
        except BaseException as error:
            self.errors[entry.client] = error

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=30)
            assert not thread.is_alive()


def test_concurrent_appends_form_one_intact_chain_with_every_entry_once(writer: AuditWriter, datadir: DataDir) -> None:
    def append_twenty_five(worker: int) -> None:
        for i in range(25):
            writer.append([make_entry(client=f"{worker}-{i}")])

    threads = [threading.Thread(target=append_twenty_five, args=(worker,)) for worker in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with reopened(datadir) as log:
        check = log.verify()
    assert check.ok and check.checked == 400
    assert sorted(clients_in_log(datadir)) == sorted(f"{worker}-{i}" for worker in range(16) for i in range(25))


def test_entries_from_concurrent_callers_share_commits(writer: AuditWriter, datadir: DataDir) -> None:
    callers = Callers(writer)
    with write_lock_held(datadir):
        writer_blocked(writer, callers, "first")
        callers.start(*(make_entry(client=f"caller-{n}") for n in range(19)))
        wait_until(lambda: writer.pending == 19)
    callers.join()
    assert writer.counts.entries == 20
    assert writer.counts.commits == 2
    assert set(callers.errors.values()) == {None}


def test_append_returns_only_once_its_entry_is_committed(writer: AuditWriter, datadir: DataDir) -> None:
    seen: dict[str, bool] = {}

    def append_and_look(name: str) -> None:
        writer.append([make_entry(client=name)])
        seen[name] = name in clients_in_log(datadir)  # a fresh connection sees only what is committed

    threads = [threading.Thread(target=append_and_look, args=(f"caller-{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {f"caller-{n}": True for n in range(8)}


def test_a_failed_commit_fails_every_caller_in_its_batch_and_writes_none_of_it(
    writer: AuditWriter, datadir: DataDir
) -> None:
    # A write the database refuses midway through the batch, after the rows before it were inserted,
    # as a full disk would.
    connection = open_store(datadir.path / AUDIT_FILE, datadir.read_key())
    connection.execute(
        "CREATE TRIGGER disk_full BEFORE INSERT ON entries WHEN NEW.client = 'refused' "
        "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
    )
    connection.close()
    callers = Callers(writer)
    with write_lock_held(datadir):
        writer_blocked(writer, callers, "alone")
        callers.start(make_entry(client="before"), make_entry(client="refused"), make_entry(client="after"))
        wait_until(lambda: writer.pending == 3)
    callers.join()
    assert callers.errors["alone"] is None
    for name in ("before", "refused", "after"):
        assert isinstance(callers.errors[name], AuditWriteError)
    assert clients_in_log(datadir) == ["alone"]
    writer.append([make_entry(client="later")])  # the writer goes on after a failed batch
    with reopened(datadir) as log:
        assert log.verify().ok and log.verify().checked == 2


def test_close_writes_what_is_queued_before_stopping(writer: AuditWriter, datadir: DataDir) -> None:
    callers = Callers(writer)
    closing = threading.Thread(target=writer.close)
    with write_lock_held(datadir):
        writer_blocked(writer, callers, "first")
        callers.start(*(make_entry(client=f"caller-{n}") for n in range(9)))
        wait_until(lambda: writer.pending == 9)
        closing.start()
        wait_until(lambda: writer.pending == 10)  # close queued its stop marker behind the entries
    closing.join(timeout=30)
    callers.join()
    assert set(callers.errors.values()) == {None}
    with reopened(datadir) as log:
        assert log.verify().ok and log.verify().checked == 10


def test_append_after_close_is_refused(writer: AuditWriter) -> None:
    writer.close()
    with pytest.raises(AuditWriteError):
        writer.append([make_entry()])


def test_a_full_queue_makes_callers_wait_instead_of_growing(datadir: DataDir) -> None:
    writer = AuditWriter(AuditLog.open(datadir, create=True), queue_bound=2)
    callers = Callers(writer)
    try:
        with write_lock_held(datadir):
            writer_blocked(writer, callers, "first")
            callers.start(*(make_entry(client=f"caller-{n}") for n in range(5)))
            wait_until(lambda: writer.pending == 2)
            time.sleep(0.05)  # the other three are held at the door, not queued
            assert writer.pending == 2
        callers.join()
    finally:
        writer.close()
    assert set(callers.errors.values()) == {None}
    assert len(clients_in_log(datadir)) == 6


def test_a_log_given_the_writer_appends_through_it(writer: AuditWriter, datadir: DataDir) -> None:
    with AuditLog.open(datadir, writer=writer) as log:
        log.append([make_entry(), make_entry()])
    assert writer.counts.commits == 1 and writer.counts.entries == 2


def test_concurrent_verifications_over_http_are_each_audited_once_in_shared_commits(
    app: Flask, live_box: str, box: DataDir, synced: DemoCodes
) -> None:
    def verify_five(_: int) -> list[int]:
        with requests.Session() as session:
            return [
                session.post(f"{live_box}/api/v1/verify", json={"code": synced.valid}, timeout=30).status_code
                for _ in range(5)
            ]

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = [status for answers in pool.map(verify_five, range(16)) for status in answers]
    assert statuses == [200] * 80
    with AuditLog.open(box) as log:
        check = log.verify()
    assert check.ok and check.checked == 80
    counts = app.extensions[EXTENSION].writer.counts
    assert counts.entries == 80 and counts.commits < 80
