"""Turn whatever a person typed or a scanner read into the 20 ASCII digits of a code.

People type codes in Persian (۰–۹), Arabic-Indic (٠–٩) or full-width digits, with
spaces, dashes, zero-width non-joiners and bidi marks that editors insert around
numbers in right-to-left text; QR codes may carry the bare code or a link with the
code in a path segment or a query parameter. All of these must reach the same code,
and anything else must be a clear format error — never a "not found".

Scanners garble too: a USB scanner left on the Persian keyboard layout types a
link's letters as Persian letters while its digits stay digits, and appends CR, LF
or tab. When such text holds exactly one run of 20 digits, that run is the code;
two runs, or only 19 or 21 digits, stay a format error that says what was found.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
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


def digit_runs(text: str) -> list[str]:
    """The runs of digits in ``text`` as ASCII; separators inside a run do not end it, anything else does."""
    runs: list[str] = []
    current: list[str] = []
    for char in text:
        value = unicodedata.decimal(char, None)
        if value is not None:
            current.append(str(value))
        elif current and _is_separator(char):
            continue
        elif current:
            runs.append("".join(current))
            current = []
    if current:
        runs.append("".join(current))
    return runs


def _code_in_noise(text: str, schemes: tuple[str, ...], no_run_reason: str) -> str:
    """The one 20-digit run in a garbled scan or a link we could not parse; else the error that says why."""
    runs = digit_runs(text)
    codes = [run for run in runs if len(run) == CODE_LENGTH]
    if len(codes) > 1:
        raise InvalidFormatError("several_codes")
    if codes:
        if _passes_any(codes[0], schemes):
            return codes[0]
        raise InvalidFormatError("bad_check_digit")
    longest = max((len(run) for run in runs), default=0)
    raise InvalidFormatError(no_run_reason, longest if longest >= _NEAR_MISS else None)


# A run this long next to other characters is a code with a typo, not a stray number.
_NEAR_MISS = 12


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
        except ValueError:  # urllib refuses malformed hosts such as "https://["
            candidates = []
        if not candidates:
            return _code_in_noise(text, schemes, "url_without_code")
        for candidate in candidates:
            if _passes_any(candidate, schemes):
                return candidate
        raise InvalidFormatError("bad_check_digit")
    digits = to_ascii_digits(text)
    if not (digits.isascii() and digits.isdigit()):
        return _code_in_noise(text, schemes, "bad_characters")
    if len(digits) != CODE_LENGTH:
        raise InvalidFormatError("wrong_length", len(digits))
    if not _passes_any(digits, schemes):
        raise InvalidFormatError("bad_check_digit")
    return digits


def holds_code(raw: str) -> bool:
    """Whether scanned text carries an authenticity code at all (bare, in any digits, or in a link).

    A QR that does not is not "invalid": documents carry other QR codes too.
    """
    try:
        normalize_code(raw)
    except InvalidFormatError:
        return False
    return True


def _passes_any(code: str, schemes: tuple[str, ...]) -> bool:
    return any(passes_check(code, scheme) for scheme in schemes)


@dataclass(frozen=True)
class InputPiece:
    """A stretch of what was typed, and whether it is what keeps it from being a code."""

    text: str
    problem: bool


def annotate_input(raw: str, limit: int = 120) -> list[InputPiece]:
    """What a person typed, split so a page can echo it with the offending characters marked.

    Digits of any system and separators are fine; every other character is marked.
    Invisible marks are dropped from the echo (they cannot be seen either way).
    """
    pieces: list[InputPiece] = []
    for char in raw.strip()[:limit]:
        if unicodedata.category(char) == "Cf":
            continue
        problem = unicodedata.decimal(char, None) is None and not _is_separator(char)
        if pieces and pieces[-1].problem == problem:
            pieces[-1] = InputPiece(pieces[-1].text + char, problem)
        else:
            pieces.append(InputPiece(char, problem))
    return pieces
