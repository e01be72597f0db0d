"""Receipts on the box: its key, the print view, the API that checks them, and the command line."""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import zxingcpp
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from PIL import Image
from playwright.sync_api import Page

from appliance.access import AccessStore
from appliance.datadir import DataDir
from appliance.receipts import ensure_receipt_key, issue_receipt, receipt_qr_png
from appliance.store import stores
from appliance.verification import Verifier
from sehat.cli import cli
from tests.conftest import NOW, DemoCodes, make_box
from tests.support.browser import BrowserSession, wait_until
from tests.support.simulator import FeedSimulator
from tests.support.web import csrf_token
from verifier.receipt import SignedReceipt, check_receipt, encode_receipt, parse_receipt, receipt_key_id, sign_receipt
from verifier.signing import public_key_bytes

OTHER_NATIONAL_ID = "0499370899"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def issued(app: Flask, code: str, national_id: str | None = None) -> str:
    """The receipt text the kiosk would put under the verdict for ``code``."""
    with app.test_request_context("/"):
        verdict = Verifier(stores().replica, app.config["SEHAT_CLOCK"]).verify(code, national_id).verdict
        return issue_receipt(verdict)


def box_public_key(box: DataDir) -> bytes:
    return ensure_receipt_key(box, NOW).public_key


def tampered(text: str) -> str:
    """The same receipt signed by the box, but with a changed fact (the holder's name)."""
    signed = parse_receipt(text)
    assert signed.receipt.holder is not None
    holder = replace(signed.receipt.holder, name="کس دیگر")
    return encode_receipt(SignedReceipt(replace(signed.receipt, holder=holder), signed.signature))


def signed_by_another_box(text: str) -> str:
    other = Ed25519PrivateKey.generate()
    receipt = parse_receipt(text).receipt
    return encode_receipt(sign_receipt(replace(receipt, box_key_id=receipt_key_id(public_key_bytes(other))), other))


def post_receipt(client: FlaskClient, text: str, lang: str = "en") -> tuple[int, str]:
    token = csrf_token(client.get("/").get_data(as_text=True))
    response = client.post(f"/receipt?lang={lang}", data={"receipt": text, "csrf_token": token})
    return response.status_code, response.get_data(as_text=True)


def qr_text(page: str) -> str:
    """The text of the QR code embedded in the print view, decoded from its PNG."""
    match = re.search(r'class="receipt-qr" src="data:image/png;base64,([^"]+)"', page)
    assert match, "the page embeds its QR as a data: PNG"
    image = Image.open(io.BytesIO(base64.b64decode(match.group(1))))
    (found,) = zxingcpp.read_barcodes(image)
    return str(found.text)


@pytest.fixture
def receipt_text(app: Flask, synced: DemoCodes) -> str:
    return issued(app, synced.valid, synced.valid_national_id)


# --- the box's key -------------------------------------------------------------------------------


def test_init_makes_the_receipt_key(simulator: FeedSimulator, tmp_path: Path) -> None:
    directory = tmp_path / "new-box"
    result = run("appliance", "init", str(directory), "--trust", str(simulator.trust_file(tmp_path)))
    assert result.exit_code == 0, result.output
    with AccessStore.open(DataDir(directory)) as access:
        assert access.receipt_key() is not None


def test_a_box_made_before_receipts_gets_its_key_on_first_use(box: DataDir) -> None:
    with AccessStore.open(box) as access:
        assert access.receipt_key() is None
    made = ensure_receipt_key(box, NOW)
    with AccessStore.open(box) as access:
        assert access.receipt_key() == made.private_key.private_bytes_raw()


def test_the_receipt_key_survives_a_restart(make_app: Callable[..., Flask], synced: DemoCodes, box: DataDir) -> None:
    text = issued(make_app(), synced.valid)
    restarted = make_app().test_client()
    response = restarted.post("/api/v1/receipts/verify", json={"receipt": text})
    assert response.status_code == 200
    assert response.get_json()["box_key"] == ensure_receipt_key(box, NOW).key_id


def test_two_first_uses_at_once_keep_one_key(box: DataDir) -> None:
    with AccessStore.open(box) as first, AccessStore.open(box) as second:
        kept = first.keep_receipt_key(b"\1" * 32, NOW)
        assert second.keep_receipt_key(b"\2" * 32, NOW) == kept == b"\1" * 32


def test_the_receipt_key_is_in_no_plain_file(receipt_text: str, box: DataDir) -> None:
    seed = ensure_receipt_key(box, NOW).private_key.private_bytes_raw()
    forms = [seed, seed.hex().encode(), base64.b64encode(seed), base64.b32encode(seed).rstrip(b"=")]
    files = [path for path in box.path.rglob("*") if path.is_file()]
    assert any(path.name == "access.db" for path in files)
    for path in files:
        data = path.read_bytes()
        assert not [form for form in forms if form in data], f"the receipt key is readable in {path.name}"


# --- the print view ------------------------------------------------------------------------------


def test_print_view_shows_the_reference_and_a_qr_that_verifies(
    client: FlaskClient, receipt_text: str, box: DataDir
) -> None:
    status, page = post_receipt(client, receipt_text)
    assert status == 200
    reference = parse_receipt(receipt_text).receipt.reference
    assert reference in page
    scanned = qr_text(page)
    assert scanned == receipt_text
    assert check_receipt(scanned, box_public_key(box)).reference == reference


def test_print_view_shows_the_check_time_in_both_calendars(client: FlaskClient, receipt_text: str) -> None:
    status, page = post_receipt(client, receipt_text, lang="fa")
    assert status == 200
    assert "۱۴۰۵/۰۹/۰۲" in page  # 2026-11-23 in the Solar Hijri calendar
    assert "2026-11-23" in page


def test_print_view_says_the_verdict_in_words(client: FlaskClient, receipt_text: str) -> None:
    page = post_receipt(client, receipt_text)[1]
    assert re.search(r'<h2 class="headline">\s*Valid\s*</h2>', page)
    assert "matches the ID given" in page


def test_print_view_of_a_mismatch_never_reads_valid(app: Flask, client: FlaskClient, synced: DemoCodes) -> None:
    other_id = OTHER_NATIONAL_ID if synced.valid_national_id != OTHER_NATIONAL_ID else "0013542419"
    page = post_receipt(client, issued(app, synced.valid, other_id))[1]
    assert "Genuine, but issued to someone else" in page
    assert not re.search(r'<h2 class="headline">\s*Valid', page)
    assert "does NOT match the ID given" in page


def test_print_view_of_a_revoked_code_names_the_reason(app: Flask, client: FlaskClient, synced: DemoCodes) -> None:
    page = post_receipt(client, issued(app, synced.revoked))[1]
    assert re.search(r'<h2 class="headline">\s*Revoked\s*</h2>', page)
    assert "صدور اشتباه" in page


def test_print_view_of_a_code_not_found_is_not_called_fake(client: FlaskClient, app: Flask) -> None:
    page = post_receipt(client, issued(app, "1" * 20))[1]
    assert "Not in this box's data" in page
    assert "does not mean the document is fake" in page


def test_print_view_refuses_an_altered_receipt(client: FlaskClient, receipt_text: str) -> None:
    status, page = post_receipt(client, tampered(receipt_text))
    assert status == 422
    assert "signature does not verify" in page


def test_print_view_needs_the_csrf_token(client: FlaskClient, receipt_text: str) -> None:
    response = client.post("/receipt", data={"receipt": receipt_text})
    assert response.status_code == 400


def test_print_view_runs_no_inline_script_and_prints_without_the_header(client: FlaskClient, receipt_text: str) -> None:
    page = post_receipt(client, receipt_text)[1]
    assert re.findall(r"<script[^>]*>", page) == ['<script type="module" src="/static/receipt.js">']
    assert 'id="print-receipt"' in page
    css = (Path(__file__).parent.parent / "appliance" / "static" / "receipt.css").read_text(encoding="utf-8")
    printing = css[css.index("@media print") :]
    assert re.search(r"\.topbar[^{]*\{\s*display: none", printing)


def open_in_browser(page: Page, base_url: str, text: str, lang: str) -> None:
    """Post the receipt from a page of the box, as the kiosk's "Print a receipt" form does."""
    page.goto(f"{base_url}/?lang={lang}")
    with page.expect_navigation():
        page.evaluate(
            """([text, lang]) => {
                const form = document.createElement("form");
                form.method = "post";
                form.action = "/receipt?lang=" + lang;
                const token = document.querySelector("input[name=csrf_token]").value;
                for (const [name, value] of [["receipt", text], ["csrf_token", token]]) {
                    const input = document.createElement("input");
                    Object.assign(input, { type: "hidden", name, value });
                    form.append(input);
                }
                document.body.append(form);
                form.submit();
            }""",
            [text, lang],
        )


@pytest.mark.parametrize(("kind", "lang"), [("valid", "fa"), ("revoked", "en"), ("superseded", "fa")])
def test_the_printed_receipt_is_one_a4_page_whose_qr_reads_back(
    app: Flask, live_box: str, chromium: Callable[..., BrowserSession], synced: DemoCodes, kind: str, lang: str
) -> None:
    code = {"valid": synced.valid, "revoked": synced.revoked, "superseded": synced.superseded}[kind]
    text = issued(app, code, OTHER_NATIONAL_ID)
    session = chromium()
    page = session.new_page()
    open_in_browser(page, live_box, text, lang)
    printed = pdfium.PdfDocument(page.pdf(format="A4", print_background=True))
    assert len(printed) == 1
    rendered = printed[0].render(scale=200 / 72).to_pil()  # an office scanner's 200 dpi
    assert [found.text for found in zxingcpp.read_barcodes(rendered)] == [text]
    assert "error" not in session.log().lower(), session.log()


def test_the_print_button_prints(
    app: Flask, live_box: str, chromium: Callable[..., BrowserSession], synced: DemoCodes
) -> None:
    page = chromium().new_page()
    open_in_browser(page, live_box, issued(app, synced.valid), "en")
    page.evaluate("window.print = () => { window.printed = true; }")
    page.click("#print-receipt")
    assert wait_until(page, "window.printed === true")


# --- the API -------------------------------------------------------------------------------------


def test_api_confirms_a_receipt_of_this_box(client: FlaskClient, receipt_text: str, box: DataDir) -> None:
    response = client.post("/api/v1/receipts/verify", json={"receipt": receipt_text})
    assert response.status_code == 200
    body = response.get_json()
    assert body["valid"] is True
    assert body["receipt"] == parse_receipt(receipt_text).receipt.to_dict()
    assert body["box_key"] == ensure_receipt_key(box, NOW).key_id
    assert base64.b64decode(body["box_public_key"]) == box_public_key(box)


@pytest.mark.parametrize(
    ("alter", "code"),
    [
        (tampered, "receipt_bad_signature"),
        (signed_by_another_box, "receipt_wrong_box"),
        (lambda text: text[:-30], "malformed_receipt"),
        (lambda text: text.replace("SEHAT-R1:", "SEHAT-R9:"), "receipt_version"),
    ],
    ids=["altered", "another-box", "cut-short", "unknown-version"],
)
def test_api_refuses_a_bad_receipt_with_a_422_error(
    client: FlaskClient, receipt_text: str, alter: Callable[[str], str], code: str
) -> None:
    response = client.post("/api/v1/receipts/verify", json={"receipt": alter(receipt_text)})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error["message"] and error["message_fa"]


def test_api_needs_a_json_body_with_the_receipt(client: FlaskClient) -> None:
    response = client.post("/api/v1/receipts/verify", json={"text": "SEHAT-R1:"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize("good", [True, False], ids=["valid", "altered"])
def test_api_answers_match_the_openapi_document(client: FlaskClient, receipt_text: str, good: bool) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    response = client.post(
        "/api/v1/receipts/verify", json={"receipt": receipt_text if good else tampered(receipt_text)}
    )
    operation = document["paths"]["/api/v1/receipts/verify"]["post"]
    schema = operation["responses"][str(response.status_code)]["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": document["components"]})
    errors = [error.message for error in validator.iter_errors(response.get_json())]
    assert not errors


# --- the command line ----------------------------------------------------------------------------


def test_cli_key_prints_the_public_key_and_its_fingerprint(box: DataDir) -> None:
    result = run("appliance", "receipt", "key", str(box.path))
    assert result.exit_code == 0, result.output
    key = ensure_receipt_key(box, NOW)
    assert result.output == f"Public key:  {key.public_key_text}\nFingerprint: {key.key_id}\n"


def test_cli_verify_accepts_the_text_with_the_boxs_datadir(receipt_text: str, box: DataDir) -> None:
    result = run("appliance", "receipt", "verify", receipt_text, "--datadir", str(box.path))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Valid receipt {parse_receipt(receipt_text).receipt.reference} ")


def test_cli_verify_accepts_a_text_file_and_the_key_as_printed_by_key_json(
    receipt_text: str, box: DataDir, tmp_path: Path
) -> None:
    key_file = tmp_path / "box-receipt-key.json"
    key_file.write_text(run("appliance", "receipt", "key", str(box.path), "--json").output)
    receipt_file = tmp_path / "receipt.txt"
    receipt_file.write_text(receipt_text + "\n")
    result = run("appliance", "receipt", "verify", str(receipt_file), "--key", str(key_file))
    assert result.exit_code == 0, result.output


def test_cli_verify_json_is_the_apis_answer(client: FlaskClient, receipt_text: str, box: DataDir) -> None:
    result = run("appliance", "receipt", "verify", receipt_text, "--datadir", str(box.path), "--json")
    assert result.exit_code == 0, result.output
    api = client.post("/api/v1/receipts/verify", json={"receipt": receipt_text}).get_json()
    assert json.loads(result.output) == {key: api[key] for key in ("valid", "receipt", "box_key")}


@pytest.mark.parametrize(
    ("alter", "says"),
    [(tampered, "signature does not verify"), (signed_by_another_box, "signed by another box")],
    ids=["altered", "another-box"],
)
def test_cli_verify_refuses_with_one_line_and_exit_1(
    receipt_text: str, box: DataDir, alter: Callable[[str], str], says: str
) -> None:
    key = ensure_receipt_key(box, NOW).public_key_text
    result = run("appliance", "receipt", "verify", alter(receipt_text), "--key", key)
    assert result.exit_code == 1
    assert says in result.output
    assert result.output.count("\n") == 1


def test_cli_verify_needs_the_boxs_key(receipt_text: str) -> None:
    result = run("appliance", "receipt", "verify", receipt_text)
    assert result.exit_code == 1
    assert "--key" in result.output


def test_cli_verify_against_a_box_that_never_signed_a_receipt_says_so(
    receipt_text: str, simulator: FeedSimulator, tmp_path: Path
) -> None:
    other = make_box(tmp_path / "other-box", simulator)
    result = run("appliance", "receipt", "verify", receipt_text, "--datadir", str(other.path))
    assert result.exit_code == 1
    assert "has never signed a receipt" in result.output


def test_cli_verify_refuses_an_argument_that_is_neither_text_nor_file(box: DataDir) -> None:
    result = run("appliance", "receipt", "verify", "no-such-file.png", "--datadir", str(box.path))
    assert result.exit_code == 1
    assert "neither receipt text" in result.output


def test_cli_verify_reads_the_qr_of_a_photo(receipt_text: str, box: DataDir, tmp_path: Path) -> None:
    pytest.importorskip("appliance.scanning.decoding", reason="the scan pipeline is not in this tree yet")
    photo = tmp_path / "receipt.png"
    photo.write_bytes(receipt_qr_png(receipt_text))
    result = run("appliance", "receipt", "verify", str(photo), "--datadir", str(box.path))
    assert result.exit_code == 0, result.output


def test_cli_verify_reads_the_pdf_the_browser_printed(
    app: Flask, live_box: str, chromium: Callable[..., BrowserSession], synced: DemoCodes, box: DataDir, tmp_path: Path
) -> None:
    pytest.importorskip("appliance.scanning.decoding", reason="the scan pipeline is not in this tree yet")
    page = chromium().new_page()
    open_in_browser(page, live_box, issued(app, synced.valid), "fa")
    printed = tmp_path / "receipt.pdf"
    printed.write_bytes(page.pdf(format="A4"))
    result = run("appliance", "receipt", "verify", str(printed), "--datadir", str(box.path))
    assert result.exit_code == 0, result.output
