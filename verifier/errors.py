"""Every way input or a feed can be wrong, as named exceptions.

The tree::

    SehatError                      base; carries an English and a Persian message
    ├── InputError                  a person or program gave us something that is not usable
    │   ├── InvalidFormatError      not an authenticity code (reason in ``.reason``)
    │   └── InvalidNationalIdError  not a valid national ID (reason in ``.reason``)
    ├── FeedError                   untrusted feed data failed verification (``.object_name``)
    │   ├── MalformedObjectError    not parseable, or fields of the wrong shape
    │   ├── WrongIssuerError        an object of another issuer
    │   ├── UnknownKeyError         signed by a key the trust anchor does not vouch for
    │   ├── BadSignatureError       a signature does not verify
    │   ├── ExpiredHeadError        the head's validity has run out (a frozen feed)
    │   ├── ReplayedHeadError       older than a head already accepted (rollback)
    │   ├── FutureHeadError         issued further ahead of the box's time than any registry can be
    │   ├── OverlongHeadError       valid for longer than a head made for its channel may be
    │   ├── WrongChannelError       a head made for a USB bundle, served over HTTP
    │   ├── LengthMismatchError     an object is not the size its head announced
    │   ├── HashMismatchError       an object's SHA-256 is not the one its head announced
    │   ├── ChainGapError           a segment does not continue the chain where it must
    │   ├── DigestMismatchError     applied state differs from the state the head announces
    │   └── UnsealError             a sealed payload does not open with its code
    ├── ReceiptError                a verification receipt that cannot be trusted as given
    │   ├── MalformedReceiptError   not receipt text, cut short, or content not exactly a receipt's
    │   │   └── ReceiptVersionError a receipt format this program does not know
    │   ├── ReceiptSignatureError   the signature does not verify: altered since it was signed, or forged
    │   └── WrongBoxReceiptError    signed by another box than the one it is checked against
    ├── NothingNewError             an expected non-event: the head is the one already applied
    └── OperatorError               something an operator asked for cannot be done as asked

Callers catch ``FeedError`` to refuse a whole update in one place, ``InputError``
to answer the asker with the contract's error shape, and ``ReceiptError`` to say why a
printed receipt cannot be trusted.
"""

from __future__ import annotations

__all__ = [
    "BadSignatureError",
    "ChainGapError",
    "DigestMismatchError",
    "ExpiredHeadError",
    "FeedError",
    "FutureHeadError",
    "HashMismatchError",
    "InputError",
    "InvalidFormatError",
    "InvalidNationalIdError",
    "LengthMismatchError",
    "MalformedObjectError",
    "MalformedReceiptError",
    "NothingNewError",
    "OperatorError",
    "OverlongHeadError",
    "ReceiptError",
    "ReceiptSignatureError",
    "ReceiptVersionError",
    "ReplayedHeadError",
    "SehatError",
    "UnknownKeyError",
    "UnsealError",
    "WrongBoxReceiptError",
    "WrongChannelError",
    "WrongIssuerError",
]


class SehatError(Exception):
    """Base of all Sehat errors: a message for people in English and in Persian."""

    code = "error"

    def __init__(self, message: str, message_fa: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.message_fa = message_fa or message

    def as_dict(self) -> dict[str, str]:
        """The contract's error object: ``{"code", "message", "message_fa"}``."""
        return {"code": self.code, "message": self.message, "message_fa": self.message_fa}


class InputError(SehatError):
    """Input from a person or a program that cannot be used as given."""


_FORMAT_MESSAGES: dict[str, tuple[str, str]] = {
    "empty": (
        "No code was given.",
        "کدی وارد نشده است.",
    ),
    "bad_characters": (
        "An authenticity code holds only digits; the input has other characters.",
        "کد صحت فقط از رقم تشکیل می‌شود؛ ورودی نویسه‌های دیگری دارد.",
    ),
    "wrong_length": (
        "An authenticity code has exactly 20 digits.",
        "کد صحت دقیقاً ۲۰ رقم دارد.",
    ),
    "bad_check_digit": (
        "The code's check digits do not match; it was probably mistyped.",
        "رقم کنترلی کد درست نیست؛ احتمالاً کد اشتباه وارد شده است.",
    ),
    "url_without_code": (
        "The link does not contain an authenticity code.",
        "این پیوند کد صحتی در خود ندارد.",
    ),
    "several_codes": (
        "The input holds more than one 20-digit number; scan or type one code at a time.",
        "ورودی بیش از یک عدد ۲۰ رقمی دارد؛ هر بار یک کد را اسکن یا وارد کنید.",
    ),
    "too_long": (
        "The input is far too long to be an authenticity code.",
        "ورودی برای کد صحت بیش از اندازه طولانی است.",
    ),
}

_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
_PERSIAN_COUNTS = {1: "یک", 2: "دو", 3: "سه", 4: "چهار", 5: "پنج"}


def _count_fa(number: int) -> str:
    return _PERSIAN_COUNTS.get(number, str(number).translate(_PERSIAN_DIGITS))


def _digits_found(found: int) -> tuple[str, str]:
    """ "19 digits — one is missing", in both languages: what a person needs to fix a typo."""
    found_fa = str(found).translate(_PERSIAN_DIGITS)
    if found < 20:
        missing = 20 - found
        en = "one is missing" if missing == 1 else f"{missing} are missing"
        return f"{found} digits — {en}.", f"{found_fa} رقم وارد شده است؛ {_count_fa(missing)} رقم کم است."
    extra = found - 20
    en = "one too many" if extra == 1 else f"{extra} too many"
    return f"{found} digits — {en}.", f"{found_fa} رقم وارد شده است؛ {_count_fa(extra)} رقم اضافه است."


class InvalidFormatError(InputError):
    """The input is not an authenticity code; ``reason`` says why in one word.

    ``digits_found`` is the length of the longest run of digits in the input, when
    that helps the person correct it (19 digits: one is missing).
    """

    code = "invalid_format"

    def __init__(self, reason: str, digits_found: int | None = None) -> None:
        message, message_fa = _FORMAT_MESSAGES[reason]
        if digits_found and digits_found != 20 and reason in ("wrong_length", "bad_characters"):
            found_en, found_fa = _digits_found(digits_found)
            message, message_fa = f"{found_en} {message}", f"{found_fa} {message_fa}"
        super().__init__(message, message_fa)
        self.reason = reason
        self.digits_found = digits_found


_NATIONAL_ID_MESSAGES: dict[str, tuple[str, str]] = {
    "not_digits": (
        "A national ID holds only digits.",
        "کد ملی فقط از رقم تشکیل می‌شود.",
    ),
    "wrong_length": (
        "A national ID has exactly 10 digits.",
        "کد ملی دقیقاً ۱۰ رقم دارد.",
    ),
    "bad_check_digit": (
        "This is not a valid national ID (its check digit does not match).",
        "این کد ملی معتبر نیست (رقم کنترل آن درست نیست).",
    ),
}


class InvalidNationalIdError(InputError):
    """The national ID given is not a valid one."""

    code = "invalid_national_id"

    def __init__(self, reason: str) -> None:
        message, message_fa = _NATIONAL_ID_MESSAGES[reason]
        super().__init__(message, message_fa)
        self.reason = reason


class FeedError(SehatError):
    """Feed data that failed verification; ``object_name`` names the object at fault."""

    code = "feed_error"
    _fa_template = "داده‌های به‌روزرسانی «{object}» پذیرفته نشد: {detail}"

    def __init__(self, object_name: str, detail: str) -> None:
        super().__init__(f"{object_name}: {detail}", self._fa_template.format(object=object_name, detail=detail))
        self.object_name = object_name
        self.detail = detail


class MalformedObjectError(FeedError):
    code = "malformed"


class WrongIssuerError(FeedError):
    code = "wrong_issuer"


class UnknownKeyError(FeedError):
    code = "unknown_key"


class BadSignatureError(FeedError):
    code = "bad_signature"


class ExpiredHeadError(FeedError):
    code = "expired"


class ReplayedHeadError(FeedError):
    code = "replayed"


class FutureHeadError(FeedError):
    code = "from_the_future"


class OverlongHeadError(FeedError):
    code = "overlong_lifetime"


class WrongChannelError(FeedError):
    code = "wrong_channel"


class LengthMismatchError(FeedError):
    code = "length_mismatch"


class HashMismatchError(FeedError):
    code = "hash_mismatch"


class ChainGapError(FeedError):
    code = "chain_gap"


class DigestMismatchError(FeedError):
    code = "digest_mismatch"


class UnsealError(FeedError):
    code = "unseal_failed"


class ReceiptError(SehatError):
    """A verification receipt that cannot be trusted as given; ``detail`` says what is wrong, in English."""

    code = "receipt_error"

    def __init__(self, message: str, message_fa: str, detail: str = "") -> None:
        super().__init__(message, message_fa)
        self.detail = detail or message


class MalformedReceiptError(ReceiptError):
    """Not receipt text, cut short or damaged, or its content is not exactly a receipt's."""

    code = "malformed_receipt"

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"This is not a valid Sehat receipt: {detail}.",
            "این متن رسید معتبر «صحت» نیست؛ ممکن است ناقص یا آسیب‌دیده باشد.",
            detail,
        )


class ReceiptVersionError(MalformedReceiptError):
    """A receipt in a format this program does not know (made by newer software)."""

    code = "receipt_version"

    def __init__(self, version: str) -> None:
        ReceiptError.__init__(
            self,
            f"This receipt is in format {version}, which this program does not know; update Sehat to check it.",
            f"این رسید در قالب {version} است که این نسخه از «صحت» آن را نمی‌شناسد؛ "
            "برای بررسی آن، نرم‌افزار را به‌روز کنید.",
            f"unknown receipt format {version}",
        )
        self.version = version


class ReceiptSignatureError(ReceiptError):
    """The signature does not verify: the receipt was altered after the box signed it, or it is forged."""

    code = "receipt_bad_signature"

    def __init__(self) -> None:
        super().__init__(
            "The receipt's signature does not verify: it was altered after the box signed it, or it is forged.",
            "امضای این رسید درست نیست: یا پس از امضای دستگاه تغییر کرده یا ساختگی است.",
        )


class WrongBoxReceiptError(ReceiptError):
    """The receipt was signed by another box than the one it is checked against (``.key_id``, ``.expected``)."""

    code = "receipt_wrong_box"

    def __init__(self, key_id: str, expected: str) -> None:
        super().__init__(
            f"This receipt was signed by another box (key {key_id}), not by the box with key {expected}.",
            f"این رسید را دستگاه دیگری (با کلید {key_id}) امضا کرده است، نه دستگاهی که کلیدش {expected} است.",
        )
        self.key_id = key_id
        self.expected = expected


class NothingNewError(SehatError):
    """The head offered is the one already applied: nothing to do, by design not a failure."""

    code = "nothing_new"


class OperatorError(SehatError):
    """A command or setting an operator gave cannot be carried out as given (one clear line, no trace)."""

    code = "operator_error"
