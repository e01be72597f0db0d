"""Turn whatever a person typed or a scanner read into the 20 ASCII digits of a code.

People type codes in Persian (۰–۹), Arabic-Indic (٠–٩) or full-width digits, with
spaces, dashes, zero-width non-joiners and bidi marks that editors insert around
numbers in right-to-left text; QR codes may carry the bare code or a link with the
code in a path segment or a query parameter. All of these must reach the same code,
and anything else must be a clear format error — never a "not found".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from urllib.parse import parse_qsl, unquote, urlsplit

from verifier.check_digits import CODE_LENGTH, passes_check
from verifier.errors import InvalidFormatError

# Far above any honest input (a long verification link), low enough that hostile
# input costs nothing to refuse.
MAX_INPUT_LENGTH = 2048

# Characters that people and editors put between digits: dashes of every kind,
# the minus sign, Arabic tatweel, and dots used to group digits are not among
# them — a dot inside a number is more likely a different number than a separator.
_EXTRA_SEPARATORS = frozenset("\u2212\u0640_")

# Query parameters that verification links conventionally use for the code; any
# other parameter is tried after these.
_PREFERRED_PARAMETERS = ("code", "c", "sehat", "hash", "serial", "id")

_URL_START = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|www\.)", re.ASCII | re.IGNORECASE)


def _is_separator(char: str) -> bool:
    if char.isspace() or char in _EXTRA_SEPARATORS:
        return True
    category = unicodedata.category(char)
    # Cf: ZWNJ, ZWJ, LRM/RLM, bidi embeddings and isolates, BOM, soft hyphen.
    # Pd: hyphen, non-breaking hyphen, en and em dashes, full-width hyphen-minus.
    return category in ("Cf", "Pd")


def to_ascii_digits(raw: str) -> str:
    """Map every decimal digit to ASCII and drop separators; leave anything else as is.

    Any Unicode decimal digit counts (Persian, Arabic-Indic, full-width, …):
    ``unicodedata.decimal`` knows them all, and a digit is a digit whichever
    keyboard typed it.
    """
    out: list[str] = []
    for char in raw:
        if _is_separator(char):
            continue
        value = unicodedata.decimal(char, None)
        out.append(str(value) if value is not None else char)
    return "".join(out)


def _digits_candidate(text: str) -> str | None:
    digits = to_ascii_digits(unquote(text))
    if len(digits) == CODE_LENGTH and digits.isascii() and digits.isdigit():
        return digits
    return None


def _url_candidates(url: str) -> Iterator[str]:
    """Yield the 20-digit strings a verification link may carry, most likely first."""
    parts = urlsplit(url if "://" in url else "https://" + url)
    parameters = parse_qsl(parts.query, keep_blank_values=False)
    parameters += parse_qsl(parts.fragment, keep_blank_values=False)
    by_preference = sorted(
        parameters,
        key=lambda item: (
            _PREFERRED_PARAMETERS.index(item[0].lower())
            if item[0].lower() in _PREFERRED_PARAMETERS
            else len(_PREFERRED_PARAMETERS)
        ),
    )
    for _, value in by_preference:
        candidate = _digits_candidate(value)
        if candidate:
            yield candidate
    segments = [segment for segment in parts.path.split("/") if segment]
    if parts.fragment and "=" not in parts.fragment:
        segments.append(parts.fragment)
    for segment in reversed(segments):
        stem = segment.rsplit(".", 1)[0] if "." in segment else segment
        for text in (segment, stem):
            candidate = _digits_candidate(text)
            if candidate:
                yield candidate
                break


def looks_like_url(text: str) -> bool:
    """Tell whether scanned or typed text is a link rather than a bare code."""
    return bool(_URL_START.match(text.strip()))


def normalize_code(raw: str, schemes: Iterable[str] = ("none",)) -> str:
    """Normalise raw input to a 20-digit code.

    Args:
        raw: what was typed, pasted or scanned: a code in any digit system with any
            separators, or a link that carries one.
        schemes: the check-digit schemes of the trusted issuers; the code must pass
            at least one of them (``"none"`` accepts every 20-digit code).

    Returns:
        The code as 20 ASCII digits.

    Raises:
        InvalidFormatError: the input is not a code; ``reason`` says why.
    """
    if len(raw) > MAX_INPUT_LENGTH:
        raise InvalidFormatError("too_long")
    text = raw.strip()
    if not text or not to_ascii_digits(text):
        raise InvalidFormatError("empty")
    schemes = tuple(schemes)
    if looks_like_url(text):
        try:
            candidates = list(dict.fromkeys(_url_candidates(text)))
        except ValueError as error:  # urllib refuses malformed hosts such as "https://["
            raise InvalidFormatError("url_without_code") from error
        if not candidates:
            raise InvalidFormatError("url_without_code")
        for candidate in candidates:
            if _passes_any(candidate, schemes):
                return candidate
        raise InvalidFormatError("bad_check_digit")
    digits = to_ascii_digits(text)
    if not (digits.isascii() and digits.isdigit()):
        raise InvalidFormatError("bad_characters")
    if len(digits) != CODE_LENGTH:
        raise InvalidFormatError("wrong_length")
    if not _passes_any(digits, schemes):
        raise InvalidFormatError("bad_check_digit")
    return digits


def _passes_any(code: str, schemes: tuple[str, ...]) -> bool:
    return any(passes_check(code, scheme) for scheme in schemes)
