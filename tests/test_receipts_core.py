"""Signed receipts in the pure core: round trips, every way a receipt can be wrong, and what it must not hold."""

from __future__ import annotations

import base64
import json
import random
import re
import zlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import qrcode
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from verifier import receipt as receipt_module
from verifier.errors import (
    MalformedReceiptError,
    ReceiptError,
    ReceiptSignatureError,
    ReceiptVersionError,
    WrongBoxReceiptError,
)
from verifier.receipt import (
    ISSUE_MAX_CHARS,
    MAX_RECEIPT_CHARS,
    MAX_TEXT_CHARS,
    Receipt,
    SignedReceipt,
    check_receipt,
    encode_receipt,
    format_reference,
    make_receipt,
    parse_receipt,
    receipt_key_id,
    sign_receipt,
    verify_receipt,
)
from verifier.records import Revocation, Supersession
from verifier.sealing import KdfParams, derive_record_keys
from verifier.signing import public_key_bytes
from verifier.verdict import HolderView, IssuerInfo, ReplicaInfo, Status, Verdict, verdict_invalid_format

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CODE = "40318845066190572213"
NATIONAL_ID = "0499370899"
REFERENCE = "7K3QD-9VX2M"
QR_ALPHANUMERIC = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


# --- factories -----------------------------------------------------------------------------------


def make_key(seed: int = 1) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)


def key_id_of(key: Ed25519PrivateKey) -> str:
    return receipt_key_id(public_key_bytes(key))


def make_verdict(status: Status = Status.VALID, **overrides: Any) -> Verdict:
    """A verdict as the box gives it for a found record (or ``not_found``), with keyword overrides."""
    fields: dict[str, Any] = {
        "status": status,
        "code": CODE,
        "checked_at": NOW,
        "replica": ReplicaInfo(seq=42, as_of=datetime(2026, 11, 23, 6, 0, tzinfo=UTC), stale=False),
    }
    if status is not Status.NOT_FOUND:
        fields.update(
            issuer=IssuerInfo("msrt", "وزارت علوم، تحقیقات و فناوری", "Ministry of Science, Research and Technology"),
            document={
                "type": "diploma",
                "degree_level": "کارشناسی ارشد",
                "field": "مهندسی کامپیوتر",
                "institution": "دانشگاه صنعتی شریف",
                "issued_on": "2022-08-25",
            },
            holder=HolderView("نیما کریمی‌پور", "******0899", None),
        )
    if status is Status.REVOKED:
        fields["revocation"] = Revocation("صدور اشتباه", "2026-01-02")
    if status is Status.SUPERSEDED:
        fields["superseded_by"] = Supersession("diploma", "2023-03-01", "…7731")
    fields.update(overrides)
    return Verdict(**fields)


def make_signed(
    verdict: Verdict | None = None, key: Ed25519PrivateKey | None = None, **receipt_overrides: Any
) -> SignedReceipt:
    key = key or make_key()
    receipt = make_receipt(
        verdict or make_verdict(), box_name="میز منابع انسانی", box_key_id=key_id_of(key), reference=REFERENCE
    )
    return sign_receipt(replace(receipt, **receipt_overrides), key)


@pytest.fixture
def text() -> str:
    return encode_receipt(make_signed())


def pack(content: bytes, signature: bytes = b"\0" * 64, prefix: str = "SEHAT-R1:") -> str:
    """Receipt text around arbitrary content bytes, deflated as the format does: for shapes no box would sign."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, receipt_module._DEFLATE_DICTIONARY)
    packed = compressor.compress(content) + compressor.flush()
    b32: Callable[[bytes], str] = lambda data: base64.b32encode(data).decode().rstrip("=")  # noqa: E731
    return f"{prefix}{b32(packed)}.{b32(signature)}"


def content_of(receipt: Receipt) -> dict[str, Any]:
    return receipt.to_dict()


def utf8_json(content: dict[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# --- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.VALID, Status.REVOKED, Status.SUPERSEDED, Status.NOT_FOUND])
def test_sign_encode_parse_verify_gives_back_the_same_receipt(status: Status) -> None:
    signed = make_signed(make_verdict(status))
    checked = check_receipt(encode_receipt(signed), public_key_bytes(make_key()))
    assert checked == signed.receipt


def test_receipt_carries_what_the_page_prints() -> None:
    receipt = make_signed(make_verdict(holder=HolderView("نیما کریمی‌پور", "******0899", False))).receipt
    assert receipt.reference == REFERENCE
    assert receipt.box_name == "میز منابع انسانی"
    assert receipt.box_key_id == key_id_of(make_key())
    assert receipt.checked_at == NOW
    assert receipt.status is Status.VALID
    assert receipt.national_id_match is False
    assert receipt.holder_mismatch
    assert receipt.code == CODE
    assert receipt.issuer is not None and receipt.issuer.name_en == "Ministry of Science, Research and Technology"
    assert receipt.document is not None and receipt.document.institution == "دانشگاه صنعتی شریف"
    assert receipt.replica.seq == 42
    assert receipt.version == 1


def test_stale_data_is_signed_into_the_receipt() -> None:
    stale = ReplicaInfo(seq=42, as_of=datetime(2026, 10, 1, tzinfo=UTC), stale=True)
    text = encode_receipt(make_signed(make_verdict(replica=stale)))
    assert check_receipt(text, public_key_bytes(make_key())).replica.stale is True


def test_receipt_text_uses_only_qr_alphanumeric_characters(text: str) -> None:
    assert set(text) <= QR_ALPHANUMERIC


def test_a_typical_receipt_fits_a_qr_that_prints_legibly_at_4_cm(text: str) -> None:
    """Version 15 at level M is 77 modules: over half a millimetre each on a 4 cm square with its quiet zone."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(text)
    code.make(fit=True)
    assert len(text) < 500
    assert code.version <= 15


@pytest.mark.parametrize("alphabet", ["ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهی", "中文字符测试数据", "😀😃😄😁😆😅🤣😂"])
def test_the_longest_free_text_is_clipped_to_fit_a_printable_qr(alphabet: str) -> None:
    chooser = random.Random(7)

    def long_text() -> str:
        return "".join(chooser.choice(alphabet) for _ in range(1000))

    verdict = make_verdict(
        Status.REVOKED,
        revocation=Revocation(long_text(), "2026-01-02"),
        holder=HolderView(long_text(), "******0899", True),
        document={
            "type": "provisional",
            "degree_level": long_text(),
            "field": long_text(),
            "institution": long_text(),
            "issued_on": "2021-02-28",
        },
        issuer=IssuerInfo("msrt", long_text(), long_text()),
    )
    key = make_key()
    receipt = make_receipt(verdict, box_name=long_text(), box_key_id=key_id_of(key), reference=REFERENCE)
    text = encode_receipt(sign_receipt(receipt, key))
    assert receipt.holder is not None and len(receipt.holder.name) <= MAX_TEXT_CHARS
    assert receipt.holder.name.endswith("…")
    assert len(text) <= ISSUE_MAX_CHARS
    assert check_receipt(text, public_key_bytes(key)) == receipt


def test_line_breaks_from_copying_are_ignored(text: str) -> None:
    wrapped = "\n".join(text[start : start + 60] for start in range(0, len(text), 60))
    assert parse_receipt(wrapped) == parse_receipt(text)


def test_input_that_is_not_a_code_has_no_receipt() -> None:
    from verifier.errors import InvalidFormatError

    verdict = verdict_invalid_format(InvalidFormatError("empty"), NOW)
    with pytest.raises(ValueError, match="only a verdict about a code"):
        make_receipt(verdict, box_name="box", box_key_id=key_id_of(make_key()), reference=REFERENCE)


def test_a_key_cannot_sign_a_receipt_naming_another_key() -> None:
    receipt = make_signed().receipt
    with pytest.raises(ValueError, match="another box key"):
        sign_receipt(receipt, make_key(2))


# --- every way a receipt can be wrong ------------------------------------------------------------


def test_altered_content_is_a_bad_signature() -> None:
    signed = make_signed()
    assert signed.receipt.holder is not None
    altered = replace(signed.receipt, holder=replace(signed.receipt.holder, name="کس دیگر"))
    with pytest.raises(ReceiptSignatureError):
        check_receipt(encode_receipt(SignedReceipt(altered, signed.signature)), public_key_bytes(make_key()))


def test_altered_status_is_a_bad_signature() -> None:
    signed = make_signed(make_verdict(Status.NOT_FOUND))
    altered = replace(signed.receipt, replica=replace(signed.receipt.replica, seq=43))
    with pytest.raises(ReceiptSignatureError):
        check_receipt(encode_receipt(SignedReceipt(altered, signed.signature)), public_key_bytes(make_key()))


def test_altered_signature_is_a_bad_signature(text: str) -> None:
    last = "A" if text[-1] != "A" else "B"
    with pytest.raises(ReceiptSignatureError):
        check_receipt(text[:-2] + last + text[-1], public_key_bytes(make_key()))


def test_any_flipped_character_is_refused(text: str) -> None:
    public_key = public_key_bytes(make_key())
    start = len("SEHAT-R1:")
    for position in range(start, len(text), 7):
        if text[position] == ".":
            continue
        flipped = text[:position] + ("A" if text[position] != "A" else "Q") + text[position + 1 :]
        with pytest.raises(ReceiptError):
            check_receipt(flipped, public_key)


@pytest.mark.parametrize("keep", [0.9, 0.6, 0.3, 0.05], ids=["in-signature", "late", "early", "prefix"])
def test_truncated_text_is_malformed(text: str, keep: float) -> None:
    with pytest.raises(MalformedReceiptError):
        parse_receipt(text[: int(len(text) * keep)])


def test_text_cut_at_the_signature_is_malformed(text: str) -> None:
    with pytest.raises(MalformedReceiptError, match="signature is missing"):
        parse_receipt(text.split(".")[0])


def test_another_boxs_key_is_refused_as_another_box(text: str) -> None:
    with pytest.raises(WrongBoxReceiptError) as raised:
        check_receipt(text, public_key_bytes(make_key(2)))
    assert raised.value.key_id == key_id_of(make_key())
    assert raised.value.expected == key_id_of(make_key(2))


def test_a_receipt_relabelled_with_another_boxs_fingerprint_is_a_bad_signature() -> None:
    """The fingerprint is inside the signed part: relabelling a receipt as box 3's does not make box 3 vouch for it."""
    signed = make_signed()
    renamed = replace(signed.receipt, box_key_id=key_id_of(make_key(3)))
    with pytest.raises(ReceiptSignatureError):
        check_receipt(encode_receipt(SignedReceipt(renamed, signed.signature)), public_key_bytes(make_key(3)))


def test_an_unknown_format_version_is_named(text: str) -> None:
    with pytest.raises(ReceiptVersionError) as raised:
        parse_receipt(text.replace("SEHAT-R1:", "SEHAT-R2:", 1))
    assert raised.value.version == "R2"


def test_content_declaring_another_version_is_refused() -> None:
    content = content_of(make_signed().receipt)
    content["version"] = 2
    with pytest.raises(ReceiptVersionError):
        parse_receipt(pack(utf8_json(content)))


@pytest.mark.parametrize(
    "bad",
    ["", "12345678901234567890", "https://example.ir/verify/123", "SEHAT-R:ABC.DEF", "SEHAT-R1:", "SEHAT-Rx:AB.CD"],
)
def test_text_that_is_no_receipt_is_malformed(bad: str) -> None:
    with pytest.raises(MalformedReceiptError):
        parse_receipt(bad)


def test_far_too_long_text_is_refused_before_decoding() -> None:
    with pytest.raises(MalformedReceiptError, match="too long"):
        parse_receipt("SEHAT-R1:" + "A" * (MAX_RECEIPT_CHARS + 1) + "." + "A" * 103)


def test_lower_case_text_is_malformed(text: str) -> None:
    with pytest.raises(MalformedReceiptError, match="base32"):
        parse_receipt("SEHAT-R1:" + text[len("SEHAT-R1:") :].lower())


def test_a_second_spelling_of_the_same_base32_is_malformed(text: str) -> None:
    """The signature's last character carries 4 unused bits; setting them spells the same bytes differently."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    last = alphabet[alphabet.index(text[-1]) | 1]
    assert last != text[-1], "the canonical last character has its unused bits clear"
    with pytest.raises(MalformedReceiptError, match="canonical base32"):
        parse_receipt(text[:-1] + last)


def test_content_that_inflates_beyond_the_bound_is_malformed() -> None:
    with pytest.raises(MalformedReceiptError, match="too large"):
        parse_receipt(pack(b"{" + b" " * 100_000 + b"}"))


def test_content_with_trailing_bytes_is_malformed(text: str) -> None:
    content_part, signature_part = text[len("SEHAT-R1:") :].split(".")
    packed = base64.b32decode(content_part + "=" * (-len(content_part) % 8)) + b"\0\0\0\0\0"
    padded = base64.b32encode(packed).decode().rstrip("=")
    with pytest.raises(MalformedReceiptError, match="after the content"):
        parse_receipt(f"SEHAT-R1:{padded}.{signature_part}")


def test_content_not_in_compact_sorted_form_is_malformed() -> None:
    content = json.dumps(content_of(make_signed().receipt), ensure_ascii=False, indent=1).encode()
    with pytest.raises(MalformedReceiptError, match="canonical form"):
        parse_receipt(pack(content))


def test_content_with_duplicate_keys_is_malformed() -> None:
    content = utf8_json(content_of(make_signed().receipt))
    with pytest.raises(MalformedReceiptError, match="duplicate"):
        parse_receipt(pack(content[:-1] + b',"code":"' + CODE.encode() + b'"}'))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("lookup_id",), "ab" * 16),
        (("holder", "national_id"), NATIONAL_ID),
        (("box", "public_key"), "AAAA"),
    ],
    ids=["lookup-id", "full-national-id", "box-key"],
)
def test_an_extra_field_is_malformed(path: tuple[str, ...], value: str) -> None:
    content = content_of(make_signed().receipt)
    target = content
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with pytest.raises(MalformedReceiptError, match="unexpected"):
        Receipt.from_dict(content)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("code", "1234"),
        ("status", "invalid_format"),
        ("reference", "ABCDE-FGHIL"),
        ("checked_at", "2026-11-23 09:00"),
        ("revocation", {"reason": "x", "revoked_on": "2026-01-01"}),
        ("holder", None),
        ("version", True),
    ],
)
def test_a_field_out_of_shape_is_malformed(field: str, value: object) -> None:
    content = content_of(make_signed().receipt)
    content[field] = value
    with pytest.raises(MalformedReceiptError):
        Receipt.from_dict(content)


def test_a_not_found_receipt_carrying_a_record_is_malformed() -> None:
    content = content_of(make_signed().receipt)
    content["status"] = "not_found"
    with pytest.raises(MalformedReceiptError, match="carries a record"):
        Receipt.from_dict(content)


def test_receipt_errors_speak_both_languages(text: str) -> None:
    with pytest.raises(ReceiptError) as raised:
        check_receipt(text, public_key_bytes(make_key(2)))
    assert raised.value.code == "receipt_wrong_box"
    assert raised.value.message and raised.value.message_fa != raised.value.message


# --- what a receipt must not hold ----------------------------------------------------------------


def _leaves(value: object, path: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        found: dict[str, object] = {}
        for key, item in value.items():
            found.update(_leaves(item, f"{path}.{key}" if path else key))
        return found
    return {path: value}


def test_the_receipt_holds_exactly_the_printed_facts() -> None:
    signed = make_signed(make_verdict(Status.REVOKED, superseded_by=Supersession("diploma", "2023-03-01", "…7731")))
    assert set(_leaves(signed.receipt.to_dict())) == {
        "version",
        "reference",
        "box.name",
        "box.key_id",
        "checked_at",
        "status",
        "code",
        "issuer.id",
        "issuer.name_fa",
        "issuer.name_en",
        "document.type",
        "document.degree_level",
        "document.field",
        "document.institution",
        "document.issued_on",
        "holder.name",
        "holder.national_id_masked",
        "holder.national_id_match",
        "revocation.reason",
        "revocation.revoked_on",
        "superseded_by.document_type",
        "superseded_by.issued_on",
        "superseded_by.code_hint",
        "replica.seq",
        "replica.as_of",
        "replica.stale",
    }


def test_the_receipt_holds_no_lookup_id_key_or_full_national_id(text: str) -> None:
    record_keys = derive_record_keys(CODE, "msrt", KdfParams(log2_n=1))
    key = make_key()
    private = key.private_bytes_raw()
    signed = parse_receipt(text)
    content = utf8_json(signed.receipt.to_dict())
    secrets_in_any_form = [
        secret
        for raw in (record_keys.lookup_id, record_keys.payload_key, private, public_key_bytes(key))
        for secret in (raw, raw.hex().encode(), base64.b64encode(raw), base64.b32encode(raw).rstrip(b"="))
    ]
    for secret in secrets_in_any_form:
        assert secret not in content
        assert secret.decode("latin-1") not in text
    assert NATIONAL_ID.encode() not in content


# --- references and fingerprints -----------------------------------------------------------------


def test_a_reference_is_ten_typable_characters() -> None:
    reference = format_reference(bytes(range(7)))
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}", reference)


def test_different_randomness_makes_different_references() -> None:
    assert format_reference(b"\0" * 7) != format_reference(b"\0" * 6 + b"\x40")


def test_a_reference_needs_enough_randomness() -> None:
    with pytest.raises(ValueError, match="random bytes"):
        format_reference(b"\0" * 6)


def test_a_key_fingerprint_is_four_groups_of_four() -> None:
    assert re.fullmatch(r"([0-9A-HJKMNP-TV-Z]{4}-){3}[0-9A-HJKMNP-TV-Z]{4}", key_id_of(make_key()))
    assert key_id_of(make_key()) != key_id_of(make_key(2))


def test_verify_receipt_returns_the_receipt_it_checked() -> None:
    signed = make_signed()
    assert verify_receipt(signed, public_key_bytes(make_key())) is signed.receipt
