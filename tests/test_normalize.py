"""Tests for turning typed, pasted or scanned input into the 20 ASCII digits of a code."""

from __future__ import annotations

import operator
from urllib.parse import quote

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from verifier.check_digits import complete_code, passes_check
from verifier.errors import InputError, InvalidFormatError
from verifier.normalize import MAX_INPUT_LENGTH, annotate_input, looks_like_url, normalize_code, to_ascii_digits

CODE = "12345678901234567890"
OTHER_CODE = "98765432109876543210"
LUHN_CODE = complete_code("1234567890123456789", "luhn")
NOT_LUHN_CODE = LUHN_CODE[:-1] + str((int(LUHN_CODE[-1]) + 1) % 10)

DIGIT_SYSTEMS: dict[str, str] = {
    "ascii": "0123456789",
    "persian": "۰۱۲۳۴۵۶۷۸۹",
    "arabic_indic": "٠١٢٣٤٥٦٧٨٩",
    "full_width": "０１２３４５６７８９",
}

SEPARATORS: dict[str, str] = {
    "space": " ",
    "nbsp": "\u00a0",
    "thin_space": "\u2009",
    "hyphen": "-",
    "en_dash": "\u2013",
    "em_dash": "\u2014",
    "minus_sign": "\u2212",
    "zwnj": "\u200c",
    "zwj": "\u200d",
    "lrm": "\u200e",
    "rlm": "\u200f",
    "lre": "\u202a",
    "rle": "\u202b",
    "pdf": "\u202c",
    "lro": "\u202d",
    "rlo": "\u202e",
    "lri": "\u2066",
    "rli": "\u2067",
    "fsi": "\u2068",
    "pdi": "\u2069",
    "bom": "\ufeff",
}

WHITESPACE = (" ", "\t", "\n", "\r", "\u00a0", "\u2009", "\u3000")

PERSIAN_LETTERS = frozenset("آابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهیئ")

FAST = settings(max_examples=200, deadline=None, database=None)

codes = st.text(alphabet="0123456789", min_size=20, max_size=20)


def in_digits(code: str, system: str) -> str:
    """Write ASCII ``code`` in the digit system named ``system``."""
    digits = DIGIT_SYSTEMS[system]
    return "".join(digits[int(char)] for char in code)


def grouped(code: str, separator: str, size: int = 4) -> str:
    """Split ``code`` into groups of ``size`` joined by ``separator``."""
    return separator.join(code[start : start + size] for start in range(0, len(code), size))


def format_error(raw: str, schemes: tuple[str, ...] = ("none",)) -> InvalidFormatError:
    """Normalise ``raw``, expecting a format error, and return it."""
    with pytest.raises(InvalidFormatError) as caught:
        normalize_code(raw, schemes=schemes)
    return caught.value


# --- digit systems and separators -------------------------------------------------


def test_ascii_code_is_returned_unchanged() -> None:
    assert normalize_code(CODE) == CODE


@pytest.mark.parametrize("system", sorted(DIGIT_SYSTEMS))
def test_every_digit_system_maps_to_the_same_ascii_code(system: str) -> None:
    assert normalize_code(in_digits(CODE, system)) == CODE


@pytest.mark.parametrize("separator", list(SEPARATORS.values()), ids=list(SEPARATORS))
def test_separator_between_groups_of_four_is_ignored(separator: str) -> None:
    assert normalize_code(grouped(CODE, separator)) == CODE


@pytest.mark.parametrize("separator", list(SEPARATORS.values()), ids=list(SEPARATORS))
def test_separator_between_every_digit_is_ignored(separator: str) -> None:
    assert normalize_code(separator.join(CODE)) == CODE


@pytest.mark.parametrize("separator", list(SEPARATORS.values()), ids=list(SEPARATORS))
@pytest.mark.parametrize("system", sorted(DIGIT_SYSTEMS))
def test_separator_inside_code_in_any_digit_system_is_ignored(system: str, separator: str) -> None:
    assert normalize_code(grouped(in_digits(CODE, system), separator, size=5)) == CODE


def test_all_separators_at_once_are_ignored() -> None:
    noise = "".join(SEPARATORS.values())
    assert normalize_code(noise + noise.join(CODE) + noise) == CODE


def test_mixed_digit_systems_in_one_code_map_to_the_same_code() -> None:
    systems = sorted(DIGIT_SYSTEMS)
    mixed = "".join(DIGIT_SYSTEMS[systems[index % len(systems)]][int(char)] for index, char in enumerate(CODE))
    assert normalize_code(mixed) == CODE


def test_persian_and_ascii_halves_map_to_the_same_code() -> None:
    assert normalize_code(in_digits(CODE[:10], "persian") + CODE[10:]) == CODE


@pytest.mark.parametrize("whitespace", WHITESPACE, ids=[f"U+{ord(char):04X}" for char in WHITESPACE])
def test_leading_and_trailing_whitespace_is_ignored(whitespace: str) -> None:
    assert normalize_code(whitespace * 3 + CODE + whitespace * 2) == CODE


@pytest.mark.parametrize(
    ("opening", "closing"),
    [("\u202b", "\u202c"), ("\u202e", "\u202c"), ("\u2067", "\u2069"), ("\u2068", "\u2069"), ("\u200f", "\u200f")],
    ids=["rle-pdf", "rlo-pdf", "rli-pdi", "fsi-pdi", "rlm-rlm"],
)
def test_code_wrapped_in_bidi_controls_by_an_rtl_editor_normalises(opening: str, closing: str) -> None:
    assert normalize_code(opening + in_digits(CODE, "persian") + closing) == CODE


@pytest.mark.parametrize("system", sorted(DIGIT_SYSTEMS))
def test_to_ascii_digits_maps_every_digit_system_to_ascii(system: str) -> None:
    assert to_ascii_digits(DIGIT_SYSTEMS[system]) == "0123456789"


def test_to_ascii_digits_drops_separators() -> None:
    assert to_ascii_digits("۱\u200c۲-۳\u00a0۴\u200e") == "1234"


def test_to_ascii_digits_leaves_other_characters_in_place() -> None:
    assert to_ascii_digits("۱a۲.") == "1a2."


# --- links -------------------------------------------------------------------------

PERSIAN_CODE = in_digits(CODE, "persian")
ENCODED_PERSIAN_CODE = quote(PERSIAN_CODE)


@pytest.mark.parametrize(
    "url",
    [
        f"https://verify.example.ir/v/{CODE}",
        f"https://verify.example.ir/v/{CODE}/",
        f"https://verify.example.ir/v/{CODE}?lang=fa",
        f"http://verify.example.ir/a/b/c/{CODE}",
        f"https://verify.example.ir/documents/{CODE}.pdf",
        f"https://x.ir/check?code={CODE}",
        f"https://x.ir/check?c={CODE}",
        f"https://x.ir/check?sehat={CODE}",
        f"https://x.ir/check?serial={CODE}",
        f"https://x.ir/check?q={CODE}",
        f"https://x.ir/check?lang=fa&token={CODE}&v=2",
        f"https://x.ir/check?CODE={CODE}",
        f"https://x.ir/check?code={ENCODED_PERSIAN_CODE}",
        f"https://x.ir/v/{ENCODED_PERSIAN_CODE}",
        f"https://x.ir/v/{ENCODED_PERSIAN_CODE}.pdf",
        f"https://x.ir/check?code={PERSIAN_CODE}",
        f"https://x.ir/check?code={grouped(CODE, '-')}",
        f"https://x.ir/v/{grouped(CODE, '-')}",
        f"https://x.ir/v/{CODE}#top",
        f"https://x.ir/check?code={CODE}#results",
        f"https://x.ir/#{CODE}",
        f"https://x.ir/#/verify?code={CODE}",
        f"https://x.ir/app#code={CODE}",
        f"www.verify.example.ir/v/{CODE}",
        f"www.x.ir/check?code={CODE}",
        f"HTTPS://VERIFY.EXAMPLE.IR/V/{CODE}",
        f"  https://verify.example.ir/v/{CODE}\n",
    ],
)
def test_code_is_found_in_a_verification_link(url: str) -> None:
    assert normalize_code(url) == CODE


def test_code_parameter_is_preferred_over_other_parameters() -> None:
    assert normalize_code(f"https://x.ir/check?id={OTHER_CODE}&code={CODE}") == CODE


def test_query_parameter_is_preferred_over_path_segment() -> None:
    assert normalize_code(f"https://x.ir/v/{OTHER_CODE}?code={CODE}") == CODE


def test_link_candidate_that_passes_the_check_scheme_is_chosen() -> None:
    url = f"https://x.ir/v/{NOT_LUHN_CODE}?code={LUHN_CODE}&id={NOT_LUHN_CODE}"
    assert normalize_code(url, schemes=("luhn",)) == LUHN_CODE


def test_link_whose_only_code_fails_the_check_scheme_is_bad_check_digit() -> None:
    assert format_error(f"https://x.ir/v/{NOT_LUHN_CODE}", schemes=("luhn",)).reason == "bad_check_digit"


@pytest.mark.parametrize(
    "url",
    [
        "https://verify.example.ir/",
        "https://verify.example.ir/about?lang=fa",
        "www.example.ir",
        "https://x.ir/check?code=123",
        "https://x.ir/check?code=",
        f"https://x.ir/v/{CODE[:19]}",
        f"https://x.ir/v/{CODE}1",
        f"https://x.ir/v/{CODE[:10]}x{CODE[10:]}",
        f"https://x.ir/v/{CODE[:10]}.{CODE[10:]}",
    ],
)
def test_link_without_a_code_is_url_without_code(url: str) -> None:
    assert format_error(url).reason == "url_without_code"


@pytest.mark.parametrize(
    "text",
    ["https://x.ir", "http://x.ir/", "HTTPS://X.IR", "ftp://x.ir/1", "sehat+v1://x", "www.x.ir", "  https://x.ir  "],
)
def test_looks_like_url_recognises_links(text: str) -> None:
    assert looks_like_url(text)


@pytest.mark.parametrize("text", [CODE, PERSIAN_CODE, "x.ir/v/1", "://x.ir", "1http://x.ir", "code: 123", ""])
def test_looks_like_url_rejects_non_links(text: str) -> None:
    assert not looks_like_url(text)


# Regression: urllib.parse.urlsplit raises ValueError for a malformed authority
# (unbalanced IPv6 brackets, a bracketed host that is not an IP address, characters
# that NFKC-normalise to URL delimiters); a QR code or a typed string must still get
# a format error, not a crash.
@pytest.mark.parametrize(
    "raw",
    [
        "http://[1",
        "www.[",
        f"https://x.ir]/v/{CODE}",
        f"http://a\uff03b/{CODE}",
        f"https://[x]/v/{CODE}",
    ],
)
def test_malformed_link_gives_its_one_code_or_a_format_error_never_a_crash(raw: str) -> None:
    try:
        assert normalize_code(raw) == CODE
    except InvalidFormatError as error:
        assert error.reason in {"url_without_code", "bad_characters"}


# --- format errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "schemes", "reason"),
    [
        ("", ("none",), "empty"),
        ("   ", ("none",), "empty"),
        ("\n\t\u00a0", ("none",), "empty"),
        ("\u200c\u200e\u200f", ("none",), "empty"),
        (" - \u2013 ", ("none",), "empty"),
        ("abc", ("none",), "bad_characters"),
        (CODE[:19] + "a", ("none",), "bad_characters"),
        (CODE[:10] + "." + CODE[10:], ("none",), "bad_characters"),
        (CODE[:10] + "/" + CODE[10:], ("none",), "bad_characters"),
        ("١٢٣x", ("none",), "bad_characters"),
        ("123", ("none",), "wrong_length"),
        (CODE[:19], ("none",), "wrong_length"),
        (CODE + "1", ("none",), "wrong_length"),
        (CODE * 2, ("none",), "wrong_length"),
        ("1" * (MAX_INPUT_LENGTH + 1), ("none",), "too_long"),
        ("x" * 10_000, ("none",), "too_long"),
        (NOT_LUHN_CODE, ("luhn",), "bad_check_digit"),
        ("https://verify.example.ir/", ("none",), "url_without_code"),
    ],
)
def test_non_code_gives_invalid_format_error_with_reason(raw: str, schemes: tuple[str, ...], reason: str) -> None:
    assert format_error(raw, schemes).reason == reason


# One input for each reason a text is not a code.
ONE_PER_REASON = pytest.mark.parametrize(
    ("raw", "schemes"),
    [
        ("", ("none",)),
        ("abc", ("none",)),
        ("123", ("none",)),
        ("1" * (MAX_INPUT_LENGTH + 1), ("none",)),
        (NOT_LUHN_CODE, ("luhn",)),
        ("https://verify.example.ir/", ("none",)),
    ],
    ids=["empty", "bad_characters", "wrong_length", "too_long", "bad_check_digit", "url_without_code"],
)


@ONE_PER_REASON
def test_format_error_has_an_english_message(raw: str, schemes: tuple[str, ...]) -> None:
    error = format_error(raw, schemes)
    assert error.message.strip()
    assert not PERSIAN_LETTERS & set(error.message)
    assert str(error) == error.message


@ONE_PER_REASON
def test_format_error_has_a_persian_message(raw: str, schemes: tuple[str, ...]) -> None:
    error = format_error(raw, schemes)
    assert PERSIAN_LETTERS & set(error.message_fa)
    assert error.message_fa != error.message


def test_format_error_is_an_input_error_with_contract_code() -> None:
    error = format_error("abc")
    assert isinstance(error, InputError)
    assert error.as_dict() == {"code": "invalid_format", "message": error.message, "message_fa": error.message_fa}


@pytest.mark.parametrize("length", [19, 21])
@pytest.mark.parametrize("system", sorted(DIGIT_SYSTEMS))
def test_nineteen_or_twenty_one_digits_is_wrong_length_never_not_found(length: int, system: str) -> None:
    digits = (CODE * 2)[:length]
    error = format_error(grouped(in_digits(digits, system), " "))
    assert error.reason == "wrong_length"
    assert error.code == "invalid_format"
    assert "not found" not in error.message.lower()


def test_luhn_scheme_accepts_a_code_with_a_correct_check_digit() -> None:
    assert normalize_code(in_digits(LUHN_CODE, "persian"), schemes=("luhn",)) == LUHN_CODE


def test_code_passing_any_of_several_schemes_is_accepted() -> None:
    mod97_code = complete_code(CODE[:18], "iso7064-mod97-10")
    assert not passes_check(mod97_code, "luhn")
    assert normalize_code(mod97_code, schemes=("luhn", "iso7064-mod97-10")) == mod97_code


def test_code_failing_every_scheme_is_bad_check_digit() -> None:
    assert not passes_check(NOT_LUHN_CODE, "iso7064-mod97-10")
    assert format_error(NOT_LUHN_CODE, ("luhn", "iso7064-mod97-10")).reason == "bad_check_digit"


def test_input_at_the_length_limit_is_not_too_long() -> None:
    raw = CODE + " " * (MAX_INPUT_LENGTH - len(CODE))
    assert normalize_code(raw) == CODE


# --- properties --------------------------------------------------------------------


@st.composite
def noisy_codes(draw: st.DrawFn) -> tuple[str, str]:
    """A random code and a noisy rendering of it: mixed digit systems, separators, padding."""
    code = draw(codes)
    separators = st.lists(st.sampled_from(list(SEPARATORS.values()) + list(WHITESPACE)), max_size=3)
    parts = draw(st.lists(st.sampled_from(WHITESPACE), max_size=3))
    for index, char in enumerate(code):
        system = draw(st.sampled_from(sorted(DIGIT_SYSTEMS)))
        parts.append(DIGIT_SYSTEMS[system][int(char)])
        if index < len(code) - 1:
            parts.extend(draw(separators))
    parts.extend(draw(st.lists(st.sampled_from(WHITESPACE), max_size=3)))
    return code, "".join(parts)


@FAST
@given(noisy_codes())
def test_property_noisy_rendering_normalises_to_the_original_code(case: tuple[str, str]) -> None:
    code, noisy = case
    assert normalize_code(noisy) == code


any_input = st.one_of(
    st.text(max_size=60),
    st.text(alphabet="0123456789۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩ -\u200c\u200ea.", max_size=30),
    st.builds(
        operator.add,
        st.sampled_from(["https://", "http://", "www.", "HTTPS://", "x://"]),
        st.text(max_size=60),
    ),
)


@FAST
@given(any_input)
@example("https://[")
def test_property_any_text_gives_twenty_ascii_digits_or_invalid_format(raw: str) -> None:
    try:
        result = normalize_code(raw)
    except InvalidFormatError:
        return
    assert len(result) == 20
    assert result.isascii()
    assert result.isdigit()


@FAST
@given(codes)
def test_property_path_link_with_query_round_trips(code: str) -> None:
    assert normalize_code(f"https://verify.example.ir/v/{code}?lang=fa") == code


@FAST
@given(codes)
def test_property_query_link_with_persian_digits_round_trips(code: str) -> None:
    assert normalize_code(f"https://x.ir/check?code={in_digits(code, 'persian')}") == code


@FAST
@given(codes)
def test_property_query_link_with_percent_encoded_persian_digits_round_trips(code: str) -> None:
    assert normalize_code(f"https://x.ir/check?code={quote(in_digits(code, 'persian'))}") == code


def test_an_upper_case_www_link_is_a_link() -> None:
    assert normalize_code(f"WWW.X.IR/V/{CODE}") == CODE


# --- what scanners garble ------------------------------------------------------------

# A scanner on the Persian keyboard layout types each Latin letter as the Persian
# letter on the same key; digits and punctuation stay as they are.
_PERSIAN_LAYOUT = str.maketrans(
    "qwertyuiopasdfghjklzxcvbnm",
    "ضصثقفغعهخحشسیبلاتنمظطزرذدپ",
)


@pytest.mark.parametrize(
    "scanned",
    [
        f"https://sehat.example.ir/verify?code={CODE}".translate(_PERSIAN_LAYOUT),
        f"sehat.example.ir/verify?code={CODE}",
        f"sehat.example.ir/v/{CODE}",
        f"{CODE}\r\n",
        f"{CODE}\t",
        f"\n{PERSIAN_CODE}\r",
        f"https://sehat.example.ir/verify/{PERSIAN_CODE}".translate(_PERSIAN_LAYOUT),
        "کد " + PERSIAN_CODE,
    ],
    ids=[
        "persian-layout-link",
        "link-without-scheme",
        "path-without-scheme",
        "crlf",
        "tab",
        "persian-newlines",
        "persian-layout-persian-digits",
        "label",
    ],
)
def test_one_run_of_twenty_digits_in_scanner_noise_is_the_code(scanned: str) -> None:
    assert normalize_code(scanned) == CODE


def test_two_codes_in_one_scan_is_a_format_error_naming_it() -> None:
    error = format_error(f"code={CODE}&other={CODE[::-1]}")
    assert error.reason == "several_codes"
    assert "one code at a time" in error.message


@pytest.mark.parametrize(("digits", "missing"), [(19, "one is missing"), (21, "one too many")])
def test_near_miss_in_scanner_noise_says_how_many_digits_were_found(digits: int, missing: str) -> None:
    run = (CODE * 2)[:digits]
    error = format_error(f"sehat.example.ir/verify?code={run}".translate(_PERSIAN_LAYOUT))
    assert error.digits_found == digits
    assert f"{digits} digits — {missing}" in error.message


def test_nineteen_typed_digits_say_one_is_missing_in_both_languages() -> None:
    error = format_error(CODE[:19])
    assert error.message.startswith("19 digits — one is missing.")
    assert error.message_fa.startswith("۱۹ رقم وارد شده است؛ یک رقم کم است.")


def test_mistyped_letter_is_marked_in_the_echo() -> None:
    pieces = annotate_input(CODE[:10] + "o" + CODE[11:])
    assert [(piece.text, piece.problem) for piece in pieces] == [(CODE[:10], False), ("o", True), (CODE[11:], False)]


def test_echo_keeps_persian_digits_and_separators_unmarked() -> None:
    assert all(not piece.problem for piece in annotate_input("۱۲۳۴-۵۶۷۸ ۹۰"))
