"""Readers verifying codes while a large delta applies see no error and never half of it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from flask import Flask

from appliance.datadir import DataDir
from appliance.replica import Replica
from sync_agent.agent import SyncAgent
from tests.support.simulator import FeedSimulator
from verifier.records import RecordPayload
from verifier.sealing import derive_record_keys, unseal


def test_readers_see_a_large_delta_all_or_nothing(simulator: FeedSimulator, box: DataDir, agent: SyncAgent) -> None:
    simulator.add_records(12_000)
    simulator.publish()
    agent.sync_once()
    simulator.advance(timedelta(minutes=5))
    revoked = simulator.revoke(6_000)  # one segment: one transaction on the box
    simulator.publish()
    sample = revoked[:: len(revoked) // 40]
    keys = [derive_record_keys(code, simulator.issuer, simulator.registry.profile.kdf) for code in sample]

    observed: list[frozenset[str]] = []
    errors: list[BaseException] = []
    syncing = threading.Event()
    first_read = threading.Event()
    done = threading.Event()
    reads_during_sync = 0

    def read_loop() -> None:
        nonlocal reads_during_sync
        with Replica.open(box) as replica:
            while not done.is_set():
                try:
                    replica.refresh()
                    with replica.reading():
                        statuses = []
                        for key in keys:
                            box_bytes = replica.lookup(simulator.issuer, key.lookup_id)
                            assert box_bytes is not None
                            payload = RecordPayload.from_bytes(
                                unseal(box_bytes, key, simulator.issuer), replica.catalogue(simulator.issuer)
                            )
                            statuses.append(payload.status)
                    observed.append(frozenset(statuses))
                    first_read.set()
                    if syncing.is_set():
                        reads_during_sync += 1
                except BaseException as error:  # the test's whole point is to see any of them
                    errors.append(error)
                    return

    readers = [threading.Thread(target=read_loop) for _ in range(2)]
    for reader in readers:
        reader.start()
    assert first_read.wait(timeout=30), "the readers read before the sync starts"
    syncing.set()
    (outcome,) = agent.sync_once()
    syncing.clear()
    done.set()
    for reader in readers:
        reader.join(timeout=30)

    assert outcome.outcome == "updated"
    assert errors == []
    assert reads_during_sync > 0, "readers were not blocked by the sync"
    assert set(observed) <= {frozenset({"valid"}), frozenset({"revoked"})}, "never half a delta"
    assert observed[0] == frozenset({"valid"})
    assert observed[-1] == frozenset({"revoked"})


def test_the_web_app_follows_the_replica_into_a_rebuilt_generation(
    simulator: FeedSimulator, box: DataDir, agent: SyncAgent, make_app: Callable[..., Flask]
) -> None:
    codes = simulator.add_records(20)
    simulator.publish()
    agent.sync_once()
    client = make_app().test_client()
    before = client.post("/api/v1/verify", json={"code": codes[0]}).get_json()
    generation = box.current_generation()
    for name in ("نام یکم", "نام دوم", "نام سوم", "نام چهارم"):  # many changes: the box takes a new snapshot
        for code in codes:
            simulator.registry.correct(code, {"full_name": name}, simulator.now)
    simulator.publish()
    agent.sync_once()
    after = client.post("/api/v1/verify", json={"code": codes[0]}).get_json()
    assert box.current_generation() == generation + 1
    assert before["holder"]["name"] != "نام چهارم"
    assert after["holder"]["name"] == "نام چهارم"
    assert after["replica"]["seq"] == simulator.digest()[0]
