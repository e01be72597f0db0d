"""The box speaks Persian and English: which one a request gets, and how dates and ages read in each.

Persian (right to left, Solar Hijri dates, Persian digits) is the default; English
(left to right, Gregorian dates) is one click away and remembered in a cookie, and a
browser that asks for English by ``Accept-Language`` gets it from the first page. Every
UI string goes through Flask-Babel's catalogues in ``appliance/translations``
(``make i18n`` extracts and compiles them).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import Blueprint, Flask, current_app, redirect, request, url_for
from flask_babel import Babel, format_timedelta, get_locale, gettext
from werkzeug.wrappers.response import Response as BaseResponse

from verifier.verdict_text import VerdictText, describe_en, describe_fa, gregorian_date, jalali_date, persian_digits

LANGUAGES = ("fa", "en")
DEFAULT_LANGUAGE = "fa"
LANGUAGE_COOKIE = "sehat_lang"
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600
JUST_NOW = timedelta(minutes=1)  # ages below this read "just now", not "0 minutes ago"

language = Blueprint("language", __name__)


def select_language() -> str:
    """The language asked for on this visit, else the remembered one, else the browser's, else Persian."""
    for asked in (request.args.get("lang"), request.cookies.get(LANGUAGE_COOKIE)):
        if asked in LANGUAGES:
            return asked
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def current_language() -> str:
    locale = get_locale()
    return locale.language if locale is not None and locale.language in LANGUAGES else DEFAULT_LANGUAGE


def text_direction(lang: str | None = None) -> str:
    return "rtl" if (lang or current_language()) == "fa" else "ltr"


def local_digits(value: object) -> str:
    """Numbers as readers of the page's language write them."""
    text = str(value)
    return persian_digits(text) if current_language() == "fa" else text


def show_date(value: date | datetime | str | None) -> str:
    """A day: Solar Hijri in Persian, Gregorian (ISO) in English."""
    if value is None or value == "":
        return ""
    return jalali_date(value) if current_language() == "fa" else gregorian_date(value)


def show_moment(value: datetime | str | None) -> str:
    """A moment in the box's local time, to the minute, in the page's calendar."""
    if value is None or value == "":
        return ""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    local = moment.astimezone()
    return f"{show_date(local)} {local_digits(local.strftime('%H:%M'))}"


def show_age(value: datetime | str | None, now: datetime | None = None) -> str:
    """How long ago, in words ("3 days ago" / «۳ روز پیش»)."""
    if value is None or value == "":
        return ""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    delta = moment - (now or current_app.config["SEHAT_CLOCK"]())
    if delta > -JUST_NOW:  # also a moment a little ahead of a slow clock
        return gettext("just now")
    return local_digits(format_timedelta(delta, granularity="minute", add_direction=True, threshold=0.9))


def describe(verdict: object) -> VerdictText:
    """The core's wording of a verdict in the page's language."""
    return describe_fa(verdict) if current_language() == "fa" else describe_en(verdict)  # type: ignore[arg-type]


@language.get("/language/<lang>")
def choose(lang: str) -> BaseResponse:
    """Switch language and come back to the same page; remembered for a year."""
    target = request.args.get("next", "")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("kiosk.form")
    response = redirect(target)
    if lang in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, lang, max_age=LANGUAGE_COOKIE_SECONDS, samesite="Lax", httponly=True)
    return response


def _remember(response: BaseResponse, lang: str) -> None:
    response.set_cookie(LANGUAGE_COOKIE, lang, max_age=LANGUAGE_COOKIE_SECONDS, samesite="Lax", httponly=True)


def remember_asked_language(response: BaseResponse) -> BaseResponse:
    """A link with ``?lang=`` chooses the language for the visits after it too."""
    asked = request.args.get("lang")
    if asked in LANGUAGES and request.cookies.get(LANGUAGE_COOKIE) != asked:
        _remember(response, asked)
    return response


def init_i18n(app: Flask) -> None:
    Babel(app, locale_selector=select_language, default_translation_directories="translations")
    app.register_blueprint(language)
    app.after_request(remember_asked_language)
    app.jinja_env.globals.update(
        current_language=current_language,
        text_direction=text_direction,
        local_digits=local_digits,
        show_date=show_date,
        show_moment=show_moment,
        show_age=show_age,
        describe=describe,
        languages=LANGUAGES,
    )
