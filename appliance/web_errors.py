"""Every error answer: the contract's JSON on API routes, a page elsewhere, a request id always.

Unexpected exceptions are logged with the request id the answer also carries, so
an operator can find the trace an integrator reports, and nobody sees one.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from appliance.scanning.errors import ScanError
from verifier.errors import InputError, OperatorError, SehatError
from verifier.verdict_text import persian_digits

logger = logging.getLogger(__name__)

# Persian and English for the HTTP errors people and programs meet most.
_HTTP_MESSAGES: dict[int, tuple[str, str]] = {
    400: (
        "The request is not valid JSON or not the expected shape.",
        "درخواست JSON معتبر یا در قالب مورد انتظار نیست.",
    ),
    401: ("A valid API key is required (Authorization: Bearer …).", "کلید API معتبر لازم است."),
    403: ("This action is not allowed.", "این کار مجاز نیست."),
    404: ("Nothing is here.", "چنین نشانی‌ای وجود ندارد."),
    405: ("This method is not allowed here.", "این روش درخواست در اینجا پذیرفته نیست."),
    413: ("The request body is too large.", "حجم درخواست بیش از حد مجاز است."),
    415: ("Unsupported content type.", "نوع محتوای درخواست پشتیبانی نمی‌شود."),
    422: ("The input cannot be used.", "ورودی قابل استفاده نیست."),
    429: ("Too many requests; wait and try again.", "درخواست‌ها بیش از حد مجاز است؛ کمی صبر کنید و دوباره تلاش کنید."),
    500: ("Something went wrong on the box; the request id identifies it in the log.", "خطایی در دستگاه رخ داد."),
    503: ("The box cannot read its data right now.", "دستگاه در حال حاضر نمی‌تواند داده‌هایش را بخواند."),
}


class ApiError(Exception):
    """An error answer with a status, a machine code and messages in both languages."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str | None = None,
        message_fa: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        default_en, default_fa = _HTTP_MESSAGES.get(status, ("Error.", "خطا."))
        super().__init__(message or default_en)
        self.status = status
        self.code = code
        self.message = message or default_en
        self.message_fa = message_fa or default_fa
        self.retry_after = retry_after


def request_id() -> str:
    if "request_id" not in g:
        g.request_id = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex
    value: str = g.request_id
    return value


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path in ("/healthz", "/metrics")


def error_body(code: str, message: str, message_fa: str, status: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "error": {"code": code, "message": message, "message_fa": message_fa},
        "request_id": request_id(),
    }
    if status is not None:
        body["status"] = status
    return body


def _answer(
    status: int,
    code: str,
    message: str,
    message_fa: str,
    verdict_status: str | None = None,
    retry_after: str | None = None,
) -> Response:
    if wants_json():
        body = error_body(code, message, message_fa, verdict_status)
        if retry_after is not None:
            body["retry_after"] = int(retry_after) if retry_after.isdigit() else retry_after
        response = jsonify(body)
    else:
        response = Response(
            render_template(
                "error.html",
                status=status,
                message=message,
                message_fa=message_fa,
                rid=request_id(),
                retry_after=retry_after,
            ),
            mimetype="text/html",
        )
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    response.status_code = status
    return response


def _seconds_until_reset() -> str | None:
    """How long a rate-limited asker must wait: the limit that was hit resets then."""
    for limiter in current_app.extensions.get("limiter", ()):
        limit = limiter.current_limit
        if limit is not None:
            return str(max(1, int(limit.reset_at - time.time()) + 1))
    return None


def register_error_handlers(app: Flask) -> None:
    @app.before_request
    def assign_request_id() -> None:
        request_id()

    @app.after_request
    def expose_request_id(response: Response) -> Response:
        response.headers["X-Request-Id"] = request_id()
        return response

    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        retry_after = str(error.retry_after) if error.retry_after is not None else None
        return _answer(error.status, error.code, error.message, error.message_fa, retry_after=retry_after)

    @app.errorhandler(ScanError)
    def scan_error(error: ScanError) -> Response:
        return _answer(error.http_status, error.code, error.message, error.message_fa)

    @app.errorhandler(InputError)
    def input_error(error: InputError) -> Response:
        return _answer(422, error.code, error.message, error.message_fa, "invalid_format")

    @app.errorhandler(OperatorError)
    def operator_error(error: OperatorError) -> Response:
        return _answer(400, error.code, error.message, error.message_fa)

    @app.errorhandler(SehatError)
    def store_error(error: SehatError) -> Response:
        logger.error("request %s: %s", request_id(), error.message)
        return _answer(503, error.code, error.message, error.message_fa)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        message, message_fa = _HTTP_MESSAGES.get(status, (error.description or error.name, error.name))
        retry_after = _seconds_until_reset() if status == 429 else None
        if retry_after is not None:
            message = f"Too many requests; wait {retry_after} seconds and try again."
            message_fa = (
                f"درخواست‌ها بیش از حد مجاز است؛ {persian_digits(retry_after)} ثانیه صبر کنید و دوباره تلاش کنید."
            )
        return _answer(status, error.name.lower().replace(" ", "_"), message, message_fa, retry_after=retry_after)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        logger.exception("request %s failed", request_id())
        message, message_fa = _HTTP_MESSAGES[500]
        return _answer(500, "internal_error", message, message_fa)
