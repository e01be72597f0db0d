"""Check-digit schemes an issuer profile may declare for its codes.

The code's inner structure is not published, so the default is ``none``: every
20-digit string is well-formed. An issuer that does embed check digits declares
the scheme in its signed profile, and boxes then catch typing mistakes before
looking anything up.
"""

from __future__ import annotations

from collections.abc import Callable

CODE_LENGTH = 20


def _luhn_valid(code: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(code)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _luhn_complete(body: str) -> str:
    for last in "0123456789":
        if _luhn_valid(body + last):
            return body + last
    raise AssertionError("a Luhn check digit always exists")


def _mod97_valid(code: str) -> bool:
    return int(code) % 97 == 1


def _mod97_complete(body: str) -> str:
    check = 98 - (int(body) * 100) % 97
    return f"{body}{check:02d}"


_VALIDATORS: dict[str, Callable[[str], bool]] = {
    "none": lambda code: True,
    "luhn": _luhn_valid,
    "iso7064-mod97-10": _mod97_valid,
}

_CHECK_LENGTHS: dict[str, int] = {"none": 0, "luhn": 1, "iso7064-mod97-10": 2}

_COMPLETERS: dict[str, Callable[[str], str]] = {
    "none": lambda body: body,
    "luhn": _luhn_complete,
    "iso7064-mod97-10": _mod97_complete,
}

SCHEMES: tuple[str, ...] = tuple(_VALIDATORS)


def check_length(scheme: str) -> int:
    """How many of the 20 digits a scheme spends on checking (0, 1 or 2)."""
    _require_known(scheme)
    return _CHECK_LENGTHS[scheme]


def passes_check(code: str, scheme: str) -> bool:
    """Tell whether a 20-digit code satisfies ``scheme``."""
    _require_known(scheme)
    return _VALIDATORS[scheme](code)


def complete_code(body: str, scheme: str) -> str:
    """Append the scheme's check digits to ``body`` to make a 20-digit code.

    Args:
        body: ``20 - check_length(scheme)`` ASCII digits.
        scheme: one of ``SCHEMES``.
    """
    _require_known(scheme)
    if len(body) != CODE_LENGTH - _CHECK_LENGTHS[scheme] or not body.isdigit():
        raise ValueError(f"a {scheme} code body has {CODE_LENGTH - _CHECK_LENGTHS[scheme]} digits")
    return _COMPLETERS[scheme](body)


def _require_known(scheme: str) -> None:
    if scheme not in _VALIDATORS:
        raise ValueError(f"unknown check-digit scheme {scheme!r}; known: {', '.join(SCHEMES)}")
