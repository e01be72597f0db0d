"""Iranian national ID (کد ملی) validation.

The last of the ten digits is a check digit over the first nine. Boxes check the
ID an asker types before comparing it with the sealed record, so that a typo is
reported as a typo and not as a mismatch.
"""

from __future__ import annotations

from verifier.errors import InvalidNationalIdError
from verifier.normalize import to_ascii_digits

NATIONAL_ID_LENGTH = 10


def check_digit(first_nine: str) -> int:
    """Return the check digit for the first nine digits of a national ID.

    Args:
        first_nine: exactly nine ASCII digits.

    Returns:
        The tenth digit: ``r`` if ``r < 2`` else ``11 - r``, where ``r`` is
        ``Σ d[i]·(10−i) mod 11``.
    """
    if len(first_nine) != NATIONAL_ID_LENGTH - 1 or not first_nine.isascii() or not first_nine.isdigit():
        raise ValueError("check_digit takes exactly nine ASCII digits")
    total = sum(int(digit) * (NATIONAL_ID_LENGTH - index) for index, digit in enumerate(first_nine))
    remainder = total % 11
    return remainder if remainder < 2 else 11 - remainder


def is_valid_national_id(value: str) -> bool:
    """Tell whether ``value`` (ASCII digits, already normalised) is a valid national ID."""
    if len(value) != NATIONAL_ID_LENGTH or not value.isascii() or not value.isdigit():
        return False
    if len(set(value)) == 1:
        return False
    return check_digit(value[:9]) == int(value[9])


def normalize_national_id(raw: str) -> str:
    """Normalise a typed national ID to ten ASCII digits and check it.

    Persian and Arabic-Indic digits, spaces, dashes and invisible marks are
    accepted as for codes. IDs written without their leading zeros (a common
    spreadsheet accident) are padded back to ten digits.

    Raises:
        InvalidNationalIdError: the input is not a valid national ID.
    """
    digits = to_ascii_digits(raw)
    if not (digits.isascii() and digits.isdigit()):
        raise InvalidNationalIdError("not_digits")
    if 8 <= len(digits) < NATIONAL_ID_LENGTH:
        digits = digits.zfill(NATIONAL_ID_LENGTH)
    if len(digits) != NATIONAL_ID_LENGTH:
        raise InvalidNationalIdError("wrong_length")
    if not is_valid_national_id(digits):
        raise InvalidNationalIdError("bad_check_digit")
    return digits


def mask_national_id(national_id: str) -> str:
    """Show only the last four digits, as the verdict does."""
    return "*" * (len(national_id) - 4) + national_id[-4:]
