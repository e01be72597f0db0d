"""Prometheus metrics: verifications by status and channel, latency, replica freshness, sync outcomes.

Each app has its own registry (tests build many apps in one process). Replica and
sync figures are read from the store at scrape time, so they are true even though
the sync agent runs in another process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from appliance.replica import Replica

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)  # seconds


class ReplicaCollector(Collector):
    """Per-issuer replica seq, age, staleness and records, and sync outcomes, read at scrape time."""

    def __init__(self, replica: Callable[[], Replica], clock: Callable[[], datetime]) -> None:
        self.replica = replica
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        replica = self.replica()
        now = self.clock()
        seq = GaugeMetricFamily("sehat_replica_seq", "Sequence number the replica holds", labels=["issuer"])
        records = GaugeMetricFamily("sehat_replica_records", "Records the replica holds", labels=["issuer"])
        age = GaugeMetricFamily(
            "sehat_replica_age_seconds", "Seconds since the head the replica's data is as of", labels=["issuer"]
        )
        stale = GaugeMetricFamily("sehat_replica_stale", "1 when the replica's head has expired", labels=["issuer"])
        for state in replica.issuer_states():
            seq.add_metric([state.issuer], state.seq)
            records.add_metric([state.issuer], state.records)
            if state.as_of is not None:
                age.add_metric([state.issuer], max(0.0, (now - state.as_of).total_seconds()))
            stale.add_metric([state.issuer], 1.0 if state.is_stale(now) else 0.0)
        syncs = CounterMetricFamily("sehat_sync", "Sync attempts by issuer and outcome", labels=["issuer", "outcome"])
        for (issuer, outcome), count in sorted(replica.sync_counts().items()):
            syncs.add_metric([issuer, outcome], count)
        yield from (seq, records, age, stale, syncs)


class Metrics:
    """The app's metrics registry and the instruments the request path updates."""

    def __init__(self, replica: Callable[[], Replica], clock: Callable[[], datetime]) -> None:
        self.registry = CollectorRegistry()
        self.verifications = Counter(
            "sehat_verifications",
            "Verifications by verdict status and channel",
            ["status", "channel"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sehat_verification_seconds",
            "Time to answer one verification",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(ReplicaCollector(replica, clock))
