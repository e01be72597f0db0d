"""The camera module (appliance/static/camera.js) in real Chromium, with a fake camera showing a diploma QR.

A throwaway page in a temporary folder imports the module the way the kiosk will, and is served with
the project's appliance/static/ and the box's own Content-Security-Policy, on 127.0.0.1 only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Page, Playwright

from appliance.security import CONTENT_SECURITY_POLICY
from tests.support import browser
from tests.support.browser import BrowserSession, LaunchChromium, screenshot, serving_directory, wait_until
from tests.support.fake_camera import FRAME_SIZE, qr_video, write_y4m, y4m_from_image

# The browser fixtures; once tests/conftest.py imports them for the whole suite, these two lines can go.

STATIC = Path(__file__).resolve().parent.parent / "appliance" / "static"
CODE = "10001402311180000427"
WASM_PATH = "/static/vendor/zxing-wasm/reader/zxing_reader.wasm"

# Kept in a module of its own: the box's CSP allows no inline script.
TEST_PAGE = """<!doctype html>
<html lang="fa" dir="rtl">
<head><meta charset="utf-8"><title>camera test</title></head>
<body>
  <video id="camera-view" width="640" height="480"></video>
  <button data-action="camera">دوربین</button>
  <script type="module" src="/camera-test.js"></script>
</body>
</html>
"""
TEST_SCRIPT = """import { cameraAvailability, openCamera } from "/static/camera.js";

const video = document.getElementById("camera-view");
const state = { availability: cameraAvailability(), codes: [], errors: [], stream: null, camera: null };
window.cameraTest = state;
video.addEventListener("loadedmetadata", () => { state.stream = video.srcObject; });
document.querySelector('[data-action="camera"]').addEventListener("click", async () => {
  state.camera = await openCamera(video, {
    onCode: (text) => state.codes.push(text),
    onError: (reason) => state.errors.push(reason),
  });
});
state.ready = true;
"""
STATE = """({
  availability: cameraTest.availability,
  codes: cameraTest.codes,
  errors: cameraTest.errors,
  opened: cameraTest.stream !== null,
  tracks: cameraTest.stream ? cameraTest.stream.getTracks().map((track) => track.readyState) : [],
  showing: document.getElementById("camera-view").srcObject !== null,
})"""
SETTLED = "cameraTest.codes.length > 0 || cameraTest.errors.length > 0"


@pytest.fixture
def site_root(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    (root / "camera.html").write_text(TEST_PAGE, encoding="utf-8")
    (root / "camera-test.js").write_text(TEST_SCRIPT, encoding="utf-8")
    (root / "static").symlink_to(STATIC, target_is_directory=True)
    return root


@pytest.fixture
def site(site_root: Path) -> Iterator[str]:
    """The test page and appliance/static/, under the box's Content-Security-Policy; yields the base URL."""
    with serving_directory(site_root, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY}) as base_url:
        yield base_url


def open_test_page(session: BrowserSession, url: str) -> Page:
    page = session.new_page()
    page.goto(url)
    wait_until(page, "window.cameraTest && window.cameraTest.ready")
    return page


def scan(page: Page, session: BrowserSession) -> dict[str, Any]:
    """Press the camera button and wait for a code or an error; returns the page's state."""
    page.click('[data-action="camera"]')
    try:
        wait_until(page, SETTLED)
    except AssertionError as e:
        raise AssertionError(f"{e}\nthe page logged:\n{session.log()}") from e
    page.wait_for_timeout(1000)  # at five decodes a second, a second read would be here by now
    state: dict[str, Any] = page.evaluate(STATE)
    return state


# --- reading ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [CODE, f"https://sehat.example.ir/verify?code={CODE}", "۱۰۰۰۱۴۰۲۳۱۱۱۸۰۰۰۰۴۲۷"],
    ids=["bare-code", "link", "persian-digits"],
)
def test_the_camera_reads_a_diploma_qr_once_and_lets_go(
    chromium: LaunchChromium, site: str, tmp_path: Path, payload: str
) -> None:
    session = chromium(fake_camera=qr_video(payload, tmp_path / "qr.y4m"))
    page = open_test_page(session, f"{site}/camera.html")
    assert page.evaluate("cameraTest.availability") == "ok"

    state = scan(page, session)

    assert state["codes"] == [payload], session.log()
    assert state["errors"] == []
    assert state["opened"] and state["tracks"] == ["ended"], "the camera is released after the read"
    assert not state["showing"]
    assert f"{site}{WASM_PATH}" in session.guard.seen, "the decoder came from the box, not a CDN"
    session.guard.assert_local()


def test_stop_releases_the_camera_before_any_read(chromium: LaunchChromium, site: str, tmp_path: Path) -> None:
    blank = write_y4m(Image.new("RGB", (64, 64), "white"), tmp_path / "blank.y4m")
    session = chromium(fake_camera=blank)
    page = open_test_page(session, f"{site}/camera.html")
    page.click('[data-action="camera"]')
    wait_until(page, "cameraTest.camera !== null && !document.getElementById('camera-view').paused")
    shot = screenshot(page, tmp_path / "shots" / "camera-open.png")
    assert shot.read_bytes().startswith(b"\x89PNG")
    assert page.evaluate(STATE)["tracks"] == ["live"]

    page.evaluate("cameraTest.camera.stop()")

    state = page.evaluate(STATE)
    assert state["tracks"] == ["ended"]
    assert not state["showing"]
    page.wait_for_timeout(500)
    assert page.evaluate(STATE)["codes"] == page.evaluate(STATE)["errors"] == []


# --- refusals --------------------------------------------------------------------------------------


def test_a_refused_permission_is_reported_as_denied(chromium: LaunchChromium, site: str, tmp_path: Path) -> None:
    # Without the auto-accept flag or a granted permission, headless Chromium refuses the prompt.
    session = chromium(fake_camera=qr_video(CODE, tmp_path / "qr.y4m"), camera="ask")
    page = open_test_page(session, f"{site}/camera.html")

    state = scan(page, session)

    assert state["errors"] == ["denied"]
    assert state["codes"] == []
    assert not state["opened"]


def test_a_machine_without_a_camera_is_reported_as_no_camera(chromium: LaunchChromium, site: str) -> None:
    session = chromium(fake_camera=None)
    page = open_test_page(session, f"{site}/camera.html")

    assert scan(page, session)["errors"] == ["no_camera"]


def test_a_phone_on_plain_http_over_the_lan_is_told_the_page_is_insecure(
    chromium: LaunchChromium, site: str, tmp_path: Path
) -> None:
    # http://127.0.0.1 counts as secure; a LAN name over http does not (mapped to 127.0.0.1 here).
    session = chromium(fake_camera=qr_video(CODE, tmp_path / "qr.y4m"), host_aliases=("sehat.test",))
    page = open_test_page(session, site.replace("127.0.0.1", "sehat.test") + "/camera.html")
    assert page.evaluate("window.isSecureContext") is False
    assert page.evaluate("cameraTest.availability") == "insecure"

    state = scan(page, session)

    assert state["errors"] == ["insecure"]
    assert not state["opened"]


def test_a_browser_without_getusermedia_is_unsupported(chromium: LaunchChromium, site: str, tmp_path: Path) -> None:
    session = chromium(fake_camera=qr_video(CODE, tmp_path / "qr.y4m"))
    page = session.new_page()
    page.add_init_script("Object.defineProperty(Navigator.prototype, 'mediaDevices', { get: () => undefined });")
    page.goto(f"{site}/camera.html")
    wait_until(page, "window.cameraTest && window.cameraTest.ready")
    assert page.evaluate("cameraTest.availability") == "unsupported"

    assert scan(page, session)["errors"] == ["unsupported"]


def test_without_wasm_unsafe_eval_the_decoder_cannot_start(
    chromium: LaunchChromium, site_root: Path, tmp_path: Path
) -> None:
    """Why the box's CSP carries 'wasm-unsafe-eval': without it WebAssembly does not compile."""
    strict = CONTENT_SECURITY_POLICY.replace(" 'wasm-unsafe-eval'", "")
    assert strict != CONTENT_SECURITY_POLICY
    session = chromium(fake_camera=qr_video(CODE, tmp_path / "qr.y4m"))
    with serving_directory(site_root, headers={"Content-Security-Policy": strict}) as base_url:
        page = open_test_page(session, f"{base_url}/camera.html")
        state = scan(page, session)

    assert state["errors"] == ["failed"]
    assert state["tracks"] == ["ended"], "a failed start releases the camera too"
    assert "Content Security" in session.log()


# --- the fake camera's video file --------------------------------------------------------------------


def test_a_y4m_video_holds_the_frames_chromium_expects() -> None:
    video = y4m_from_image(Image.new("RGB", (10, 10), "black"), frames=3)
    header, _, body = video.partition(b"\n")
    assert re.fullmatch(rb"YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420", header)
    width, height = FRAME_SIZE
    frame = b"FRAME\n" + bytes(width * height * 3 // 2)
    assert len(body) == 3 * len(frame)
    luma = body[len(b"FRAME\n") :][: width * height]
    assert max(luma) == 235 and min(luma) == 16, "white and black in the video range"


@pytest.mark.parametrize("size", [(641, 480), (8, 8)])
def test_a_y4m_frame_must_be_even_and_hold_the_image(size: tuple[int, int]) -> None:
    with pytest.raises(ValueError):
        y4m_from_image(Image.new("RGB", (10, 10)), size=size)


# --- the request guard itself --------------------------------------------------------------------------


def test_the_request_guard_refuses_and_names_requests_that_leave_the_machine(
    playwright_driver: Playwright, site_root: Path, tmp_path: Path
) -> None:
    with (
        serving_directory(site_root) as base_url,  # no CSP: let the page try
        browser.launch_chromium(playwright_driver, tmp_path / "profile") as session,
    ):
        page = session.new_page()
        page.goto(f"{base_url}/camera.html")
        outcome = page.evaluate(
            "fetch('https://cdn.example.com/zxing_reader.wasm').then(() => 'fetched', () => 'refused')"
        )

    assert outcome == "refused"
    assert session.guard.foreign() == ["https://cdn.example.com/zxing_reader.wasm"]
    with pytest.raises(AssertionError, match=r"outside 127\.0\.0\.1:\n  https://cdn\.example\.com/zxing_reader\.wasm"):
        session.guard.assert_local()
