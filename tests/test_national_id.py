"""Tests for Iranian national ID (کد ملی) validation, normalisation and masking."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from verifier.errors import InputError, InvalidNationalIdError
from verifier.national_id import check_digit, is_valid_national_id, mask_national_id, normalize_national_id

PERSIAN_DIGITS = "۰۱۲۳۴۵۶۷۸۹"
ARABIC_INDIC_DIGITS = "٠١٢٣٤٥٦٧٨٩"
PERSIAN_LETTERS = frozenset("آابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهیئ")

FAST = settings(max_examples=200, deadline=None, database=None)


def formula_check_digit(first_nine: str) -> int:
    """The rule from PRODUCT.md, written out independently of the module under test."""
    total = sum(int(digit) * (10 - index) for index, digit in enumerate(first_nine))
    remainder = total % 11
    return remainder if remainder < 2 else 11 - remainder


def with_check_digit(first_nine: str) -> str:
    return first_nine + str(formula_check_digit(first_nine))


def transliterate(ascii_digits: str, digits: str) -> str:
    return "".join(digits[int(char)] for char in ascii_digits)


def national_id_error(raw: str) -> InvalidNationalIdError:
    with pytest.raises(InvalidNationalIdError) as caught:
        normalize_national_id(raw)
    return caught.value


# Worked by hand: S = Σ d[i]·(10−i), r = S mod 11, check = r if r < 2 else 11 − r.
HAND_COMPUTED = [
    # 0·10+4·9+9·8+9·7+3·6+7·5+0·4+8·3+9·2 = 266; 266 mod 11 = 2 → 11−2 = 9
    ("049937089", 9),
    # 0·10+0·9+8·8+4·7+5·6+7·5+5·4+9·3+4·2 = 212; 212 mod 11 = 3 → 11−3 = 8
    ("008457594", 8),
    # 0·10+0·9+1·8+2·7+3·6+4·5+5·4+6·3+7·2 = 112; 112 mod 11 = 2 → 11−2 = 9
    ("001234567", 9),
    # 1·10+2·9+3·8+4·7+5·6+6·5+7·4+8·3+9·2 = 210; 210 mod 11 = 1 → 1 (r < 2)
    ("123456789", 1),
    # 3·3+1·2 = 11; 11 mod 11 = 0 → 0 (r < 2)
    ("000000031", 0),
]

KNOWN_VALID = ["0499370899", "0084575948", "0012345679", "1234567891", "0000000310"]


@pytest.mark.parametrize(("first_nine", "expected"), HAND_COMPUTED)
def test_check_digit_matches_hand_computed_value(first_nine: str, expected: int) -> None:
    assert check_digit(first_nine) == expected


@pytest.mark.parametrize(("first_nine", "expected"), HAND_COMPUTED)
def test_hand_computed_values_agree_with_the_written_out_formula(first_nine: str, expected: int) -> None:
    assert formula_check_digit(first_nine) == expected


@pytest.mark.parametrize("national_id", KNOWN_VALID)
def test_known_valid_literal_satisfies_the_formula(national_id: str) -> None:
    assert int(national_id[9]) == formula_check_digit(national_id[:9])


@pytest.mark.parametrize("national_id", KNOWN_VALID)
def test_known_valid_id_is_valid(national_id: str) -> None:
    assert is_valid_national_id(national_id)


@pytest.mark.parametrize("digit", "0123456789")
def test_ten_equal_digits_satisfy_the_formula_but_are_invalid(digit: str) -> None:
    national_id = digit * 10
    assert formula_check_digit(national_id[:9]) == int(digit)
    assert not is_valid_national_id(national_id)


@pytest.mark.parametrize(
    "value",
    [
        "0499370898",  # wrong check digit
        "0499370890",  # wrong check digit
        "1499370899",  # a changed leading digit
        "049937089",  # nine digits
        "04993708990",  # eleven digits
        "",
        "04993708a9",  # a letter
        "abcdefghij",
        "0499-37089",  # a separator (is_valid expects normalised input)
        transliterate("0499370899", PERSIAN_DIGITS),  # is_valid expects ASCII
    ],
)
def test_invalid_id_is_rejected(value: str) -> None:
    assert not is_valid_national_id(value)


@pytest.mark.parametrize(
    "raw",
    [
        "0499370899",
        transliterate("0499370899", PERSIAN_DIGITS),
        transliterate("0499370899", ARABIC_INDIC_DIGITS),
        "۰۴۹۹370899",
        "049-937089-9",
        " 0499 370 899 ",
        "\u200e۰۴۹۹\u200c۳۷۰۸۹۹\u200f",
        "\u2067۰۴۹۹۳۷۰۸۹۹\u2069",
    ],
)
def test_normalize_accepts_any_digit_system_and_separators(raw: str) -> None:
    assert normalize_national_id(raw) == "0499370899"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("499370899", "0499370899"),
        ("84575948", "0084575948"),
        (transliterate("84575948", PERSIAN_DIGITS), "0084575948"),
        ("12345679", "0012345679"),
    ],
)
def test_normalize_pads_ids_that_lost_their_leading_zeros(raw: str, expected: str) -> None:
    assert normalize_national_id(raw) == expected


def test_padded_id_is_still_checked() -> None:
    assert national_id_error("499370898").reason == "bad_check_digit"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "not_digits"),
        ("   ", "not_digits"),
        ("04993708a9", "not_digits"),
        ("کد ملی", "not_digits"),
        ("0499.370899", "not_digits"),
        ("4575948", "wrong_length"),
        ("1", "wrong_length"),
        ("04993708990", "wrong_length"),
        ("0499370898", "bad_check_digit"),
        ("1111111111", "bad_check_digit"),
        ("0000000000", "bad_check_digit"),
        (transliterate("0499370898", PERSIAN_DIGITS), "bad_check_digit"),
    ],
)
def test_normalize_rejects_invalid_input_with_reason(raw: str, reason: str) -> None:
    assert national_id_error(raw).reason == reason


@pytest.mark.parametrize("raw", ["abc", "123", "0499370898"])
def test_national_id_error_is_an_input_error_with_persian_message(raw: str) -> None:
    error = national_id_error(raw)
    assert isinstance(error, InputError)
    assert error.code == "invalid_national_id"
    assert error.message.strip()
    assert PERSIAN_LETTERS & set(error.message_fa)


def test_mask_shows_only_the_last_four_digits() -> None:
    assert mask_national_id("0499370899") == "******0899"


@pytest.mark.parametrize("national_id", KNOWN_VALID)
def test_mask_keeps_length_and_hides_the_first_six_digits(national_id: str) -> None:
    masked = mask_national_id(national_id)
    assert len(masked) == 10
    assert masked[:6] == "******"
    assert masked[6:] == national_id[6:]


@pytest.mark.parametrize("first_nine", ["12345678", "1234567890", "۱۲۳۴۵۶۷۸۹", "12345678a", ""])
def test_check_digit_refuses_anything_but_nine_ascii_digits(first_nine: str) -> None:
    with pytest.raises(ValueError):
        check_digit(first_nine)


nine_digits = st.text(alphabet="0123456789", min_size=9, max_size=9)


@FAST
@given(nine_digits)
def test_property_check_digit_agrees_with_the_formula(first_nine: str) -> None:
    assert check_digit(first_nine) == formula_check_digit(first_nine)


@FAST
@given(nine_digits)
def test_property_appending_the_check_digit_gives_a_valid_id(first_nine: str) -> None:
    national_id = first_nine + str(check_digit(first_nine))
    assume(len(set(national_id)) > 1)
    assert is_valid_national_id(national_id)
    assert normalize_national_id(national_id) == national_id


@FAST
@given(nine_digits, st.integers(min_value=1, max_value=9))
def test_property_changing_the_last_digit_makes_the_id_invalid(first_nine: str, shift: int) -> None:
    check = check_digit(first_nine)
    assume(len(set(first_nine + str(check))) > 1)
    assert not is_valid_national_id(first_nine + str((check + shift) % 10))


@FAST
@given(nine_digits)
def test_property_persian_digit_id_normalises_to_the_ascii_id(first_nine: str) -> None:
    national_id = with_check_digit(first_nine)
    assume(len(set(national_id)) > 1)
    assert normalize_national_id(transliterate(national_id, PERSIAN_DIGITS)) == national_id


@FAST
@given(nine_digits)
def test_property_mask_reveals_nothing_but_the_last_four_digits(first_nine: str) -> None:
    national_id = with_check_digit(first_nine)
    assert mask_national_id(national_id) == "*" * 6 + national_id[-4:]


def test_superscript_digits_are_not_digits_of_a_national_id() -> None:
    with pytest.raises(InvalidNationalIdError) as caught:
        normalize_national_id("04993708\u2079\u2079")
    assert caught.value.reason == "not_digits"
