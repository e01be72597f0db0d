"""Receipts on the web: the print view of a signed receipt, and the API that checks one.

The kiosk offers "Print receipt" under each verdict as a form that posts the signed
receipt text here; the page is rendered from the receipt itself, after checking its
signature with this box's key, so what is printed is exactly what was signed. The same
check is open to programs as ``POST /api/v1/receipts/verify``.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, jsonify, render_template, request

from appliance.i18n import current_language
from appliance.receipts import check_box_receipt, current_receipt_key, receipt_qr_data_uri
from appliance.security import csrf, limiter, require_verifier_access, verification_limit
from appliance.web_errors import ApiError
from verifier.errors import ReceiptError
from verifier.receipt import Receipt
from verifier.records import DOCUMENT_TYPE_NAMES_EN, DOCUMENT_TYPE_NAMES_FA
from verifier.verdict import Status
from verifier.verdict_text import gregorian_date, jalali_date, persian_digits

receipts = Blueprint("receipts", __name__)


def _checked(text: str) -> Receipt:
    """The receipt, checked against this box's key; a 422 in both languages when it is not good."""
    try:
        return check_box_receipt(text)
    except ReceiptError as error:
        raise ApiError(422, error.code, error.message, error.message_fa) from error


@receipts.post("/receipt")
@limiter.limit(verification_limit)
@require_verifier_access
def print_view() -> str:
    text = request.form.get("receipt", "")
    receipt = _checked(text)
    compact = "".join(text.split())
    return render_template(
        "receipt.html",
        receipt=receipt,
        finding=finding(receipt),
        qr=receipt_qr_data_uri(compact),
        document_type=document_type_name,
        both_calendars=both_calendars,
        grouped_code=grouped_code,
    )


@receipts.post("/api/v1/receipts/verify")
@csrf.exempt
@limiter.limit(verification_limit)
@require_verifier_access
def verify_api() -> Response:
    body = request.get_json(silent=True)
    text = body.get("receipt") if isinstance(body, dict) else None
    if not isinstance(text, str):
        raise ApiError(
            400,
            "bad_request",
            'Send {"receipt": "SEHAT-R1:…"}: the receipt text, as its QR code holds it.',
            'متن رسید را به شکل {"receipt": "SEHAT-R1:…"} بفرستید، همان‌گونه که در کد QR آن آمده است.',
        )
    receipt = _checked(text)
    key = current_receipt_key()
    return jsonify(
        {"valid": True, "receipt": receipt.to_dict(), "box_key": key.key_id, "box_public_key": key.public_key_text}
    )


def finding(receipt: Receipt) -> str:
    """What the page's headline says, one word: the verdict's status, refined as the kiosk does.

    A genuine document presented with someone else's national ID is a ``mismatch``, never
    shown as plain valid; a valid verdict from stale data is ``stale``; ``no_data`` is a box
    that had no data at all, which says nothing about the code.
    """
    if receipt.status is Status.VALID:
        if receipt.holder_mismatch:
            return "mismatch"
        return "stale" if receipt.replica.stale else "valid"
    if receipt.status is Status.NOT_FOUND and receipt.replica.as_of is None:
        return "no_data"
    return receipt.status.value


def document_type_name(document_type: str) -> str:
    names = DOCUMENT_TYPE_NAMES_FA if current_language() == "fa" else DOCUMENT_TYPE_NAMES_EN
    return names.get(document_type, document_type)


def both_calendars(moment: datetime) -> tuple[str, str]:
    """A moment in the box's local time, to the minute: (Solar Hijri in Persian digits, Gregorian with the offset).

    A receipt may be read by a Persian court and a foreign employer alike, so both are printed.
    """
    local = moment.astimezone()
    offset = local.strftime("%z")
    clock = local.strftime("%H:%M")
    jalali = f"{jalali_date(local)} {persian_digits(clock)}"
    return jalali, f"{gregorian_date(local)} {clock} (UTC{offset[:3]}:{offset[3:]})"


def grouped_code(code: str) -> str:
    """A 20-digit code in groups of four, as it is easiest to compare with the printed document."""
    return " ".join(code[start : start + 4] for start in range(0, len(code), 4))
