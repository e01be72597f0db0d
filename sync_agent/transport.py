"""Where feed bytes come from: one small interface, an HTTP implementation and a bundle one.

Every download is bounded: a head by the head limit, an object by the size its
verified head announces — a server that sends more is refused, never read on. The
HTTP fetcher reuses connections, sends conditional requests for the head, resumes
cut downloads with ``Range``, retries connection errors and 5xx answers with
exponential back-off and jitter (urllib3's ``Retry``), and gives up on transfers
slower than the configured minimum rate or longer than their time budget (a base
plus the announced size at the minimum rate), so a mirror that trickles holds up
only its own issuer, and not for long. Foreign exceptions are wrapped in ours.
"""

from __future__ import annotations

import abc
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util.retry import Retry

from sync_agent.config import SyncConfig
from sync_agent.errors import DownloadError, HttpStatusError, MissingObjectError, NetworkError, SlowRetrievalError
from verifier.bundle import (
    BundleEntry,
    BundleIndex,
    index_bundle,
    iter_entry_chunks,
    match_bundle_entries,
    read_bundle_head,
)
from verifier.canonical import parse_json_object
from verifier.errors import LengthMismatchError, MalformedObjectError, OperatorError
from verifier.head import Head
from verifier.objects import HEAD_PATH, ObjectRef


@dataclass(frozen=True)
class HeadResponse:
    """A head as fetched; ``data`` is ``None`` when the server says it has not changed."""

    data: bytes | None
    etag: str | None


class Fetcher(abc.ABC):
    """A source of one issuer's feed: a head, then the objects it lists."""

    source = "unknown"

    @abc.abstractmethod
    def fetch_head(self, etag: str | None) -> HeadResponse: ...

    @abc.abstractmethod
    def fetch_object(self, ref: ObjectRef, destination: Path) -> int:
        """Write the object to ``destination`` (at most ``ref.size`` bytes); return bytes transferred."""

    def available(self, head: Head) -> Head:
        """The head as far as this source can serve it (a bundle carries only some objects)."""
        return head

    def close(self) -> None:  # noqa: B027 - a no-op by default, overridden where there is something to close
        """Release connections or files."""


class HttpFetcher(Fetcher):
    """Fetches a feed published under ``base_url`` (a static server, CDN or object store)."""

    source = "http"

    def __init__(self, base_url: str, config: SyncConfig, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.config = config
        self.session = session or requests.Session()
        retry = Retry(
            total=config.http_retries,
            connect=config.http_retries,
            read=config.http_retries,
            status=config.http_retries,
            backoff_factor=config.retry_backoff,
            backoff_jitter=config.retry_jitter,
            status_forcelist=(500, 502, 503, 504),
            allowed_methods=("GET",),
            # A server's Retry-After could park the agent (and every other issuer) for a day;
            # our own back-off between syncs already spaces out the attempts.
            respect_retry_after_header=False,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = config.user_agent

    def _timeout(self) -> tuple[float, float]:
        return (self.config.connect_timeout, self.config.read_timeout)

    def _get(self, url: str, headers: dict[str, str]) -> requests.Response:
        try:
            return self.session.get(url, headers=headers, timeout=self._timeout(), stream=True)
        except requests.RequestException as error:
            raise NetworkError(f"{url}: {type(error).__name__}") from error

    def fetch_head(self, etag: str | None) -> HeadResponse:
        url = f"{self.base_url}/{HEAD_PATH}"
        deadline = time.monotonic() + self.config.head_time_budget
        # Identity: the limit bounds the bytes we read, and raw reads would not decompress.
        headers = {"Accept-Encoding": "identity", **({"If-None-Match": etag} if etag else {})}
        with self._get(url, headers) as response:
            if response.status_code == 304 and etag:
                return HeadResponse(data=None, etag=etag)
            if response.status_code != 200:
                raise HttpStatusError(url, response.status_code)
            data = self._read_bounded(response, self.config.limits.max_head_bytes, "head", url, deadline)
            return HeadResponse(data=data, etag=response.headers.get("ETag"))

    def _read_bounded(self, response: requests.Response, limit: int, name: str, url: str, deadline: float) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in self._chunks(response, url, deadline):
            size += len(chunk)
            if size > limit:
                raise MalformedObjectError(name, f"larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _chunks(self, response: requests.Response, url: str, deadline: float) -> Iterator[bytes]:
        """Yield the body as it arrives, enforcing the minimum transfer rate and the deadline."""
        # The rate is judged over consecutive windows of ``rate_grace`` seconds, so a fast start
        # cannot buy hours of trickling afterwards.
        window_started = time.monotonic()
        window_bytes = 0
        raw = response.raw
        try:
            while True:
                chunk = raw.read1(self.config.chunk_size)
                if not chunk:
                    return
                window_bytes += len(chunk)
                yield chunk
                if time.monotonic() > deadline:
                    raise SlowRetrievalError(f"{url}: took longer than its time budget")
                elapsed = time.monotonic() - window_started
                if elapsed >= self.config.rate_grace:
                    if window_bytes / elapsed < self.config.min_rate:
                        raise SlowRetrievalError(
                            f"{url}: {window_bytes / elapsed:.0f} B/s is below the minimum {self.config.min_rate} B/s"
                        )
                    window_started, window_bytes = time.monotonic(), 0
        except (requests.RequestException, Urllib3Error, OSError) as error:
            raise NetworkError(f"{url}: transfer cut ({type(error).__name__})") from error

    def fetch_object(self, ref: ObjectRef, destination: Path) -> int:
        url = f"{self.base_url}/{ref.path}"
        partial = destination.with_name(destination.name + ".part")
        have = partial.stat().st_size if partial.exists() else 0
        if have > ref.size:
            partial.unlink()
            have = 0
        if have < ref.size:
            deadline = time.monotonic() + self.config.object_time_budget(ref.size - have)
            headers = {"Accept-Encoding": "identity"}
            if have:
                headers["Range"] = f"bytes={have}-"
            with self._get(url, headers) as response:
                have = self._write_body(response, ref, partial, have, url, deadline)
        if have != ref.size:
            raise DownloadError(f"{url}: ended after {have} of {ref.size} bytes; the next attempt resumes")
        os.replace(partial, destination)
        return have

    def _write_body(
        self, response: requests.Response, ref: ObjectRef, partial: Path, have: int, url: str, deadline: float
    ) -> int:
        if response.status_code == 206 and have:
            content_range = response.headers.get("Content-Range", "")
            if not content_range.startswith(f"bytes {have}-"):
                raise DownloadError(f"{url}: unexpected Content-Range {content_range!r}")
            mode = "ab"
        elif response.status_code == 200:
            have, mode = 0, "wb"
        elif response.status_code == 416:
            partial.unlink(missing_ok=True)
            raise DownloadError(f"{url}: the partial download no longer matches; it restarts next time")
        else:
            raise HttpStatusError(url, response.status_code)
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and have + int(declared) != ref.size:
            raise LengthMismatchError(
                ref.name, f"the server offers {have + int(declared)} bytes, the head lists {ref.size}"
            )
        with open(partial, mode) as handle:
            for chunk in self._chunks(response, url, deadline):
                if have + len(chunk) > ref.size:
                    handle.truncate(0)
                    raise LengthMismatchError(ref.name, f"the server sent more than the {ref.size} bytes listed")
                handle.write(chunk)
                have += len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        return have

    def close(self) -> None:
        self.session.close()


_FILE_KINDS = (
    (stat.S_ISDIR, "a directory", "یک پوشه"),
    (stat.S_ISFIFO, "a named pipe (FIFO)", "یک لوله‌ی نام‌دار (FIFO)"),
    (stat.S_ISSOCK, "a socket", "یک سوکت"),
    (stat.S_ISCHR, "a character device", "یک دستگاه نویسه‌ای"),
    (stat.S_ISBLK, "a block device", "یک دستگاه بلوکی"),
)


def _refuse_unless_regular(path: Path, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    kind_en, kind_fa = next(((en, fa) for test, en, fa in _FILE_KINDS if test(mode)), ("not a file", "فایل نیست"))
    raise OperatorError(
        f"{path} is {kind_en}, not a bundle file; copy the .sehat file from the stick and import the copy.",
        f"{path} {kind_fa} است، نه فایل بسته؛ فایل ‎.sehat را از حافظه‌ی USB کپی کنید و کپی را وارد کنید.",
    )


def open_bundle_file(path: Path) -> BinaryIO:
    """Open a bundle for reading, refusing anything but a regular file without waiting on it.

    A named pipe blocks ``open()`` until something writes to it, and a device can be read
    forever; either would hang an import while it holds the sync lock. So the path is
    checked first, then opened with ``O_NONBLOCK`` (which never waits) and checked again on
    the open descriptor — the file it names may have been swapped in between.

    Raises:
        OperatorError: the path is a directory, pipe, socket or device.
        DownloadError: the file cannot be read.
    """
    try:
        _refuse_unless_regular(path, os.stat(path).st_mode)
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise DownloadError(f"cannot read bundle {path}: {error.strerror}") from error
    try:
        _refuse_unless_regular(path, os.fstat(descriptor).st_mode)
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


class BundleFetcher(Fetcher):
    """Reads a feed from an offline bundle file (a USB stick), through the same interface."""

    source = "bundle"

    def __init__(self, path: Path, config: SyncConfig) -> None:
        self.path = path
        self.config = config
        self._stream: BinaryIO = open_bundle_file(path)
        self._index: BundleIndex | None = None
        self._entries: dict[str, BundleEntry] = {}

    @property
    def index(self) -> BundleIndex:
        """The bundle's framing, checked whole (any damage anywhere is found here)."""
        if self._index is None:
            self._index = index_bundle(self._stream, self.config.limits)
        return self._index

    def issuer_hint(self) -> str:
        """The issuer the bundle's head claims (unverified; only to pick the trust anchor).

        Reads just the head, so that a bundle damaged further on is still refused in
        its issuer's sync history.
        """
        self._stream.seek(0)
        head = read_bundle_head(self._stream, self.config.limits)
        envelope = parse_json_object(head, "head")
        signed = envelope.get("signed")
        issuer = signed.get("issuer") if isinstance(signed, dict) else None
        if not isinstance(issuer, str):
            raise MalformedObjectError("head", "names no issuer")
        return issuer

    def fetch_head(self, etag: str | None) -> HeadResponse:
        return HeadResponse(data=self.index.head, etag=None)

    def available(self, head: Head) -> Head:
        self._entries = match_bundle_entries(self.index, head)
        segments = tuple(segment for segment in head.segments if segment.sha256 in self._entries)
        snapshot = head.snapshot
        if snapshot is not None and any(chunk.sha256 not in self._entries for chunk in snapshot.chunks):
            snapshot = None
        return replace(head, segments=segments, snapshot=snapshot)

    def fetch_object(self, ref: ObjectRef, destination: Path) -> int:
        entry = self._entries.get(ref.sha256)
        if entry is None:
            raise MissingObjectError(f"the bundle does not carry {ref.name}")
        partial = destination.with_name(destination.name + ".part")
        written = 0
        with open(partial, "wb") as handle:
            for chunk in iter_entry_chunks(self._stream, entry, self.config.chunk_size):
                handle.write(chunk)
                written += len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, destination)
        return written

    def close(self) -> None:
        self._stream.close()
