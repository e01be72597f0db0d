"""Signed verification receipts: a record of one verdict that anyone can later prove a box issued.

An HR officer checks a diploma at the box and files the printed page. Months later an
auditor must be able to tell that the page is what that box said, not something typed
up since. So the box signs what it printed, and the page carries the signed text in a
QR code: whoever holds the box's public key checks it offline, with no access to the
box or its data.

Why this shape:

- **What is printed is what is signed.** The receipt holds every fact the page shows
  — verdict, issuer, document, holder, masked national ID and whether it matched, the
  code, the time, the box, the replica's sequence and date — in the same field names as
  the verification API's verdict, plus the box, a reference number and a format version.
- **Nothing in it opens another record.** It carries the code it is about (which opens
  only this record, whose contents the page already shows) and none of the lookup id,
  sealing keys, box keys or replica data a stranger could use to read any other record.
  The national ID appears only masked, as in the verdict.
- **Small enough for a QR that prints legibly at 4 cm.** The text is
  ``SEHAT-R1:<base32(deflate(JSON))>.<base32(signature)>``. Upper-case base32 lets the QR
  use its alphanumeric mode (5.5 bits a character, against 8 for base64 in byte mode);
  the JSON is UTF-8 (Persian escaped as ``\\uXXXX`` would triple it) and deflated with a
  fixed preset dictionary of the field names and the words academic records repeat.
  Measured: a typical receipt is 420–500 characters, a QR of version 13–14 at
  error-correction level M (69–73 modules, about 0.5 mm each at 4 cm); a long revocation
  reason makes it version 16; a receipt without a record (``not_found``) version 11. Free
  text is clipped at ``MAX_TEXT_CHARS``, and further when it must be, so that no receipt
  exceeds ``ISSUE_MAX_CHARS`` (version 27, still 0.3 mm modules). Sign, deflate and
  encode take about 0.2 ms, of which Ed25519 is 0.07 ms.
- **One meaning per text.** The signature (Ed25519) is over the canonical JSON of
  ``verifier.canonical`` behind a context string, so no other signed object of the
  project can pass for a receipt. Parsing is strict: bounded length, the exact fields
  with the exact types, canonical base32, and JSON in exactly the compact sorted form;
  several deflate streams can inflate to the same JSON, which changes nothing signed.
- **The box is named by a short fingerprint of its key** (80 bits, Crockford base32,
  ``XXXX-XXXX-XXXX-XXXX``), printed on the page and inside the receipt, so a receipt
  from another box is refused as such rather than as "forged".

Pure: keys, time and randomness are arguments; no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import zlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from verifier.canonical import canonical_json, field_problems, format_timestamp, parse_json_object, parse_timestamp
from verifier.errors import (
    MalformedObjectError,
    MalformedReceiptError,
    ReceiptSignatureError,
    ReceiptVersionError,
    WrongBoxReceiptError,
)
from verifier.records import DOCUMENT_TYPES, Document, Revocation, Supersession
from verifier.signing import ISSUER_ID_PATTERN, public_key_bytes
from verifier.verdict import HolderView, IssuerInfo, ReplicaInfo, Status, Verdict

__all__ = [
    "ISSUE_MAX_CHARS",
    "MAX_BOX_NAME_CHARS",
    "MAX_RECEIPT_CHARS",
    "MAX_TEXT_CHARS",
    "RECEIPT_PREFIX",
    "RECEIPT_STATUSES",
    "RECEIPT_VERSION",
    "REFERENCE_ENTROPY_BYTES",
    "Receipt",
    "SignedReceipt",
    "can_receipt",
    "check_receipt",
    "encode_receipt",
    "format_reference",
    "make_receipt",
    "parse_receipt",
    "receipt_key_id",
    "sign_receipt",
    "verify_receipt",
]

RECEIPT_VERSION = 1
RECEIPT_PREFIX = "SEHAT-R"  # followed by the version and a colon: SEHAT-R1:
MAX_RECEIPT_CHARS = 3000  # characters of receipt text a reader accepts; a QR of version 40-M holds 3391
ISSUE_MAX_CHARS = 1600  # characters of receipt text a box makes at most: a QR of version 27-M, 0.3 mm modules at 4 cm
MAX_CONTENT_BYTES = 4096  # bytes of JSON once inflated; a bound on what a hostile text can make us allocate
MAX_TEXT_CHARS = 160  # characters of any one free-text field (name, institution, reason, …); longer is clipped
MAX_BOX_NAME_CHARS = 64  # characters of the box's name
REFERENCE_ENTROPY_BYTES = 7  # random bytes a reference is made from (50 of their bits are used)
RECEIPT_STATUSES = frozenset({Status.VALID, Status.REVOKED, Status.SUPERSEDED, Status.NOT_FOUND})

_SIGNING_CONTEXT = b"sehat/receipt/v1\n"
_SIGNATURE_BYTES = 64
# The most deflated content a box puts in a receipt: text of at most ISSUE_MAX_CHARS ("SEHAT-R1:", base32, ".",
# 103 characters of signature).
_MAX_PACKED_BYTES = (ISSUE_MAX_CHARS - len("SEHAT-R1:.") - 103) * 5 // 8
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_REFERENCE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$")
_KEY_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$")
_CODE = re.compile(r"^[0-9]{20}$")
_MASKED_NATIONAL_ID = re.compile(r"^\*{6}[0-9]{4}$")
_BASE32 = re.compile(r"^[A-Z2-7]+$")
_NAME = "receipt"
_FIELDS = frozenset(
    {"version", "reference", "box", "checked_at", "status", "code", "issuer", "document", "holder"}
    | {"revocation", "superseded_by", "replica"}
)

# The preset dictionary of the deflate stream: part of format R1, never to change within it.
# Deflate finds repeats in it as if it preceded the text; the nearer the end, the cheaper a
# match, so the field skeleton of a receipt comes last and the vocabulary of records before it.
_DEFLATE_DICTIONARY = (
    "Ministry of Health and Medical Education Islamic Azad University Jamiat al-Zahra Seminaries "
    "Ministry of Science, Research and Technology University of "
    "وزارت بهداشت، درمان و آموزش پزشکی جامعة‌الزهرا مرکز مدیریت حوزه‌های علمیه خواهران حوزه علمیه "
    "وزارت علوم، تحقیقات و فناوری دکتری تخصصی دکتری حرفه‌ای کاردانی سطح ۲ سطح ۳ سطح ۴ "
    "مهندسی کامپیوتر مهندسی برق مهندسی مکانیک مهندسی عمران مهندسی صنایع مدیریت بازرگانی حسابداری حقوق "
    "روان‌شناسی علوم تربیتی زبان و ادبیات فارسی پزشکی پرستاری فقه و اصول "
    "دانشگاه علوم پزشکی تهران دانشگاه صنعتی دانشگاه آزاد اسلامی واحد تهران شمال "
    "محمد علی حسین رضا زهرا فاطمه مریم زینب احمدی محمدی حسینی رضایی کریمی‌پور "
    "ابطال به درخواست دانشگاه "
    '{"box":{"key_id":"","name":""},"checked_at":"2026-","code":"","document":{"degree_level":"کارشناسی ارشد",'
    '"field":"","institution":"دانشگاه ","issued_on":"20","type":"provisional"},"holder":{"name":"",'
    '"national_id_masked":"******","national_id_match":null},"issuer":{"id":"","name_en":"","name_fa":""},'
    '"reference":"","replica":{"as_of":"2026-","seq":,"stale":false},"revocation":{"reason":"","revoked_on":""},'
    '"status":"not_found","superseded_by":{"code_hint":"…","document_type":"diploma","issued_on":""},'
    '"version":1}{"box":{"key_id":"","name":""},"checked_at":"20","code":"","document":{"degree_level":"کارشناسی",'
    '"field":"","institution":"دانشگاه ","issued_on":"20","type":"diploma"},"holder":{"name":"",'
    '"national_id_masked":"******","national_id_match":true},"issuer":{"id":"","name_en":"","name_fa":""},'
    '"reference":"","replica":{"as_of":"20","seq":,"stale":false},"revocation":null,"status":"valid",'
    '"superseded_by":null,"version":1}'
).encode()


@dataclass(frozen=True)
class Receipt:
    """Everything the printed page shows about one verdict, as the box signs it.

    ``holder`` (with the masked national ID and whether a typed one matched), ``issuer``
    and ``document`` are present for a record that was found and absent for ``not_found``;
    ``revocation`` only for ``revoked``, ``superseded_by`` for ``superseded`` (and for a
    revoked document that had also been replaced).
    """

    reference: str
    box_name: str
    box_key_id: str
    checked_at: datetime
    status: Status
    code: str
    replica: ReplicaInfo
    issuer: IssuerInfo | None = None
    document: Document | None = None
    holder: HolderView | None = None
    revocation: Revocation | None = None
    superseded_by: Supersession | None = None
    version: int = RECEIPT_VERSION

    @property
    def national_id_match(self) -> bool | None:
        """True or False when a national ID was typed and compared; None when none was (or no record)."""
        return self.holder.national_id_match if self.holder is not None else None

    @property
    def holder_mismatch(self) -> bool:
        """A genuine document that belongs to someone else than the person who presented it."""
        return self.national_id_match is False

    def to_dict(self) -> dict[str, Any]:
        """The signed content, in the verdict API's field names (also what the receipt API returns)."""
        return {
            "version": self.version,
            "reference": self.reference,
            "box": {"name": self.box_name, "key_id": self.box_key_id},
            "checked_at": format_timestamp(self.checked_at),
            "status": self.status.value,
            "code": self.code,
            "issuer": self.issuer.to_dict() if self.issuer else None,
            "document": self.document.to_dict() if self.document else None,
            "holder": self.holder.to_dict() if self.holder else None,
            "revocation": self.revocation.to_dict() if self.revocation else None,
            "superseded_by": self.superseded_by.to_dict() if self.superseded_by else None,
            "replica": self.replica.to_dict(),
        }

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> Receipt:
        """Rebuild a receipt from its content, refusing any field that is missing, extra or out of shape.

        Raises:
            MalformedReceiptError: the content is not exactly a receipt's.
            ReceiptVersionError: the content declares another format version.
        """
        _exact(fields, _FIELDS, "receipt")
        version = fields["version"]
        if type(version) is not int or version != RECEIPT_VERSION:
            raise ReceiptVersionError(str(version))
        box = _object(fields, "box", {"name", "key_id"})
        status_text = _matching(fields, "status", re.compile(r"^[a-z_]+$"))
        if status_text not in {status.value for status in RECEIPT_STATUSES}:
            raise MalformedReceiptError(f"status {status_text!r} is not one a receipt can carry")
        replica = _object(fields, "replica", {"seq", "as_of", "stale"})
        seq = replica["seq"]
        if type(seq) is not int or seq < 0:
            raise MalformedReceiptError("replica.seq is not a non-negative integer")
        stale = replica["stale"]
        if type(stale) is not bool:
            raise MalformedReceiptError("replica.stale is not true or false")
        as_of = None if replica["as_of"] is None else _timestamp(replica, "as_of")
        receipt = cls(
            reference=_matching(fields, "reference", _REFERENCE),
            box_name=_text(box, "name", MAX_BOX_NAME_CHARS, empty=True),
            box_key_id=_matching(box, "key_id", _KEY_ID),
            checked_at=_timestamp(fields, "checked_at"),
            status=Status(status_text),
            code=_matching(fields, "code", _CODE),
            replica=ReplicaInfo(seq=seq, as_of=as_of, stale=stale),
            issuer=_issuer(fields),
            document=_document(fields),
            holder=_holder(fields),
            revocation=_revocation(fields),
            superseded_by=_supersession(fields),
        )
        _check_consistent(receipt)
        return receipt


@dataclass(frozen=True)
class SignedReceipt:
    """A receipt and the box's Ed25519 signature over it (not yet checked when it comes from ``parse_receipt``)."""

    receipt: Receipt
    signature: bytes


def can_receipt(verdict: Verdict) -> bool:
    """Whether a verdict can be given a receipt: it is about a code (not input that was no code)."""
    return verdict.status in RECEIPT_STATUSES and verdict.code is not None and verdict.replica is not None


def make_receipt(verdict: Verdict, *, box_name: str, box_key_id: str, reference: str) -> Receipt:
    """The receipt of a verdict, as the box named ``box_name`` with key ``box_key_id`` prints it.

    Free text longer than ``MAX_TEXT_CHARS`` (``MAX_BOX_NAME_CHARS`` for the box's name) is
    clipped with an ellipsis, and clipped shorter still if the receipt would otherwise exceed
    ``ISSUE_MAX_CHARS``: the QR must stay printable whatever a registry wrote.

    Args:
        verdict: a verdict about a code (see ``can_receipt``).
        box_name: the box's name as its operator set it (or its host name).
        box_key_id: ``receipt_key_id`` of the key that will sign the receipt.
        reference: the receipt's reference number, from ``format_reference``.

    Raises:
        ValueError: the verdict is ``invalid_format`` (there is nothing to attest), or the
            reference or key id is not in its form.
    """
    if not can_receipt(verdict):
        raise ValueError("only a verdict about a code can have a receipt")
    if not _REFERENCE.match(reference):
        raise ValueError(f"reference {reference!r} is not XXXXX-XXXXX in Crockford base32")
    if not _KEY_ID.match(box_key_id):
        raise ValueError(f"key id {box_key_id!r} is not a receipt key fingerprint")
    limit = MAX_TEXT_CHARS
    while True:
        receipt = _receipt_of(verdict, box_name, box_key_id, reference, limit)
        content = _content_bytes(receipt)
        # Clipping by characters bounds Persian text; text in wider scripts is clipped further
        # until the whole receipt fits the bounds every reader applies (and a printable QR).
        if (len(content) <= MAX_CONTENT_BYTES and len(_deflate(content)) <= _MAX_PACKED_BYTES) or limit == 1:
            break
        limit = max(1, limit // 2)
    # The same checks a reader applies: a receipt this function makes always parses.
    return Receipt.from_dict(receipt.to_dict())


def _receipt_of(verdict: Verdict, box_name: str, box_key_id: str, reference: str, limit: int) -> Receipt:
    assert verdict.code is not None and verdict.replica is not None
    issuer = verdict.issuer
    document = verdict.document
    holder = verdict.holder
    revocation = verdict.revocation
    return Receipt(
        reference=reference,
        box_name=_clip(box_name.strip(), min(limit, MAX_BOX_NAME_CHARS)),
        box_key_id=box_key_id,
        checked_at=verdict.checked_at.replace(microsecond=0),
        status=verdict.status,
        code=verdict.code,
        replica=ReplicaInfo(
            seq=verdict.replica.seq,
            as_of=verdict.replica.as_of.replace(microsecond=0) if verdict.replica.as_of else None,
            stale=verdict.replica.stale,
        ),
        issuer=IssuerInfo(issuer.issuer, _clip(issuer.name_fa, limit), _clip(issuer.name_en, limit))
        if issuer
        else None,
        document=(
            Document(
                document_type=document["type"],
                degree_level=_clip(document["degree_level"], limit),
                field=_clip(document["field"], limit),
                institution=_clip(document["institution"], limit),
                issued_on=document["issued_on"],
            )
            if document
            else None
        ),
        holder=(
            HolderView(_clip(holder.name, limit), holder.national_id_masked, holder.national_id_match)
            if holder
            else None
        ),
        revocation=Revocation(_clip(revocation.reason, limit), revocation.revoked_on) if revocation else None,
        superseded_by=verdict.superseded_by,
    )


def format_reference(entropy: bytes) -> str:
    """A reference number people can read out and type: 10 Crockford base32 characters, ``XXXXX-XXXXX``.

    50 random bits: unique enough to tell one box's receipts apart for its lifetime, short
    enough to quote on the phone; it proves nothing by itself (the signature does).

    Args:
        entropy: at least ``REFERENCE_ENTROPY_BYTES`` random bytes (``secrets.token_bytes``).
    """
    if len(entropy) < REFERENCE_ENTROPY_BYTES:
        raise ValueError(f"a reference needs {REFERENCE_ENTROPY_BYTES} random bytes")
    number = int.from_bytes(entropy[:REFERENCE_ENTROPY_BYTES], "big") >> (8 * REFERENCE_ENTROPY_BYTES - 50)
    text = _crockford(number, 10)
    return f"{text[:5]}-{text[5:]}"


def receipt_key_id(public_key: bytes) -> str:
    """A box's receipt-key fingerprint: 80 bits of its SHA-256 as ``XXXX-XXXX-XXXX-XXXX`` (Crockford base32).

    Short enough to print and compare by eye; forging a key with the same fingerprint
    would take about 2^80 work, and the signature is checked against the full key anyway.
    """
    if len(public_key) != 32:
        raise ValueError("an Ed25519 public key has 32 bytes")
    text = _crockford(int.from_bytes(hashlib.sha256(public_key).digest()[:10], "big"), 16)
    return "-".join(text[start : start + 4] for start in range(0, 16, 4))


def sign_receipt(receipt: Receipt, private_key: Ed25519PrivateKey) -> SignedReceipt:
    """Sign a receipt with the box's receipt key (about 50 µs).

    Raises:
        ValueError: the receipt names another key than ``private_key``'s.
    """
    if receipt.box_key_id != receipt_key_id(public_key_bytes(private_key)):
        raise ValueError("the receipt names another box key than the one signing it")
    return SignedReceipt(receipt, private_key.sign(_signed_message(receipt)))


def encode_receipt(signed: SignedReceipt) -> str:
    """The receipt as text for a QR code: ``SEHAT-R1:<base32 deflated JSON>.<base32 signature>``."""
    packed = _deflate(_content_bytes(signed.receipt))
    return f"{RECEIPT_PREFIX}{signed.receipt.version}:{_b32encode(packed)}.{_b32encode(signed.signature)}"


def parse_receipt(text: str) -> SignedReceipt:
    """Read receipt text strictly; white space (line breaks from copying) is ignored.

    The signature is not checked here: see ``verify_receipt``.

    Raises:
        MalformedReceiptError: not receipt text, cut short, altered so it no longer decodes,
            too long, or content not exactly a receipt's.
        ReceiptVersionError: a receipt format this program does not know.
    """
    if not isinstance(text, str):
        raise MalformedReceiptError("not text")
    if len(text) > 2 * MAX_RECEIPT_CHARS:
        raise MalformedReceiptError("far too long to be a receipt")
    compact = "".join(text.split())
    if not compact.startswith(RECEIPT_PREFIX):
        raise MalformedReceiptError(f"it does not start with {RECEIPT_PREFIX}")
    if len(compact) > MAX_RECEIPT_CHARS:
        raise MalformedReceiptError("too long to be a receipt")
    version_text, colon, rest = compact[len(RECEIPT_PREFIX) :].partition(":")
    if not colon or not version_text.isascii() or not version_text.isdigit() or len(version_text) > 3:
        raise MalformedReceiptError("no format version after the prefix")
    if int(version_text) != RECEIPT_VERSION:
        raise ReceiptVersionError(f"R{version_text}")
    content_text, dot, signature_text = rest.partition(".")
    if not dot:
        raise MalformedReceiptError("the signature is missing (the text may be cut short)")
    packed = _b32decode(content_text, "content")
    signature = _b32decode(signature_text, "signature")
    if len(signature) != _SIGNATURE_BYTES:
        raise MalformedReceiptError("the signature has the wrong length (the text may be cut short)")
    content = _inflate(packed)
    try:
        fields = parse_json_object(content, _NAME)
    except MalformedObjectError as error:
        raise MalformedReceiptError(error.detail) from error
    receipt = Receipt.from_dict(fields)
    if _content_bytes(receipt) != content:
        raise MalformedReceiptError("the content is not in its canonical form")
    return SignedReceipt(receipt, signature)


def verify_receipt(signed: SignedReceipt, public_key: bytes) -> Receipt:
    """Check that the box whose receipt key is ``public_key`` signed this receipt, unaltered.

    Raises:
        WrongBoxReceiptError: the receipt names another box's key.
        ReceiptSignatureError: the signature does not verify (the content was altered, or forged).
    """
    expected = receipt_key_id(public_key)
    if signed.receipt.box_key_id != expected:
        raise WrongBoxReceiptError(signed.receipt.box_key_id, expected)
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signed.signature, _signed_message(signed.receipt))
    except InvalidSignature as error:
        raise ReceiptSignatureError() from error
    return signed.receipt


def check_receipt(text: str, public_key: bytes) -> Receipt:
    """``parse_receipt`` then ``verify_receipt``: the one call a checker needs."""
    return verify_receipt(parse_receipt(text), public_key)


# --- encoding ------------------------------------------------------------------------------------


def _signed_message(receipt: Receipt) -> bytes:
    return _SIGNING_CONTEXT + canonical_json(receipt.to_dict())


def _content_bytes(receipt: Receipt) -> bytes:
    """Compact sorted JSON in UTF-8: canonical JSON's structure without its ASCII escapes, to save space."""
    return json.dumps(receipt.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _deflate(content: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, _DEFLATE_DICTIONARY)
    return compressor.compress(content) + compressor.flush()


def _inflate(packed: bytes) -> bytes:
    inflater = zlib.decompressobj(-15, zdict=_DEFLATE_DICTIONARY)
    try:
        content = inflater.decompress(packed, MAX_CONTENT_BYTES + 1)
    except zlib.error as error:
        raise MalformedReceiptError("the content does not decompress (altered or cut short)") from error
    if len(content) > MAX_CONTENT_BYTES or inflater.unconsumed_tail:
        raise MalformedReceiptError("the content is too large")
    if not inflater.eof:
        raise MalformedReceiptError("the content is cut short")
    if inflater.unused_data:
        raise MalformedReceiptError("there are bytes after the content")
    return content


def _b32encode(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=")


def _b32decode(text: str, part: str) -> bytes:
    if not text or not _BASE32.match(text):
        raise MalformedReceiptError(f"the {part} is not base32")
    try:
        data = base64.b32decode(text + "=" * (-len(text) % 8))
    except binascii.Error as error:
        raise MalformedReceiptError(f"the {part} is not base32 (the text may be cut short)") from error
    if _b32encode(data) != text:  # stray low bits: a second spelling of the same bytes
        raise MalformedReceiptError(f"the {part} is not canonical base32")
    return data


def _crockford(number: int, length: int) -> str:
    return "".join(_CROCKFORD[(number >> (5 * (length - 1 - index))) & 31] for index in range(length))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- strict reading ------------------------------------------------------------------------------


def _exact(mapping: dict[str, Any], expected: set[str] | frozenset[str], where: str) -> None:
    problems = field_problems(mapping, expected)
    if problems is not None:
        raise MalformedReceiptError(f"{where}: {problems}")


def _object(fields: dict[str, Any], name: str, expected: set[str]) -> dict[str, Any]:
    value = fields[name]
    if not isinstance(value, dict):
        raise MalformedReceiptError(f"{name} is not an object")
    _exact(value, expected, name)
    return value


def _optional_object(fields: dict[str, Any], name: str, expected: set[str]) -> dict[str, Any] | None:
    return None if fields[name] is None else _object(fields, name, expected)


def _text(fields: dict[str, Any], name: str, limit: int = MAX_TEXT_CHARS, *, empty: bool = False) -> str:
    value = fields[name]
    if not isinstance(value, str):
        raise MalformedReceiptError(f"{name} is not text")
    if len(value) > limit:
        raise MalformedReceiptError(f"{name} is longer than {limit} characters")
    if not empty and not value:
        raise MalformedReceiptError(f"{name} is empty")
    return value


def _matching(fields: dict[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    value = fields[name]
    if not isinstance(value, str) or not pattern.match(value):
        raise MalformedReceiptError(f"{name} is not in its form")
    return value


def _timestamp(fields: dict[str, Any], name: str) -> datetime:
    try:
        return parse_timestamp(fields[name], _NAME, name)
    except MalformedObjectError as error:
        raise MalformedReceiptError(error.detail) from error


def _iso_date(fields: dict[str, Any], name: str) -> str:
    value = _text(fields, name, 10)
    try:
        date.fromisoformat(value)
    except ValueError as error:
        raise MalformedReceiptError(f"{name} is not an ISO date") from error
    if len(value) != 10:
        raise MalformedReceiptError(f"{name} is not an ISO date")
    return value


def _document_type(fields: dict[str, Any], name: str) -> str:
    value = _text(fields, name, 16)
    if value not in DOCUMENT_TYPES:
        raise MalformedReceiptError(f"{name} {value!r} is not a document type")
    return value


def _issuer(fields: dict[str, Any]) -> IssuerInfo | None:
    issuer = _optional_object(fields, "issuer", {"id", "name_fa", "name_en"})
    if issuer is None:
        return None
    return IssuerInfo(
        issuer=_matching(issuer, "id", ISSUER_ID_PATTERN),
        name_fa=_text(issuer, "name_fa", empty=True),
        name_en=_text(issuer, "name_en", empty=True),
    )


def _document(fields: dict[str, Any]) -> Document | None:
    document = _optional_object(fields, "document", {"type", "degree_level", "field", "institution", "issued_on"})
    if document is None:
        return None
    return Document(
        document_type=_document_type(document, "type"),
        degree_level=_text(document, "degree_level", empty=True),
        field=_text(document, "field", empty=True),
        institution=_text(document, "institution", empty=True),
        issued_on=_iso_date(document, "issued_on"),
    )


def _holder(fields: dict[str, Any]) -> HolderView | None:
    holder = _optional_object(fields, "holder", {"name", "national_id_masked", "national_id_match"})
    if holder is None:
        return None
    match = holder["national_id_match"]
    if match is not None and type(match) is not bool:
        raise MalformedReceiptError("holder.national_id_match is not true, false or null")
    return HolderView(
        name=_text(holder, "name", empty=True),
        national_id_masked=_matching(holder, "national_id_masked", _MASKED_NATIONAL_ID),
        national_id_match=match,
    )


def _revocation(fields: dict[str, Any]) -> Revocation | None:
    revocation = _optional_object(fields, "revocation", {"reason", "revoked_on"})
    if revocation is None:
        return None
    return Revocation(reason=_text(revocation, "reason", empty=True), revoked_on=_iso_date(revocation, "revoked_on"))


def _supersession(fields: dict[str, Any]) -> Supersession | None:
    superseded = _optional_object(fields, "superseded_by", {"document_type", "issued_on", "code_hint"})
    if superseded is None:
        return None
    return Supersession(
        document_type=_document_type(superseded, "document_type"),
        issued_on=_iso_date(superseded, "issued_on"),
        code_hint=_text(superseded, "code_hint", 8),
    )


def _check_consistent(receipt: Receipt) -> None:
    """The status and the parts present must tell one story."""
    found = (receipt.issuer, receipt.document, receipt.holder)
    if receipt.status is Status.NOT_FOUND:
        if any(part is not None for part in (*found, receipt.revocation, receipt.superseded_by)):
            raise MalformedReceiptError("a not_found receipt carries a record")
        return
    if any(part is None for part in found):
        raise MalformedReceiptError(f"a {receipt.status.value} receipt lacks its issuer, document or holder")
    if (receipt.revocation is not None) != (receipt.status is Status.REVOKED):
        raise MalformedReceiptError("a revocation goes with the revoked status, and only with it")
    if receipt.status is Status.SUPERSEDED and receipt.superseded_by is None:
        raise MalformedReceiptError("a superseded receipt does not name the newer document")
    if receipt.status is Status.VALID and receipt.superseded_by is not None:
        raise MalformedReceiptError("a valid receipt names a newer document")
