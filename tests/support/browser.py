"""Real Chromium for the suite: Debian's build driven by Playwright, offline, with an optional fake camera.

Everything a browser test needs, usable as plain functions or as pytest fixtures:

- ``launch_chromium(playwright, profile_dir, ...)``: a context manager yielding a ``BrowserSession``
  (a persistent context on a fresh profile, Debian's ``/usr/bin/chromium`` with the flags this
  machine needs; never a browser Playwright downloaded).
- a request guard on every session: each request any page makes is recorded, anything not for
  127.0.0.1 (or a ``host_aliases`` name mapped to it) is aborted, and
  ``session.guard.assert_local()`` fails loudly naming it. The ``chromium`` fixture asserts it
  after every test on its own.
- ``serving_directory(root, headers=...)``: a folder served on 127.0.0.1, for test-only pages.
- ``wait_until(page, expression)``: wait for a condition in a page under the box's CSP.
- ``screenshot(page, path)``.
- fixtures ``playwright_driver`` (session) and ``chromium`` (a factory: ``chromium(fake_camera=...)``);
  register them with ``from tests.support.browser import chromium, playwright_driver  # noqa: F401``
  in ``tests/conftest.py``.

The tests skip with a reason when Chromium is not installed, except where the ``CI`` environment
variable is set: CI installs Chromium, so there a missing browser is a failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Playwright, Route, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
LOOPBACK = "127.0.0.1"

# Without the networking flags Chromium phones Google at start and keeps trying on a closed network.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# Consent to the camera without the permission prompt.
AUTO_ACCEPT_FLAG = "--use-fake-ui-for-media-stream"

# Schemes that never leave the page; Chromium's own pages are not the page's requests.
_LOCAL_SCHEMES = {"data", "blob", "about", "chrome", "chrome-error"}

CameraConsent = Literal["allow", "ask"]


def require_chromium() -> None:
    """Skip the calling test when Debian's Chromium is missing (fail instead under CI)."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    reason = f"Debian's Chromium is not installed at {CHROMIUM} (scripts/install-system-packages installs it)"
    if os.environ.get("CI"):
        pytest.fail(reason + "; CI must run the browser tests")
    pytest.skip(reason)


@dataclass
class RequestGuard:
    """Every URL the pages asked for, and a check that none left the machine."""

    allowed_hosts: frozenset[str] = frozenset({LOOPBACK})
    seen: list[str] = field(default_factory=list)

    def is_local(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in _LOCAL_SCHEMES:
            return True
        return parts.scheme in {"http", "https", "ws", "wss"} and parts.hostname in self.allowed_hosts

    def record(self, url: str) -> None:
        self.seen.append(url)

    def foreign(self) -> list[str]:
        return [url for url in self.seen if not self.is_local(url)]

    def assert_local(self) -> None:
        """Raise ``AssertionError`` naming every request that was not for 127.0.0.1."""
        outside = self.foreign()
        if outside:
            listed = "\n  ".join(outside)
            raise AssertionError(f"the page asked for {len(outside)} address(es) outside {LOOPBACK}:\n  {listed}")


@dataclass
class BrowserSession:
    """One Chromium profile: its context, its request guard, and what its pages logged."""

    context: BrowserContext
    guard: RequestGuard
    console: list[str] = field(default_factory=list)

    def new_page(self) -> Page:
        return self.context.new_page()

    def log(self) -> str:
        """The pages' console messages and uncaught errors, one a line: to put in assertion messages."""
        return "\n".join(self.console)


def _watch(session: BrowserSession, page: Page) -> None:
    page.on("console", lambda message: session.console.append(_console_line(message)))
    page.on("pageerror", lambda error: session.console.append(f"pageerror: {error}"))
    page.on("websocket", lambda socket: session.guard.record(socket.url))


def _console_line(message: ConsoleMessage) -> str:
    return f"console.{message.type}: {message.text}"


@contextmanager
def launch_chromium(
    playwright: Playwright,
    profile_dir: Path,
    *,
    fake_camera: Path | None = None,
    camera: CameraConsent = "allow",
    host_aliases: tuple[str, ...] = (),
    extra_args: tuple[str, ...] = (),
) -> Iterator[BrowserSession]:
    """Start Debian's Chromium on a fresh profile in ``profile_dir``; close it at the end of the block.

    Args:
        playwright: a started sync Playwright (``sync_playwright().start()`` or the fixture).
        profile_dir: an empty or missing folder for the user-data dir.
        fake_camera: a ``.y4m`` video (``tests.support.fake_camera``) offered as the only camera;
            with ``None`` there is no camera at all (a fake device layer with no device, so a real
            webcam on the machine is never opened).
        camera: ``"allow"`` grants camera access without asking; ``"ask"`` leaves the permission
            prompt, which headless Chromium refuses, so getUserMedia fails with NotAllowedError.
        host_aliases: names to resolve to 127.0.0.1 (``--host-resolver-rules``) and let through the
            guard, e.g. to load the box as ``http://sehat.test:PORT/``, which is not a secure context.
        extra_args: more command-line flags.

    Yields:
        The session; the caller opens pages with ``session.new_page()``.
    """
    require_chromium()
    args = list(CHROMIUM_FLAGS)
    if fake_camera is not None:
        args += ["--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={fake_camera}"]
    else:
        # No camera, even on a machine with a webcam: a test never opens a real device.
        args.append("--use-fake-device-for-media-stream=device-count=0")
    if camera == "allow":
        args.append(AUTO_ACCEPT_FLAG)
    if host_aliases:
        args.append("--host-resolver-rules=" + ", ".join(f"MAP {name} {LOOPBACK}" for name in host_aliases))
    args += extra_args
    guard = RequestGuard(allowed_hosts=frozenset({LOOPBACK, *host_aliases}))
    profile_dir.mkdir(parents=True, exist_ok=True)
    context = playwright.chromium.launch_persistent_context(
        str(profile_dir),
        executable_path=str(CHROMIUM),
        headless=True,
        args=args,
        permissions=["camera"] if camera == "allow" else [],
        service_workers="block",
    )
    session = BrowserSession(context, guard)

    def refuse_outside(route: Route) -> None:
        route.abort("blockedbyclient")

    try:
        context.on("request", lambda request: guard.record(request.url))
        context.route(lambda url: not guard.is_local(url), refuse_outside)
        context.on("page", lambda page: _watch(session, page))
        for page in context.pages:  # the persistent context opens one blank page itself
            _watch(session, page)
        yield session
    finally:
        context.close()


@contextmanager
def serving_directory(root: Path, *, headers: Mapping[str, str] | None = None) -> Iterator[str]:
    """Serve the files under ``root`` on 127.0.0.1 (a thread) for the block; yields the base URL.

    ``headers`` are added to every response, e.g. the box's Content-Security-Policy, so a test page
    meets the same rules as the box's own pages. Symbolic links are followed.
    """
    extra = dict(headers or {})

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def end_headers(self) -> None:
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Cache-Control", "no-store")
            super().end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the request guard is the log that matters

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="test-static-server", daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def wait_until(page: Page, expression: str, *, timeout: float = 20.0, interval: float = 0.1) -> object:
    """Poll ``expression`` in ``page`` until it is truthy; returns its value, or fails after ``timeout`` s.

    Playwright's own ``wait_for_function`` evaluates its predicate with ``eval`` inside the page, which
    the box's Content-Security-Policy (no 'unsafe-eval') forbids; ``page.evaluate`` is not subject to it.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still falsy after {timeout} s: {expression}")
        page.wait_for_timeout(interval * 1000)


def screenshot(page: Page, path: Path) -> Path:
    """Save a full-page PNG of ``page`` at ``path`` (parents created); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


# --- fixtures ------------------------------------------------------------------------------------------

LaunchChromium = Callable[..., BrowserSession]


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    """One Playwright driver process for the whole run (browsers are per test)."""
    require_chromium()
    playwright = sync_playwright().start()
    yield playwright
    playwright.stop()


@pytest.fixture
def chromium(playwright_driver: Playwright, tmp_path: Path) -> Iterator[LaunchChromium]:
    """Factory: ``chromium(fake_camera=None, camera="allow", host_aliases=())`` → a ``BrowserSession``.

    Each call starts a browser on a fresh profile under ``tmp_path``. After the test every
    session is closed and its request guard checked: a request outside 127.0.0.1 fails the test.
    """
    sessions: list[BrowserSession] = []
    with ExitStack() as stack:

        def launch(
            *,
            fake_camera: Path | None = None,
            camera: CameraConsent = "allow",
            host_aliases: tuple[str, ...] = (),
            extra_args: tuple[str, ...] = (),
        ) -> BrowserSession:
            profile = tmp_path / f"chromium-profile-{len(sessions)}"
            session = stack.enter_context(
                launch_chromium(
                    playwright_driver,
                    profile,
                    fake_camera=fake_camera,
                    camera=camera,
                    host_aliases=host_aliases,
                    extra_args=extra_args,
                )
            )
            sessions.append(session)
            return session

        yield launch
    for session in sessions:
        session.guard.assert_local()
    for profile in tmp_path.glob("chromium-profile-*"):
        shutil.rmtree(profile, ignore_errors=True)
