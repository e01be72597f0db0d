"""``sehat appliance receipt …``: the box's receipt key, and checking a receipt anywhere, offline.

A receipt is checked against the public key of the box that printed it: either read from
that box's data directory (``--datadir``) or given as printed by ``receipt key`` (``--key``,
the base64 key, the JSON, or a file holding either). Nothing else of the box is needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from appliance.cli_options import KEY_FILE_OPTION
from appliance.clock import utc_now
from appliance.datadir import DataDir
from appliance.receipts import ensure_receipt_key, public_key_from_text, stored_receipt_key
from verifier.canonical import format_timestamp
from verifier.errors import MalformedReceiptError, OperatorError
from verifier.receipt import MAX_RECEIPT_CHARS, RECEIPT_PREFIX, Receipt, check_receipt, receipt_key_id

DATADIR = click.Path(exists=True, file_okay=False, path_type=Path)
# Photos and PDFs: what ``sehat scan`` reads. Their first bytes say which, whatever the file's name.
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"%PDF-")
_MAX_TEXT_FILE_BYTES = 64 << 10
_STATUS_WORDS = {
    "valid": "valid",
    "revoked": "revoked",
    "superseded": "superseded",
    "not_found": "not in the box's data",
}

receipt_group = click.Group(
    "receipt",
    help="Signed verification receipts: the box's receipt key, and checking a printed receipt.",
)


@receipt_group.command("key")
@click.argument("datadir", type=DATADIR)
@click.option("--json", "as_json", is_flag=True, help="Print {type, public_key, key_id} as JSON (what --key accepts).")
@KEY_FILE_OPTION
def key_command(datadir: Path, as_json: bool, key_file: Path | None) -> None:
    """Print the box's receipt public key and its fingerprint, to give to whoever checks receipts.

    The key pair is made when the box is set up (or now, for a box set up before
    receipts); its private half stays inside the box's encrypted access store.

    \b
    Example:
      sehat appliance receipt key /var/lib/sehat
      sehat appliance receipt key /var/lib/sehat --json > box-receipt-key.json
    """
    key = ensure_receipt_key(DataDir(datadir, key_file), utc_now())
    if as_json:
        click.echo(json.dumps(key.public_document(), indent=2))
        return
    click.echo(f"Public key:  {key.public_key_text}")
    click.echo(f"Fingerprint: {key.key_id}")


@receipt_group.command("verify")
@click.argument("receipt", metavar="FILE_OR_TEXT")
@click.option("--key", "key_text", metavar="PUBKEY", help="The box's receipt public key, or a file holding it.")
@click.option("--datadir", type=DATADIR, help="Check against the key of the box in this data directory.")
@click.option("--json", "as_json", is_flag=True, help="Print {valid, receipt, box_key} as JSON, as the box's API does.")
@KEY_FILE_OPTION
def verify_command(
    receipt: str, key_text: str | None, datadir: Path | None, as_json: bool, key_file: Path | None
) -> None:
    """Check that a receipt was signed by the box and not changed since; exit 0 only if so.

    FILE_OR_TEXT is the receipt text (SEHAT-R1:…), a text file holding it, or a photo,
    scan or PDF of the printed receipt (its QR code is read).

    \b
    Example:
      sehat appliance receipt verify receipt.pdf --key box-receipt-key.json
      sehat appliance receipt verify 'SEHAT-R1:…' --datadir /var/lib/sehat --json
    """
    if (key_text is None) == (datadir is None):
        raise OperatorError(
            "Give the box's key with --key PUBKEY or --datadir DATADIR (one of them).",
            "کلید دستگاه را با گزینه --key یا --datadir بدهید (فقط یکی از این دو).",
        )
    texts = _receipt_texts(receipt)
    public_key = _public_key(key_text) if key_text is not None else _datadir_key(datadir, key_file)
    checked = [check_receipt(text, public_key) for text in texts]
    if as_json:
        documents = [
            {"valid": True, "receipt": item.to_dict(), "box_key": receipt_key_id(public_key)} for item in checked
        ]
        click.echo(json.dumps(documents[0] if len(documents) == 1 else documents, ensure_ascii=False, indent=2))
        return
    for item in checked:
        click.echo(_summary(item))


def _public_key(text: str) -> bytes:
    path = Path(text)
    if len(text) < 4096 and path.is_file():
        return public_key_from_text(path.read_text(encoding="utf-8", errors="replace"))
    return public_key_from_text(text)


def _datadir_key(datadir: Path | None, key_file: Path | None) -> bytes:
    assert datadir is not None
    key = stored_receipt_key(DataDir(datadir, key_file))
    if key is None:
        raise OperatorError(
            f"The box in {datadir} has no receipt key: it has never signed a receipt.",
            f"دستگاه {datadir} کلید رسید ندارد: هیچ رسیدی امضا نکرده است.",
        )
    return key.public_key


def _receipt_texts(argument: str) -> list[str]:
    """The receipt text(s) an argument stands for: the text itself, a text file, or the QR codes of an image."""
    if "".join(argument.split()).startswith(RECEIPT_PREFIX):
        return [argument]
    path = Path(argument)
    if len(argument) > 4096 or not path.is_file():
        raise MalformedReceiptError(f"it is neither receipt text ({RECEIPT_PREFIX}…) nor a file")
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(_IMAGE_MAGIC):
        return _scanned_texts(path.read_bytes())
    if path.stat().st_size > _MAX_TEXT_FILE_BYTES:
        raise MalformedReceiptError(f"{path} is too large to hold receipt text")
    text = path.read_bytes().decode("utf-8", errors="replace").strip()
    if len(text) > 2 * MAX_RECEIPT_CHARS or not text.startswith(RECEIPT_PREFIX):
        raise MalformedReceiptError(f"{path} does not hold receipt text ({RECEIPT_PREFIX}…)")
    return [text]


def _scanned_texts(data: bytes) -> list[str]:
    """Every distinct receipt among the QR codes of a photo, scan or PDF (read with the box's scan pipeline)."""
    from appliance.scanning.decoding import scan_document  # imported here: it loads the image decoders
    from appliance.scanning.limits import ScanLimits

    found = [text for text in scan_document(data, ScanLimits()) if text.strip().startswith(RECEIPT_PREFIX)]
    if not found:
        raise MalformedReceiptError("the image has no receipt QR code (a QR code starting SEHAT-R)")
    return list(dict.fromkeys(found))


def _summary(receipt: Receipt) -> str:
    """One line an operator can read: valid signature, then what the receipt says."""
    holder = f", {receipt.holder.name}" if receipt.holder else ""
    match = {True: ", national ID matched", False: ", national ID did NOT match", None: ""}[receipt.national_id_match]
    stale = " (box data out of date)" if receipt.replica.stale else ""
    return (
        f"Valid receipt {receipt.reference} from box {receipt.box_name!r} ({receipt.box_key_id}): "
        f"code {receipt.code} was {_STATUS_WORDS[receipt.status.value]}{stale}{holder}{match}, "
        f"checked at {format_timestamp(receipt.checked_at)}."
    )
