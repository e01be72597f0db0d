"""How the web app reaches the box's stores: long-lived connections, one set per worker thread.

Each waitress thread keeps its own replica, audit and access connections for the
life of the process (opening SQLCipher per request would cost more than the
lookup), reaches them through ``g``, and ends any open transaction in a teardown.
Before each request the replica notices a rebuilt generation and reopens. Audit
appends from every thread go through one ``AuditWriter`` (group commit), which
``close_stores`` flushes and stops before the connections close.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import Flask, current_app, g

from appliance.access import AccessStore
from appliance.audit import AuditLog
from appliance.audit_writer import AuditWriter
from appliance.config import ApplianceConfig
from appliance.datadir import DataDir
from appliance.replica import Replica

EXTENSION = "sehat_stores"
# Callables run before the stores close: whatever works on its own threads stops first.
BEFORE_CLOSE = "sehat_before_close"


@dataclass
class ThreadStores:
    replica: Replica
    audit: AuditLog
    access: AccessStore

    def close(self) -> None:
        for store in (self.replica, self.audit, self.access):
            store.close()


@dataclass
class StoreRegistry:
    """Every thread's stores for one app, so they can all be closed when the app stops."""

    datadir: DataDir
    writer: AuditWriter
    local: threading.local = field(default_factory=threading.local)
    opened: list[ThreadStores] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def for_this_thread(self) -> ThreadStores:
        stores: ThreadStores | None = getattr(self.local, "stores", None)
        if stores is None:
            stores = ThreadStores(
                replica=Replica.open(self.datadir),
                audit=AuditLog.open(self.datadir, writer=self.writer),
                access=AccessStore.open(self.datadir),
            )
            self.local.stores = stores
            with self.lock:
                self.opened.append(stores)
        return stores

    def close_all(self) -> None:
        self.writer.close()  # pending entries are written before any connection closes
        with self.lock:
            for stores in self.opened:
                stores.close()
            self.opened.clear()


def init_stores(app: Flask, config: ApplianceConfig) -> None:
    datadir = DataDir(config.datadir, config.key_file)
    registry = StoreRegistry(datadir, AuditWriter(AuditLog.open(datadir, create=True)))
    app.extensions[EXTENSION] = registry
    try:
        registry.for_this_thread()  # fail at start, not on the first request, if the key or store is wrong
    except BaseException:
        registry.close_all()
        raise

    @app.teardown_request
    def end_transactions(error: BaseException | None) -> None:
        stores = getattr(registry.local, "stores", None)
        if stores is None:
            return
        for connection in (stores.replica.connection, stores.audit.connection, stores.access.connection):
            if connection.in_transaction:
                connection.execute("ROLLBACK")


def close_stores(app: Flask) -> None:
    """Close every thread's connections (when the server stops, and in tests), after background work stops."""
    for stop in app.extensions.get(BEFORE_CLOSE, []):
        stop()
    app.extensions[EXTENSION].close_all()


def stores() -> ThreadStores:
    if "sehat_stores" not in g:
        thread_stores = current_app.extensions[EXTENSION].for_this_thread()
        thread_stores.replica.refresh()
        g.sehat_stores = thread_stores
    result: ThreadStores = g.sehat_stores
    return result


def app_config() -> ApplianceConfig:
    config: ApplianceConfig = current_app.config["SEHAT"]
    return config
