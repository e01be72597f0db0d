"""A registry and its feed server, for tests that need a real feed over real HTTP.

``FeedSimulator`` wraps a real reference registry and publishes its feed into a
folder served by a real threaded HTTP server on 127.0.0.1 (Range, ETag and
conditional requests like any static server). It can also misbehave on request —
fail with a status, stall mid-body, send more than announced, serve other bytes
for a path — so tests read as attack and outage scenarios.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from registry.config import RegistryConfig
from registry.publisher import Publisher
from registry.registry import Registry
from storage.durable import write_atomic
from tests.conftest import NOW, graduates_csv
from verifier.chain import genesis_chain
from verifier.freshness import HTTP_CHANNEL
from verifier.head import build_head
from verifier.objects import HEAD_PATH


@dataclass
class Faults:
    """Misbehaviour the server applies to paths matching a pattern."""

    status: dict[str, list[int]] = field(default_factory=dict)  # pattern -> statuses to answer, one per request
    stall_after: dict[str, int] = field(default_factory=dict)  # pattern -> bytes sent before stalling
    extra_bytes: dict[str, int] = field(default_factory=dict)  # pattern -> junk appended beyond the file
    replace: dict[str, bytes] = field(default_factory=dict)  # exact path -> body served instead
    drip: dict[str, float] = field(default_factory=dict)  # pattern -> seconds between 64-byte pieces
    drip_after: dict[str, tuple[int, float]] = field(default_factory=dict)  # pattern -> (fast bytes, then drip)
    retry_after: int | None = None  # seconds announced with error statuses
    gzip: bool = False  # compress bodies for clients that accept gzip, as CDNs do
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (path, headers) seen


def _matching(table: dict[str, object], path: str) -> str | None:
    return next((pattern for pattern in table if re.search(pattern, path)), None)


class _FeedHandler(BaseHTTPRequestHandler):
    server: _FeedServer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests read outcomes, not access logs."""

    def do_GET(self) -> None:
        path = self.path.lstrip("/")
        faults = self.server.faults
        faults.requests.append((path, dict(self.headers)))
        pattern = _matching(faults.status, path)  # type: ignore[arg-type]
        if pattern and faults.status[pattern]:
            self.send_response(faults.status[pattern].pop(0))
            if faults.retry_after is not None:
                self.send_header("Retry-After", str(faults.retry_after))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path in faults.replace:
            body = faults.replace[path]
        else:
            file = self.server.root / path
            if ".." in path or not file.is_file():
                self.send_error(HTTPStatus.NOT_FOUND)
                return
            body = file.read_bytes()
        etag = f'"{hashlib.sha256(body).hexdigest()}"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        start = 0
        ranged = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if ranged and int(ranged.group(1)) < len(body):
            start = int(ranged.group(1))
            self.send_response(HTTPStatus.PARTIAL_CONTENT)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(HTTPStatus.OK)
        payload = body[start:]
        extra_pattern = _matching(faults.extra_bytes, path)  # type: ignore[arg-type]
        if extra_pattern:
            payload += b"x" * faults.extra_bytes[extra_pattern]
        stall_pattern = _matching(faults.stall_after, path)  # type: ignore[arg-type]
        if faults.gzip and "gzip" in self.headers.get("Accept-Encoding", ""):
            payload = gzip.compress(payload)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        drip_after_pattern = _matching(faults.drip_after, path)  # type: ignore[arg-type]
        if drip_after_pattern:
            fast, pause = faults.drip_after[drip_after_pattern]
            self.wfile.write(payload[:fast])
            self.wfile.flush()
            for offset in range(fast, len(payload), 64):
                if self.server.stalled.wait(pause):
                    return
                self.wfile.write(payload[offset : offset + 64])
                self.wfile.flush()
            return
        drip_pattern = _matching(faults.drip, path)  # type: ignore[arg-type]
        if drip_pattern:
            for offset in range(0, len(payload), 64):
                if self.server.stalled.wait(faults.drip[drip_pattern]):
                    return
                self.wfile.write(payload[offset : offset + 64])
                self.wfile.flush()
            return
        if stall_pattern:
            cut = faults.stall_after.pop(stall_pattern)
            self.wfile.write(payload[:cut])
            self.wfile.flush()
            self.server.stalled.wait(timeout=30)
            return
        self.wfile.write(payload)


class _FeedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, faults: Faults) -> None:
        super().__init__(("127.0.0.1", 0), _FeedHandler)
        self.root = root
        self.faults = faults
        self.stalled = threading.Event()


class FeedSimulator:
    """A registry publishing to a feed folder served over HTTP on 127.0.0.1."""

    def __init__(self, registry: Registry, feed_dir: Path, config: RegistryConfig | None = None) -> None:
        self.registry = registry
        self.feed_dir = feed_dir
        self.publisher = Publisher(registry, config or RegistryConfig())
        self.now = NOW
        self.faults = Faults()
        self._server = _FeedServer(feed_dir, self.faults)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        feed_dir.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        self._seed = 1000
        self._reopened: list[Registry] = []

    def reopen_registry(self) -> None:
        """Open the registry's directory anew (after a test replaced or restored it)."""
        self.registry = Registry.open(self.registry.directory)
        self.publisher = Publisher(self.registry, self.publisher.config)
        self._reopened.append(self.registry)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def issuer(self) -> str:
        return self.registry.issuer

    def close(self) -> None:
        for registry in self._reopened:
            registry.close()
        self._server.stalled.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    # --- the registry side ---------------------------------------------------------------------

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now

    def add_records(self, count: int) -> list[str]:
        self._seed += 1
        return [code for _, code in self.registry.import_csv(graduates_csv(count, seed=self._seed), self.now)]

    def codes(self) -> list[str]:
        return [row[0] for row in self.registry.connection.execute("SELECT code FROM records ORDER BY seq")]

    def revoke(self, count: int) -> list[str]:
        rows = self.registry.connection.execute(
            "SELECT code FROM records WHERE revocation_reason IS NULL AND superseded_by IS NULL "
            "AND code NOT IN (SELECT superseded_by FROM records WHERE superseded_by IS NOT NULL) LIMIT ?",
            (count,),
        ).fetchall()
        for (code,) in rows:
            self.registry.revoke(code, "صدور اشتباه", self.now)
        return [code for (code,) in rows]

    def add_superseded_pairs(self, count: int) -> list[tuple[str, str]]:
        """Issue ``count`` provisional certificates with their diplomas, and supersede each."""
        self._seed += 1
        rows = list(csv.DictReader(io.StringIO(graduates_csv(count, seed=self._seed).decode("utf-8"))))
        lines = ["code,national_id,full_name,document_type,degree_level,field,institution,issued_on"]
        for row in rows:
            base = [row["national_id"], row["full_name"], row["degree_level"], row["field"], row["institution"]]
            lines.append(",".join(["", base[0], base[1], "provisional", *base[2:], "2022-09-21"]))
            lines.append(",".join(["", base[0], base[1], "diploma", *base[2:], "2023-09-21"]))
        codes = [code for _, code in self.registry.import_csv(("\n".join(lines) + "\n").encode("utf-8"), self.now)]
        pairs = list(zip(codes[::2], codes[1::2], strict=True))
        for old, new in pairs:
            self.registry.supersede(old, new, self.now)
        return pairs

    def publish(self) -> bytes:
        """Publish (cut, sign, write) at the simulator's clock; return the head's bytes."""
        self.publisher.publish(self.feed_dir, self.now)
        return self.head_bytes()

    def head_bytes(self) -> bytes:
        return (self.feed_dir / HEAD_PATH).read_bytes()

    def forge_head(
        self,
        issued_at: datetime | None = None,
        lifetime: timedelta = timedelta(hours=48),
        channel: str = HTTP_CHANNEL,
        **overrides: object,
    ) -> bytes:
        """A head signed with the issuer's current signing key as a thief holding it would sign one.

        Any issue time, lifetime, channel or field (``seq=2**63``) — nothing is checked, so
        tests can serve what no honest registry publishes.
        """
        self.publisher.cut()
        store = self.registry.store
        seq, digest, records = self.registry.digest()
        _, chain = store.cut_position()
        issued = issued_at or self.now
        fields: dict[str, object] = {
            "issuer": self.issuer,
            "seq": seq,
            "chain": chain or genesis_chain(self.issuer),
            "digest": digest,
            "records": records,
            "issued_at": issued,
            "expires": issued + lifetime,
            "profile": self.registry.profile,
            "segments": store.latest_segments(self.publisher.config.head_segment_window),
            "snapshot": store.latest_snapshot(),
            "catalogue": self.publisher.write_catalogue(),
            "key_certificate": self.registry.key_certificate(),
            "signing_key": self.registry.signing_key(),
            "channel": channel,
        }
        fields.update(overrides)
        return build_head(**fields)  # type: ignore[arg-type]

    def put_head(self, data: bytes) -> None:
        """Serve ``data`` as the head (a replayed or forged head)."""
        write_atomic(self.feed_dir / HEAD_PATH, data)

    def digest(self) -> tuple[int, str]:
        seq, digest, _ = self.registry.digest()
        return seq, digest

    def trust_file(self, directory: Path) -> Path:
        path = directory / f"{self.issuer}.trust.json"
        path.write_text(json.dumps(self.registry.trust_anchor().to_dict(), ensure_ascii=False), encoding="utf-8")
        return path

    def objects(self, kind: str) -> list[Path]:
        return sorted((self.feed_dir / kind).iterdir(), key=lambda path: path.stat().st_mtime_ns)

    def release_stalls(self) -> None:
        self._server.stalled.set()
        time.sleep(0)
