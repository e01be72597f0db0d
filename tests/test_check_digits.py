"""Tests for the check-digit schemes an issuer profile may declare."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifier.check_digits import CODE_LENGTH, SCHEMES, check_length, complete_code, passes_check

CHECKING_SCHEMES = ("luhn", "iso7064-mod97-10")

FAST = settings(max_examples=200, deadline=None, database=None)


def digits(length: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=length, max_size=length)


def reference_luhn(code: str) -> bool:
    """Luhn written out independently: double every second digit from the right."""
    total = 0
    for position, char in enumerate(reversed(code)):
        value = int(char) * (2 if position % 2 else 1)
        total += value // 10 + value % 10
    return total % 10 == 0


def reference_mod97(code: str) -> bool:
    """ISO 7064 MOD 97-10: the whole number leaves remainder 1 on division by 97."""
    return int(code) % 97 == 1


REFERENCE = {"luhn": reference_luhn, "iso7064-mod97-10": reference_mod97}


def test_schemes_are_none_luhn_and_mod97() -> None:
    assert set(SCHEMES) == {"none", "luhn", "iso7064-mod97-10"}


@pytest.mark.parametrize(("scheme", "length"), [("none", 0), ("luhn", 1), ("iso7064-mod97-10", 2)])
def test_check_length_per_scheme(scheme: str, length: int) -> None:
    assert check_length(scheme) == length


@pytest.mark.parametrize(
    "code",
    [
        "00004111111111111111",  # the classic Visa test number, zero-padded (zeros do not change Luhn)
        "00000000000000000018",
        "00000000000000000000",
    ],
)
def test_luhn_accepts_known_valid_codes(code: str) -> None:
    assert passes_check(code, "luhn")


@pytest.mark.parametrize("code", ["00004111111111111112", "00000000000000000010", "12345678901234567890"])
def test_luhn_rejects_known_invalid_codes(code: str) -> None:
    assert not passes_check(code, "luhn")


def test_luhn_completion_of_a_known_body() -> None:
    assert complete_code("0000411111111111111", "luhn") == "00004111111111111111"


def test_mod97_completion_of_a_known_body() -> None:
    # 1·100 = 100 ≡ 3 (mod 97), so the check is 98 − 3 = 95, and 195 ≡ 1 (mod 97).
    assert complete_code("000000000000000001", "iso7064-mod97-10") == "00000000000000000195"


def test_mod97_completion_with_a_single_digit_check_is_zero_padded() -> None:
    # 96·100 = 9600 ≡ 94 (mod 97), so the check is 98 − 94 = 4, written "04".
    code = complete_code("000000000000000096", "iso7064-mod97-10")
    assert code == "00000000000000009604"
    assert passes_check(code, "iso7064-mod97-10")


@pytest.mark.parametrize("code", ["00000000000000000001", "00000000000000000098", "00000000000000000195"])
def test_mod97_accepts_known_valid_codes(code: str) -> None:
    assert passes_check(code, "iso7064-mod97-10")


@pytest.mark.parametrize("code", ["00000000000000000000", "00000000000000000196", "12345678901234567890"])
def test_mod97_rejects_known_invalid_codes(code: str) -> None:
    assert not passes_check(code, "iso7064-mod97-10")


@pytest.mark.parametrize("scheme", CHECKING_SCHEMES)
@FAST
@given(data=st.data())
def test_property_completed_code_passes_its_scheme(scheme: str, data: st.DataObject) -> None:
    body = data.draw(digits(CODE_LENGTH - check_length(scheme)))
    code = complete_code(body, scheme)
    assert len(code) == CODE_LENGTH
    assert code.startswith(body)
    assert code.isdigit()
    assert passes_check(code, scheme)


@pytest.mark.parametrize("scheme", CHECKING_SCHEMES)
@FAST
@given(code=digits(CODE_LENGTH))
def test_property_scheme_agrees_with_reference_implementation(scheme: str, code: str) -> None:
    assert passes_check(code, scheme) == REFERENCE[scheme](code)


@pytest.mark.parametrize("scheme", CHECKING_SCHEMES)
@FAST
@given(data=st.data())
def test_property_single_digit_change_is_always_detected(scheme: str, data: st.DataObject) -> None:
    code = complete_code(data.draw(digits(CODE_LENGTH - check_length(scheme))), scheme)
    position = data.draw(st.integers(min_value=0, max_value=CODE_LENGTH - 1))
    shift = data.draw(st.integers(min_value=1, max_value=9))
    changed = code[:position] + str((int(code[position]) + shift) % 10) + code[position + 1 :]
    assert not passes_check(changed, scheme)


@FAST
@given(code=digits(CODE_LENGTH))
def test_property_none_accepts_every_code(code: str) -> None:
    assert passes_check(code, "none")


@pytest.mark.parametrize("code", ["", "abc", "1" * 5, "1" * 40])
def test_none_accepts_anything_at_all(code: str) -> None:
    assert passes_check(code, "none")


@FAST
@given(body=digits(CODE_LENGTH))
def test_property_none_completion_returns_the_body(body: str) -> None:
    assert complete_code(body, "none") == body


@pytest.mark.parametrize("scheme", ["", "LUHN", "mod97", "verhoeff", "damm", "none "])
def test_unknown_scheme_raises_value_error_in_passes_check(scheme: str) -> None:
    with pytest.raises(ValueError, match="unknown check-digit scheme"):
        passes_check("12345678901234567890", scheme)


@pytest.mark.parametrize("scheme", ["", "LUHN", "verhoeff"])
def test_unknown_scheme_raises_value_error_in_complete_code(scheme: str) -> None:
    with pytest.raises(ValueError, match="unknown check-digit scheme"):
        complete_code("1234567890123456789", scheme)


@pytest.mark.parametrize("scheme", ["", "LUHN", "verhoeff"])
def test_unknown_scheme_raises_value_error_in_check_length(scheme: str) -> None:
    with pytest.raises(ValueError, match="unknown check-digit scheme"):
        check_length(scheme)


@pytest.mark.parametrize(
    ("body", "scheme"),
    [
        ("1" * 20, "luhn"),
        ("1" * 18, "luhn"),
        ("1" * 19, "iso7064-mod97-10"),
        ("1" * 19, "none"),
        ("123456789012345678x", "luhn"),
        ("", "none"),
    ],
)
def test_complete_code_refuses_a_body_of_the_wrong_shape(body: str, scheme: str) -> None:
    with pytest.raises(ValueError):
        complete_code(body, scheme)
