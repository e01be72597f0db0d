"""Verification as the web channels perform it: verify, audit, count — the same for every route.

No national-ID oracle. ``national_id_match`` answers "is this the holder's national
ID?", and asked often enough about one code it recovers the whole ID. So a national ID
is compared only

- for the kiosk's pages and the HR desk (a person at the box's own pages, reading
  each answer), a logged-in operator, or an API key made with ``--national-id-checks``
  (never for anonymous API or bulk requests), and
- at most ``national_id_checks_per_code`` times per record within
  ``national_id_window_seconds``, counting every client, in the encrypted access
  store (so a restart does not reset it), keyed by the record's lookup id.

Otherwise the verdict still comes back, with ``national_id_match`` null and the
summary saying why (``summary.national_id``: ``not_permitted`` or ``limited``). A
national ID that is not one is still a 422 either way: its format tells nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, g, request

from appliance.audit import AuditEntry
from appliance.metrics import Metrics
from appliance.national_id_notes import NATIONAL_ID_NOTES
from appliance.scanning.limits import ScanLimits
from appliance.store import app_config, stores
from appliance.verification import Outcome, Verifier
from verifier.errors import InputError
from verifier.national_id import normalize_national_id
from verifier.normalize import holds_code
from verifier.verdict import Verdict, verdict_invalid_format
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


# Where a person at the box's own pages asks about the document in front of them.
NATIONAL_ID_CHANNELS = frozenset({"kiosk", "scan", "desk"})


def may_compare_national_id(channel: str) -> bool:
    """Whether the current asker may have a national ID compared at all (the per-code limit comes after)."""
    key = g.get("api_key")
    if key is not None:
        return bool(key.national_id_checks)
    return bool(g.get("operator")) or channel in NATIONAL_ID_CHANNELS


class _NationalIdGate:
    """Decides, per question, whether the verdict may carry the national-ID comparison."""

    def __init__(self, channel: str) -> None:
        config = app_config()
        self.allowed = may_compare_national_id(channel)
        self.limit = config.national_id_checks_per_code
        self.window = timedelta(seconds=config.national_id_window_seconds)

    def verify(self, verifier: Verifier, raw_code: str, national_id: str | None) -> Outcome:
        if not national_id:
            return verifier.verify(raw_code)
        normalize_national_id(national_id)  # not a national ID: a 422 as before, allowed or not
        if not self.allowed:
            outcome = verifier.verify(raw_code)
            return _noted(outcome, outcome.verdict, "not_permitted")
        outcome = verifier.verify(raw_code, national_id)
        verdict = outcome.verdict
        if verdict.holder is None or outcome.lookup_id is None:
            return outcome  # nothing was compared: no record answered
        if stores().access.take_national_id_question(outcome.lookup_id, now(), self.limit, self.window):
            return outcome
        return _noted(outcome, replace(verdict, holder=replace(verdict.holder, national_id_match=None)), "limited")


def _noted(outcome: Outcome, verdict: Verdict, note: str) -> Outcome:
    if verdict.holder is None:  # no record, so no comparison was withheld
        return outcome
    return Outcome(verdict, outcome.issuer, outcome.lookup_id, note)


def verify_one(raw_code: str, national_id: str | None, channel: str) -> Outcome:
    """Verify one code for the current request, audit it and count it."""
    started = time.perf_counter()
    verifier = Verifier(stores().replica, current_app.config["SEHAT_CLOCK"])
    outcome = _NationalIdGate(channel).verify(verifier, raw_code, national_id)
    stores().audit.append([_entry(outcome, channel)])
    _count(outcome, channel, time.perf_counter() - started)
    return outcome


def verify_many(rows: Iterable[tuple[int, str, str | None]], channel: str) -> Iterator[tuple[int, Outcome]]:
    """Verify a stream of (line, code, national ID), auditing in batches of ``bulk_audit_batch``.

    A batch's verdicts are handed on only once the batch is in the audit log, so no answer
    leaves the box unrecorded.
    """
    verifier = Verifier(stores().replica, current_app.config["SEHAT_CLOCK"])
    gate = _NationalIdGate(channel)
    pending: list[AuditEntry] = []
    answered: list[tuple[int, Outcome]] = []
    batch = app_config().bulk_audit_batch
    try:
        for line, raw_code, national_id in rows:
            started = time.perf_counter()
            try:
                outcome = gate.verify(verifier, raw_code, national_id)
            except InputError as error:  # a bad national ID fails its row, not the whole file
                outcome = Outcome(verdict_invalid_format(error, now()), None, None)
            _count(outcome, channel, time.perf_counter() - started)
            pending.append(_entry(outcome, channel))
            answered.append((line, outcome))
            if len(pending) >= batch:
                stores().audit.append(pending)
                pending = []
                yield from answered
                answered = []
        if pending:
            stores().audit.append(pending)
            pending = []
        yield from answered
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
    note = outcome.national_id_note
    if note is not None:
        body["summary"]["national_id"] = note
        for language in ("en", "fa"):
            text = body["summary"][language]
            text["detail"] = f"{text['detail']} {NATIONAL_ID_NOTES[note][language]}"
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
