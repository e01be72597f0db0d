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
    │   ├── FutureHeadError         issued further ahead of a sane clock than any registry can be
    │   ├── LengthMismatchError     an object is not the size its head announced
    │   ├── HashMismatchError       an object's SHA-256 is not the one its head announced
    │   ├── ChainGapError           a segment does not continue the chain where it must
    │   ├── DigestMismatchError     applied state differs from the state the head announces
    │   └── UnsealError             a sealed payload does not open with its code
    ├── NothingNewError             an expected non-event: the head is the one already applied
    └── OperatorError               something an operator asked for cannot be done as asked

Callers catch ``FeedError`` to refuse a whole update in one place, and ``InputError``
to answer the asker with the contract's error shape.
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
    "NothingNewError",
    "OperatorError",
    "ReplayedHeadError",
    "SehatError",
    "UnknownKeyError",
    "UnsealError",
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
    "too_long": (
        "The input is far too long to be an authenticity code.",
        "ورودی برای کد صحت بیش از اندازه طولانی است.",
    ),
}


class InvalidFormatError(InputError):
    """The input is not an authenticity code; ``reason`` says why in one word."""

    code = "invalid_format"

    def __init__(self, reason: str) -> None:
        message, message_fa = _FORMAT_MESSAGES[reason]
        super().__init__(message, message_fa)
        self.reason = reason


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


class NothingNewError(SehatError):
    """The head offered is the one already applied: nothing to do, by design not a failure."""

    code = "nothing_new"


class OperatorError(SehatError):
    """A command or setting an operator gave cannot be carried out as given (one clear line, no trace)."""

    code = "operator_error"
