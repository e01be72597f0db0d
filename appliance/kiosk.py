"""The kiosk page: type or scan a code, read the verdict in Persian (and English), next person."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from appliance.security import limiter, require_verifier_access, verification_limit
from appliance.service import now, verify_one
from appliance.verification import Outcome
from verifier.errors import InputError
from verifier.records import DOCUMENT_TYPE_NAMES_EN, DOCUMENT_TYPE_NAMES_FA
from verifier.verdict import verdict_invalid_format
from verifier.verdict_text import describe_en, describe_fa, gregorian_date, jalali_date

kiosk = Blueprint("kiosk", __name__)


@kiosk.get("/")
@require_verifier_access
def form() -> str:
    return render_template("kiosk.html")


@kiosk.post("/")
@limiter.limit(verification_limit)
@require_verifier_access
def check() -> str:
    raw = request.form.get("code", "")
    national_id = request.form.get("national_id", "").strip() or None
    try:
        outcome = verify_one(raw, national_id, "kiosk")
    except InputError as error:
        outcome = Outcome(verdict_invalid_format(error, now()), None, None)
    verdict = outcome.verdict
    return render_template(
        "verdict.html",
        verdict=verdict,
        fa=describe_fa(verdict),
        en=describe_en(verdict),
        jalali=jalali_date,
        gregorian=gregorian_date,
        type_fa=DOCUMENT_TYPE_NAMES_FA,
        type_en=DOCUMENT_TYPE_NAMES_EN,
    )
