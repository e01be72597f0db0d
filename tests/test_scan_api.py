"""Scanning through the box: POST /api/v1/scan, the kiosk's upload, and `sehat scan`."""

from __future__ import annotations

import io
import json
import random
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from flask.testing import FlaskClient
from waitress.buffers import TempfileBasedBuffer
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from appliance.audit import AuditLog
from appliance.datadir import DataDir
from sehat.cli import cli
from tests.conftest import DemoCodes
from tests.support.diplomas import DAMAGE, make_page
from tests.support.documents import document_bytes
from tests.support.hostile_files import HOSTILE
from tests.support.web import csrf_token

# The scan's time budget, plus a second and a half for HTTP and a machine busy with other tests.
GENEROUS_SECONDS = 3.5


def scan(client: FlaskClient, data: bytes, name: str = "diploma.png") -> dict:  # type: ignore[type-arg]
    # Encoded in memory: Werkzeug's test client would spool a large body to a file it never closes.
    boundary, body = encode_multipart({"image": FileStorage(io.BytesIO(data), name)})
    response = client.post("/api/v1/scan", data=body, content_type=f"multipart/form-data; boundary={boundary}")
    return {"status": response.status_code, "body": response.get_json()}


@pytest.mark.parametrize("kind", ["png", "jpeg", "pdf"])
def test_a_scanned_diploma_gets_the_verdict_of_its_code(client: FlaskClient, synced: DemoCodes, kind: str) -> None:
    answer = scan(client, document_bytes(synced.valid, kind=kind), f"diploma.{kind}")
    assert answer["status"] == 200
    (result,) = answer["body"]["results"]
    assert result["raw"] == synced.valid
    assert result["verdict"]["status"] == "valid"
    assert result["verdict"]["code"] == synced.valid


def test_every_qr_on_a_page_is_verified(client: FlaskClient, synced: DemoCodes) -> None:
    link = f"https://sehat.example.ir/verify?code={synced.revoked}"
    answer = scan(client, document_bytes(synced.valid, link, synced.superseded))
    statuses = {result["raw"]: result["verdict"]["status"] for result in answer["body"]["results"]}
    assert statuses == {synced.valid: "valid", link: "revoked", synced.superseded: "superseded"}


def test_a_qr_without_a_code_has_no_verdict_and_says_why(client: FlaskClient, synced: DemoCodes) -> None:
    answer = scan(client, document_bytes("https://university.example.ir/about", synced.valid))
    by_raw = {result["raw"]: result for result in answer["body"]["results"]}
    other = by_raw["https://university.example.ir/about"]
    assert other["verdict"] is None
    assert "no authenticity code" in other["message"]["en"]
    assert "کد صحتی" in other["message"]["fa"]
    assert by_raw[synced.valid]["verdict"]["status"] == "valid"


def test_an_image_without_any_qr_is_422_in_the_error_shape(client: FlaskClient, synced: DemoCodes) -> None:
    blank = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (800, 600), "white").save(blank, format="PNG")
    answer = scan(client, blank.getvalue())
    assert answer["status"] == 422
    assert answer["body"]["error"]["code"] == "no_qr_found"
    assert answer["body"]["error"]["message_fa"]


def test_a_request_without_the_image_field_is_a_clear_error(client: FlaskClient, synced: DemoCodes) -> None:
    response = client.post("/api/v1/scan", data={"file": (io.BytesIO(b"x"), "a.png")})
    assert response.status_code == 422
    assert "image" in response.get_json()["error"]["message"]


def test_an_upload_over_the_limit_is_413_before_it_is_decoded(
    make_app: ...,  # type: ignore[valid-type]
    synced: DemoCodes,
) -> None:
    client = make_app(scan_max_bytes=1 << 20).test_client()
    started = time.monotonic()
    # Announced by its length: the box refuses it before reading the body.
    response = client.post(
        "/api/v1/scan", data=b"\0" * (3 << 20), content_type="multipart/form-data; boundary=sehat-test"
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "upload_too_large"
    assert time.monotonic() - started < 2
    assert client.get("/healthz").status_code == 200


def test_hostile_bytes_answer_4xx_and_the_box_goes_on(client: FlaskClient, synced: DemoCodes) -> None:
    for data in (b"", b"%PDF-1.7\n garbage", b"\x89PNG\r\n\x1a\n\0\0", b"GIF89a" + b"\xff" * 64, b"hello"):
        answer = scan(client, data, "photo.jpg")
        assert 400 <= answer["status"] < 500, data
        assert answer["body"]["error"]["code"]
    assert client.post("/api/v1/verify", json={"code": synced.valid}).get_json()["status"] == "valid"


def test_scans_are_audited_on_the_scan_channel(client: FlaskClient, synced: DemoCodes, box: DataDir) -> None:
    scan(client, document_bytes(synced.valid))
    with AuditLog.open(box) as audit:
        out = io.StringIO()
        audit.export_csv(out)
    assert out.getvalue().splitlines()[-1].split(",")[2] == "scan"
    assert synced.valid not in out.getvalue()


def test_scan_counts_against_the_verification_rate_limit(make_app: ..., synced: DemoCodes) -> None:  # type: ignore[valid-type]
    client = make_app(anonymous_rate_limit="2 per minute").test_client()
    answers = [scan(client, document_bytes(synced.valid))["status"] for _ in range(3)]
    assert answers == [200, 200, 429]


def test_the_kiosk_upload_shows_each_verdict(client: FlaskClient, synced: DemoCodes) -> None:
    token = csrf_token(client.get("/").get_data(as_text=True))
    response = client.post(
        "/scan",
        data={"csrf_token": token, "image": (io.BytesIO(document_bytes(synced.valid, synced.revoked)), "d.png")},
    )
    page = response.get_data(as_text=True)
    assert 'data-finding="valid"' in page
    assert 'data-finding="revoked"' in page


def test_the_kiosk_upload_of_a_bad_file_says_it_could_not_be_read(client: FlaskClient, synced: DemoCodes) -> None:
    token = csrf_token(client.get("/").get_data(as_text=True))
    response = client.post("/scan", data={"csrf_token": token, "image": (io.BytesIO(b"not an image"), "d.png")})
    assert 'data-status="scan_error"' in response.get_data(as_text=True)


# --- from a shell -------------------------------------------------------------------------------


def test_sehat_scan_verifies_a_folder_of_documents(box: DataDir, synced: DemoCodes, tmp_path: Path) -> None:
    valid, pdf = tmp_path / "valid.jpg", tmp_path / "revoked.pdf"
    valid.write_bytes(document_bytes(synced.valid, kind="jpeg"))
    pdf.write_bytes(document_bytes(synced.revoked, kind="pdf"))
    result = CliRunner().invoke(cli, ["scan", str(box.path), str(valid), str(pdf), "--json"])
    body = json.loads(result.stdout)
    statuses = [file["results"][0]["verdict"]["status"] for file in body["files"]]
    assert statuses == ["valid", "revoked"]
    assert result.exit_code == 4  # the worst finding decides


def test_sehat_scan_exits_0_when_every_document_is_valid(box: DataDir, synced: DemoCodes, tmp_path: Path) -> None:
    valid = tmp_path / "valid.png"
    valid.write_bytes(document_bytes(synced.valid))
    result = CliRunner().invoke(cli, ["scan", str(box.path), str(valid)])
    assert result.exit_code == 0
    assert "valid: Valid" in result.output


def test_sehat_scan_reports_an_unreadable_file_in_one_line(box: DataDir, synced: DemoCodes, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n")
    result = CliRunner().invoke(cli, ["scan", str(box.path), str(broken)])
    assert result.exit_code == 9
    assert "Traceback" not in result.output
    assert result.output.startswith(f"{broken}: ")


@pytest.mark.parametrize(
    ("kind", "exit_code"),
    [("valid", 0), ("revoked", 4), ("superseded", 5), ("unknown", 6), ("typo", 8)],
)
def test_sehat_verify_exits_0_only_for_valid(box: DataDir, synced: DemoCodes, kind: str, exit_code: int) -> None:
    code = {
        "valid": synced.valid,
        "revoked": synced.revoked,
        "superseded": synced.superseded,
        "unknown": "1" * 20,
        "typo": synced.valid[:19],
    }[kind]
    assert CliRunner().invoke(cli, ["verify", str(box.path), code]).exit_code == exit_code


def test_sehat_verify_of_someone_elses_document_is_not_exit_0(box: DataDir, synced: DemoCodes) -> None:
    other_id = "0499370899" if synced.valid_national_id != "0499370899" else "0013542419"
    result = CliRunner().invoke(cli, ["verify", str(box.path), synced.valid, "--national-id", other_id])
    assert result.exit_code == 3
    assert result.output.startswith("mismatch: Genuine document — but it belongs to someone else")


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_scan_of_each_kind_of_document_gets_the_right_status(
    client: FlaskClient, synced: DemoCodes, damage: str
) -> None:
    rng = random.Random(f"scan-{damage}")
    expected = {synced.valid: "valid", synced.revoked: "revoked", synced.superseded: "superseded"}
    for code, status in expected.items():
        link = f"https://sehat.example.ir/verify?code={code}"
        page = make_page(rng, {link: (900, 1900)})
        (result,) = scan(client, DAMAGE[damage](page, rng), f"scan.{damage}")["body"]["results"]
        assert (result["raw"], result["verdict"]["status"]) == (link, status)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_upload_over_http_is_a_clear_4xx_in_time_and_the_box_goes_on(
    live_box: str, synced: DemoCodes, case: str
) -> None:
    make, error, status = HOSTILE[case]
    started = time.monotonic()
    response = requests.post(f"{live_box}/api/v1/scan", files={"image": ("diploma.jpg", make())}, timeout=30)
    elapsed = time.monotonic() - started
    assert response.status_code == status
    assert response.json()["error"]["code"] == error.code
    assert response.json()["error"]["message_fa"]
    assert elapsed < GENEROUS_SECONDS
    after = requests.post(f"{live_box}/api/v1/verify", json={"code": synced.valid}, timeout=10)
    assert after.json()["status"] == "valid"


def test_a_large_upload_through_waitress_never_touches_the_disk(
    live_box: str, synced: DemoCodes, monkeypatch: pytest.MonkeyPatch
) -> None:
    spooled: list[str] = []
    monkeypatch.setattr(TempfileBasedBuffer, "newfile", lambda buffer: spooled.append("file") or io.BytesIO())
    photo = document_bytes(synced.valid, kind="png") + b"\0" * (3 << 20)  # PNG readers stop at IEND
    response = requests.post(f"{live_box}/api/v1/scan", files={"image": ("diploma.png", photo)}, timeout=30)
    assert response.status_code == 200
    assert spooled == []
