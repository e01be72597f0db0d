"""The JSON API: verify, verify by link, bulk, status, health, metrics, and its OpenAPI document."""

from __future__ import annotations

import io
import json
from importlib import resources
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from appliance.bulk import csv_chunks, json_chunks, read_rows
from appliance.security import limiter, require_verifier_access, verification_limit
from appliance.service import (
    metrics,
    now,
    scan_document_json,
    verdict_document,
    verify_many,
    verify_one,
    verify_scanned,
)
from appliance.status import status_document
from appliance.store import app_config, stores
from appliance.uploads import read_upload
from appliance.verification_budget import bulk_slots, charge_rows
from appliance.web_errors import ApiError
from storage.database import DatabaseError
from verifier.errors import SehatError
from verifier.verdict import Status

api = Blueprint("api", __name__)


def _verdict_response(outcome: Any) -> Response:
    response = jsonify(verdict_document(outcome))
    if outcome.verdict.status is Status.INVALID_FORMAT:
        response.status_code = 422
    return response


@api.post("/api/v1/verify")
@limiter.limit(verification_limit)
@require_verifier_access
def verify() -> Response:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request")
    code = body.get("code", "")
    national_id = body.get("national_id")
    if not isinstance(code, str) or (national_id is not None and not isinstance(national_id, str)):
        raise ApiError(
            400, "bad_request", "'code' and 'national_id' must be strings.", "code و national_id باید رشته باشند."
        )
    return _verdict_response(verify_one(code, national_id or None, "api"))


@api.get("/api/v1/verify/<code:code>")
@limiter.limit(verification_limit)
@require_verifier_access
def verify_link(code: str) -> Response:
    return _verdict_response(verify_one(code, request.args.get("national_id") or None, "api"))


@api.post("/api/v1/verify/bulk")
@limiter.limit(verification_limit)
@require_verifier_access
def verify_bulk() -> Response:
    """Every row of a CSV file, charged as one verification each, on one of the box's few file slots."""
    upload = request.files.get("file")
    # Held in memory (the body already is, within max_body_bytes): codes and national IDs never touch the disk.
    data = upload.read() if upload is not None else request.get_data()
    limit = app_config().bulk_max_rows
    charge_rows(sum(1 for _ in read_rows(io.BytesIO(data), limit)), "bulk")
    slot = bulk_slots().taken_now()
    slot.__enter__()
    try:
        rows = read_rows(io.BytesIO(data), limit)
        results = verify_many(((row.line, row.code, row.national_id) for row in rows), "bulk")
        if "application/json" in request.headers.get("Accept", ""):
            response = Response(
                stream_with_context(json_chunks(results, verdict_document)), mimetype="application/json"
            )
        else:
            response = Response(stream_with_context(csv_chunks(results)), mimetype="text/csv")
            response.headers["Content-Disposition"] = "attachment; filename=verdicts.csv"
    except BaseException:
        slot.__exit__(None, None, None)
        raise
    response.call_on_close(lambda: slot.__exit__(None, None, None))  # the slot is held until the answer is sent
    return response


@api.post("/api/v1/scan")
@limiter.limit(verification_limit)
@require_verifier_access
def scan() -> Response:
    """Every QR in a photo or PDF, each with its verdict when it holds a code."""
    return jsonify(scan_document_json(verify_scanned(read_upload("image"), "scan")))


@api.get("/api/v1/status")
def status() -> Response:
    return jsonify(status_document(stores().replica, now()))


@api.get("/healthz")
@limiter.exempt
def healthz() -> Response:
    try:
        issuers = stores().replica.issuer_states()
        stores().audit.head()  # reads the audit log in O(1); count() scanned every entry on each probe
    except (SehatError, DatabaseError) as error:
        raise ApiError(503, "unhealthy", f"The replica cannot be read: {error}") from error
    return jsonify({"status": "ok", "issuers": len(issuers)})


@api.get("/metrics")
@limiter.exempt
def prometheus_metrics() -> Response:
    return Response(generate_latest(metrics().registry), mimetype=CONTENT_TYPE_LATEST)


@api.get("/api/v1/openapi.json")
def openapi() -> Response:
    document = json.loads(resources.files("appliance").joinpath("openapi.json").read_text(encoding="utf-8"))
    document["servers"] = [{"url": request.host_url.rstrip("/")}]
    return current_app.response_class(json.dumps(document, ensure_ascii=False), mimetype="application/json")
