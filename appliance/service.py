"""Verification as the web channels perform it: verify, audit, count — the same for every route."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app, g, request

from appliance.audit import AuditEntry
from appliance.metrics import Metrics
from appliance.scanning.limits import ScanLimits
from appliance.store import app_config, stores
from appliance.verification import Outcome, Verifier
from verifier.errors import InputError
from verifier.normalize import holds_code
from verifier.verdict import verdict_invalid_format
from verifier.verdict_text import NO_CODE_MESSAGE, summary


def now() -> datetime:
    """The app's clock (the real one, or a test's)."""
    clock = current_app.config["SEHAT_CLOCK"]
    moment: datetime = clock()
    return moment


def metrics() -> Metrics:
    found: Metrics = current_app.extensions["sehat_metrics"]
    return found


def actor() -> str | None:
    """Who asked: an API key, a logged-in operator, or nobody (anonymous LAN use)."""
    key = g.get("api_key")
    if key is not None:
        return f"key:{key.key_id}"
    operator = g.get("operator")
    return f"operator:{operator}" if operator else None


def _entry(outcome: Outcome, channel: str) -> AuditEntry:
    return AuditEntry(
        at=outcome.verdict.checked_at,
        channel=channel,
        client=request.remote_addr or "unknown",
        actor=actor(),
        issuer=outcome.issuer,
        lookup_id=outcome.lookup_id,
        status=outcome.verdict.status.value,
    )


def verify_one(raw_code: str, national_id: str | None, channel: str) -> Outcome:
    """Verify one code for the current request, audit it and count it."""
    started = time.perf_counter()
    outcome = Verifier(stores().replica, current_app.config["SEHAT_CLOCK"]).verify(raw_code, national_id)
    stores().audit.append([_entry(outcome, channel)])
    _count(outcome, channel, time.perf_counter() - started)
    return outcome


def verify_many(rows: Iterable[tuple[int, str, str | None]], channel: str) -> Iterator[tuple[int, Outcome]]:
    """Verify a stream of (line, code, national ID), auditing in batches of ``bulk_audit_batch``."""
    verifier = Verifier(stores().replica, current_app.config["SEHAT_CLOCK"])
    pending: list[AuditEntry] = []
    batch = app_config().bulk_audit_batch
    try:
        for line, raw_code, national_id in rows:
            started = time.perf_counter()
            try:
                outcome = verifier.verify(raw_code, national_id)
            except InputError as error:  # a bad national ID fails its row, not the whole file
                outcome = Outcome(verdict_invalid_format(error, now()), None, None)
            _count(outcome, channel, time.perf_counter() - started)
            pending.append(_entry(outcome, channel))
            if len(pending) >= batch:
                stores().audit.append(pending)
                pending = []
            yield line, outcome
    finally:
        if pending:
            stores().audit.append(pending)


def _count(outcome: Outcome, channel: str, seconds: float) -> None:
    measured = metrics()
    measured.verifications.labels(status=outcome.verdict.status.value, channel=channel).inc()
    measured.latency.labels(channel=channel).observe(seconds)


def verdict_document(outcome: Outcome) -> dict[str, Any]:
    """The contract's verdict JSON, with a human summary in both languages."""
    body = outcome.verdict.to_dict()
    body["summary"] = summary(outcome.verdict)
    return body


@dataclass(frozen=True)
class ScanResult:
    """One QR found in a scanned document: its raw text, and the verdict if it holds a code."""

    raw: str
    outcome: Outcome | None  # None: the QR holds no authenticity code — not "invalid", just not ours


def verify_scanned(data: bytes, channel: str) -> list[ScanResult]:
    """Find every QR in an uploaded photo or PDF and verify each that holds a code.

    Raises:
        ScanError: the file cannot be read, is too large, or holds no QR at all.
    """
    from appliance.scanning.decoding import scan_document  # the imaging stack loads on first scan

    texts = scan_document(data, ScanLimits.from_config(app_config()))
    return [ScanResult(text, verify_one(text, None, channel) if holds_code(text) else None) for text in texts]


def scan_document_json(results: list[ScanResult]) -> dict[str, Any]:
    """The contract's ``{"results": [{"raw", "verdict"}]}``, with a bilingual note for QRs that hold no code."""
    rows: list[dict[str, Any]] = []
    for result in results:
        row: dict[str, Any] = {"raw": result.raw, "verdict": None}
        if result.outcome is None:
            row["message"] = NO_CODE_MESSAGE
        else:
            row["verdict"] = verdict_document(result.outcome)
        rows.append(row)
    return {"results": rows}
