"""The kiosk page: scan or type a code, read the verdict, next person — no mouse, no login per scan.

Every answer is the whole page (so it works without JavaScript); the page's script asks
for the verdict fragment alone (``X-Sehat-Fragment``) and swaps it in place, so a USB
scanner's next code replaces the verdict at once while the field keeps focus.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from appliance.receipts import issue_receipt
from appliance.scanning.errors import ScanError
from appliance.security import limiter, require_verifier_access, verification_limit
from appliance.service import ScanResult, now, verify_one, verify_scanned
from appliance.store import app_config, stores
from appliance.uploads import read_upload
from appliance.verification import Outcome, replica_freshness
from verifier.errors import InputError
from verifier.normalize import annotate_input
from verifier.receipt import can_receipt
from verifier.records import DOCUMENT_TYPE_NAMES_EN, DOCUMENT_TYPE_NAMES_FA
from verifier.verdict import Finding, verdict_invalid_format

kiosk = Blueprint("kiosk", __name__)
FRAGMENT_HEADER = "X-Sehat-Fragment"


def _page(results: list[ScanResult] | None = None, **context: Any) -> str:
    """The kiosk page (or, for the page's script, the verdict fragment alone)."""
    config = app_config()
    values: dict[str, Any] = {
        "results": results or [],
        "freshness": replica_freshness(stores().replica, now()),
        "now": now(),
        "clear_seconds": config.kiosk_clear_seconds,
        "typed": "",
        "national_id": "",
        "scan_error": None,
        "type_names": {"fa": DOCUMENT_TYPE_NAMES_FA, "en": DOCUMENT_TYPE_NAMES_EN},
        "Finding": Finding,
        "annotate_input": annotate_input,
    }
    values.update(context)
    values["receipts"] = [
        issue_receipt(result.outcome.verdict)
        if result.outcome is not None and can_receipt(result.outcome.verdict)
        else None
        for result in values["results"]
    ]
    template = "_verdicts.html" if request.headers.get(FRAGMENT_HEADER) else "kiosk.html"
    return render_template(template, **values)


@kiosk.get("/")
@require_verifier_access
def form() -> str:
    return _page()


@kiosk.post("/")
@limiter.limit(verification_limit)
@require_verifier_access
def check() -> str:
    raw = request.form.get("code", "")
    national_id = request.form.get("national_id", "").strip()
    channel = "scan" if request.form.get("source") == "camera" else "kiosk"
    try:
        outcome = verify_one(raw, national_id or None, channel)
    except InputError as error:  # a national ID that is not one: say so, keep what was typed
        outcome = Outcome(verdict_invalid_format(error, now()), None, None)
    # A format error keeps the text for correction; anything else clears the field for the next person.
    keep = outcome.verdict.finding is Finding.INVALID_FORMAT
    return _page(
        [ScanResult(raw, outcome)],
        typed=raw if keep else "",
        national_id=national_id if keep else "",
        echo=raw,
    )


@kiosk.post("/scan")
@limiter.limit(verification_limit)
@require_verifier_access
def scan() -> str:
    try:
        results = verify_scanned(read_upload("image"), "scan")
    except ScanError as error:
        return _page(scan_error=error)
    return _page(results, scanned=True)
