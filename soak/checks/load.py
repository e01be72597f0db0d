"""1. Load with change: many clients verify while a delta is synced and the audit log exported.

Every answer must be a 200 with a whole verdict, and every verdict consistent with a seq
the replica held at that moment: the verdict carries ``replica.seq``, and the registry
says at which seq each code changed, so a code revoked at seq S may be ``valid`` only
with ``replica.seq < S`` and ``revoked`` only with ``replica.seq >= S`` (likewise a code
added at S: ``not_found`` before, ``valid`` from S on).
"""

from __future__ import annotations

import csv
import io
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from appliance.datadir import DataDir
from soak.box import OPERATOR, OPERATOR_PASSWORD, feed, new_box, publish, serving, sync
from soak.client import HttpClient, verdict_problem
from soak.result import CheckResult, percentile
from soak.settings import SoakSettings
from tests.support.simulator import FeedSimulator

# Rate limits out of the way: this check measures throughput under change, not the limiter.
LOAD_SETTINGS = {"anonymous_rate_limit": "100000000 per minute", "keyed_rate_limit": "100000000 per minute"}


@dataclass(frozen=True)
class Expectation:
    """What a code must answer: ``before`` while replica.seq < ``seq``, ``after`` from then on."""

    before: str
    after: str
    seq: int

    def problem(self, status: str, replica_seq: int) -> str | None:
        expected = self.before if replica_seq < self.seq else self.after
        if status != expected:
            return f"answered {status} at replica.seq {replica_seq}; expected {expected} (change at seq {self.seq})"
        return None


def prepare(simulator: FeedSimulator, settings: SoakSettings) -> tuple[dict[str, Expectation], int]:
    """Records on the box before the run, and the delta made in the registry but not yet published.

    Returns every code's expectation and the seq the box holds before the delta.
    """
    initial = simulator.add_records(settings.load_records)
    already_revoked = simulator.revoke(max(1, settings.load_records // 20))
    publish(simulator)
    start_seq = simulator.digest()[0]
    expectations: dict[str, Expectation] = {}
    for code in already_revoked:
        expectations[code] = Expectation("revoked", "revoked", 0)
    for code in initial:
        expectations.setdefault(code, Expectation("valid", "valid", 0))
    # The delta: made now, published mid-run. Unpublished, the box cannot see it.
    for code in simulator.revoke(settings.load_revocations):
        expectations[code] = Expectation("valid", "revoked", simulator.registry.lookup(code).seq)
    for code in simulator.add_records(settings.load_new_records):
        expectations[code] = Expectation("not_found", "valid", simulator.registry.lookup(code).seq)
    taken = set(expectations)
    for _ in range(max(50, settings.load_records // 10)):
        code = simulator.registry.issue_code(taken)
        taken.add(code)
        expectations[code] = Expectation("not_found", "not_found", 0)
    return expectations, start_seq


def run(settings: SoakSettings, workdir: Path) -> CheckResult:
    result = CheckResult("load_with_change")
    simulator = feed(workdir / "load")
    try:
        datadir = new_box(workdir / "load" / "box", simulator)
        expectations, start_seq = prepare(simulator, settings)
        code, _, output = sync(datadir)
        if code != 0:
            result.fail(f"the first sync failed: {output}")
            return result
        with serving(datadir, workdir / "load" / "serve.log", LOAD_SETTINGS) as base_url:
            _drive(base_url, simulator, datadir, expectations, start_seq, settings, result)
    finally:
        simulator.close()
    return result


def _drive(
    base_url: str,
    simulator: FeedSimulator,
    datadir: DataDir,
    expectations: dict[str, Expectation],
    start_seq: int,
    settings: SoakSettings,
    result: CheckResult,
) -> None:
    lock = threading.Lock()
    latencies: list[float] = []
    stop = threading.Event()
    codes = list(expectations)
    end_seq = simulator.digest()[0]

    def client(index: int) -> None:
        rng = random.Random(index)
        http = HttpClient(base_url, source=f"127.0.1.{index % 250 + 1}")
        mine: list[float] = []
        while not stop.is_set():
            code = rng.choice(codes)
            try:
                # Half by POST, half by link, as integrators and scanned QR links ask.
                reply = http.verify(code) if rng.random() < 0.5 else http.request("GET", f"/api/v1/verify/{code}")
            except OSError as error:
                with lock:
                    result.cases += 1
                    result.fail(f"{code}: connection failed: {error}")
                continue
            mine.append(reply.seconds)
            problem = verdict_problem(reply)
            if problem is None:
                body = reply.json()
                seq = body["replica"]["seq"]
                problem = expectations[code].problem(body["status"], seq)
                if problem is None and not start_seq <= seq <= end_seq:
                    problem = f"replica.seq {seq} outside {start_seq}–{end_seq}"
            with lock:
                result.cases += 1
                if problem is not None:
                    result.fail(f"{code}: {problem}")
        http.close()
        with lock:
            latencies.extend(mine)

    exports: list[str] = []

    def export_once() -> None:
        operator = HttpClient(base_url, source="127.0.0.3", timeout=120)
        try:
            login = operator.log_in(OPERATOR, OPERATOR_PASSWORD)
            reply = operator.request("GET", "/admin/audit.csv")
        except OSError as error:
            exports.append(f"the export failed: {error}")
            operator.close()
            return
        if login.status != 302:
            exports.append(f"the operator's login answered {login.status}")
        elif reply.status != 200 or not reply.body.startswith(b"id,at,channel"):
            exports.append(f"the export answered {reply.status}: {reply.body[:100]!r}")
        else:
            rows = sum(1 for _ in csv.reader(io.StringIO(reply.body.decode("utf-8")))) - 1
            exports.append(f"ok:{rows}")
        operator.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(settings.load_clients)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    time.sleep(settings.load_seconds / 3)
    # Mid-run: publish the delta, sync it while the exports run beside the load.
    publish(simulator)
    exporters = [threading.Thread(target=export_once, daemon=True) for _ in range(settings.load_exports)]
    for exporter in exporters:
        exporter.start()
    sync_code, sync_seconds, sync_output = sync(datadir)
    for exporter in exporters:
        exporter.join(timeout=300)
    time.sleep(max(0.0, settings.load_seconds - (time.monotonic() - started)))
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    if sync_code != 0:
        result.fail(f"the mid-run sync failed: {sync_output}")
    for outcome in exports:
        result.cases += 1
        if not outcome.startswith("ok:"):
            result.fail(outcome)
    with HttpClient(base_url) as status_client:
        final = status_client.request("GET", "/api/v1/status")
    if final.status != 200 or f'"seq":{end_seq}'.encode() not in final.body.replace(b" ", b""):
        result.fail(f"after the sync the box does not report seq {end_seq}: {final.body[:300]!r}")
    elapsed = time.monotonic() - started
    result.worst = (
        f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms (p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
        f"max {max(latencies, default=0) * 1000:.0f} ms; {len(latencies) / elapsed:.0f}/s from "
        f"{settings.load_clients} clients over {elapsed:.0f} s; delta of {settings.load_revocations} revocations + "
        f"{settings.load_new_records} records synced in {sync_seconds:.1f} s; {len(exports)} audit exports)"
    )
