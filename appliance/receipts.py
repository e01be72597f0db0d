"""The box's receipt key, and receipts signed with it: the shell around ``verifier.receipt``.

Each box has one Ed25519 receipt key pair, made by ``sehat appliance init`` (or on first
use, for boxes set up before receipts existed). The private half lives only inside the
encrypted access store (SQLCipher, ``DATADIR/access.db``), never in a file of its own: it
is as safe as the API keys beside it and travels with the store's backups and rekeys.
The public half and its fingerprint are what an employer or auditor needs to check a
receipt later (``sehat appliance receipt key`` prints them).

The web routes call ``issue_receipt`` for a verdict and ``check_box_receipt`` for a
receipt brought back; the key is read once per process and kept, since a receipt is
offered with every verdict.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime

import qrcode
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import current_app

from appliance.access import AccessStore
from appliance.config import ApplianceConfig
from appliance.datadir import DataDir
from appliance.store import app_config, stores
from verifier.canonical import b64encode
from verifier.errors import OperatorError
from verifier.receipt import (
    REFERENCE_ENTROPY_BYTES,
    Receipt,
    check_receipt,
    encode_receipt,
    format_reference,
    make_receipt,
    receipt_key_id,
    sign_receipt,
)
from verifier.signing import public_key_bytes
from verifier.verdict import Verdict

EXTENSION = "sehat_receipt_key"
# Level M restores a QR with 15 % of it scuffed or folded; a receipt is filed and handled.
QR_ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_M
QR_PIXELS_PER_MODULE = 6  # the PNG's resolution; the print stylesheet sets its size (4 cm)


@dataclass(frozen=True)
class ReceiptKey:
    """The box's receipt key pair and the fingerprint printed on every receipt."""

    private_key: Ed25519PrivateKey
    public_key: bytes
    key_id: str

    @classmethod
    def from_private_bytes(cls, seed: bytes) -> ReceiptKey:
        private_key = Ed25519PrivateKey.from_private_bytes(seed)
        public_key = public_key_bytes(private_key)
        return cls(private_key, public_key, receipt_key_id(public_key))

    @property
    def public_key_text(self) -> str:
        """The public key as ``--key`` takes it: base64 of its 32 raw bytes."""
        return b64encode(self.public_key)

    def public_document(self) -> dict[str, str]:
        """What ``sehat appliance receipt key --json`` prints, and ``--key`` accepts back."""
        return {"type": "sehat/receipt-key", "public_key": self.public_key_text, "key_id": self.key_id}


def box_receipt_key(access: AccessStore, now: datetime) -> ReceiptKey:
    """The box's receipt key, made and kept in the access store if the box has none yet."""
    seed = access.receipt_key()
    if seed is None:
        seed = access.keep_receipt_key(secrets.token_bytes(32), now)
    return ReceiptKey.from_private_bytes(seed)


def ensure_receipt_key(datadir: DataDir, now: datetime) -> ReceiptKey:
    """Open the box's access store (creating it if need be) and return its receipt key, made if missing."""
    with AccessStore.open(datadir) as access:
        return box_receipt_key(access, now)


def stored_receipt_key(datadir: DataDir) -> ReceiptKey | None:
    """The box's receipt key if it has one; None for a box that has never made one (so never signed a receipt)."""
    with AccessStore.open(datadir) as access:
        seed = access.receipt_key()
    return ReceiptKey.from_private_bytes(seed) if seed is not None else None


def box_name(config: ApplianceConfig) -> str:
    """The name receipts print: the configured one, else the host's name."""
    return config.box_name.strip() or socket.gethostname()


def public_key_from_text(text: str) -> bytes:
    """Read a box's receipt public key: base64 of 32 bytes, or the JSON ``receipt key --json`` prints.

    Raises:
        OperatorError: neither, or not 32 bytes.
    """
    text = text.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError as error:
            raise _bad_key("not valid JSON") from error
        text = document.get("public_key", "") if isinstance(document, dict) else ""
        if not isinstance(text, str):
            raise _bad_key("its public_key is not text")
    try:
        key = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as error:
        raise _bad_key("not base64") from error
    if len(key) != 32:
        raise _bad_key("not an Ed25519 public key (32 bytes)")
    return key


def _bad_key(detail: str) -> OperatorError:
    return OperatorError(
        f"That is not a box's receipt public key: {detail}.",
        "این کلید عمومی رسید یک دستگاه نیست (خروجی sehat appliance receipt key را بدهید).",
    )


def receipt_qr_png(text: str) -> bytes:
    """A PNG of the QR code carrying ``text`` (alphanumeric mode, level M, a quiet zone of 4 modules)."""
    code = qrcode.QRCode(error_correction=QR_ERROR_CORRECTION, box_size=QR_PIXELS_PER_MODULE, border=4)
    code.add_data(text)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer)
    return buffer.getvalue()


def receipt_qr_data_uri(text: str) -> str:
    """The QR as a ``data:`` URI for an ``<img>``: the page's CSP allows ``img-src data:``, nothing else outside."""
    return "data:image/png;base64," + base64.b64encode(receipt_qr_png(text)).decode("ascii")


# --- in the web app ------------------------------------------------------------------------------


def current_receipt_key() -> ReceiptKey:
    """The box's receipt key, read from the access store once per app (made there on first use)."""
    found: ReceiptKey | None = current_app.extensions.get(EXTENSION)
    if found is None:
        now = current_app.config["SEHAT_CLOCK"]()
        # Two threads may both get here first; keep_receipt_key gives both the same stored key.
        found = current_app.extensions.setdefault(EXTENSION, box_receipt_key(stores().access, now))
    return found


def issue_receipt(verdict: Verdict, *, reference: str | None = None) -> str:
    """The signed receipt text for a verdict, ready for the print form (about 0.2 ms).

    Args:
        verdict: a verdict about a code (``verifier.receipt.can_receipt``): not ``invalid_format``.
        reference: the reference number; a fresh random one when not given.

    Raises:
        ValueError: the verdict is ``invalid_format``: there is nothing to attest.
    """
    key = current_receipt_key()
    receipt = make_receipt(
        verdict,
        box_name=box_name(app_config()),
        box_key_id=key.key_id,
        reference=reference or format_reference(secrets.token_bytes(REFERENCE_ENTROPY_BYTES)),
    )
    return encode_receipt(sign_receipt(receipt, key.private_key))


def check_box_receipt(text: str) -> Receipt:
    """A receipt brought back to this box, checked against its own key.

    Raises:
        ReceiptError: malformed, of an unknown version, altered, or signed by another box.
    """
    return check_receipt(text, current_receipt_key().public_key)
