"""``sehat demo``: the whole chain on this machine, from the sample data to the kiosk.

Builds one registry for each of the five educational bodies, each with its own keys
and its own sample (``data/sample-<issuer>.csv``); in each, revokes one document and
supersedes a provisional certificate with its diploma. Publishes the five signed
feeds and serves them on one localhost port, each under ``/<issuer>/`` (re-signing
every head on a schedule like a real registry), creates one box that trusts all
five, syncs it once and then on a schedule, and serves the box's kiosk and API.
It prints codes to try from several issuers, each with its verdict, and a ``curl``
line for each.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import secrets
import shutil
import signal
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click
import schedule
from waitress.server import create_server
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from appliance import create_app
from appliance.access import AccessStore
from appliance.datadir import DataDir
from appliance.replica import Replica
from appliance.serving import box_server, listening_socket, stop_serving
from appliance.store import close_stores
from data.generator import ISSUER_SAMPLES
from registry.config import RegistryConfig
from registry.feed_server import create_feed_app
from registry.publisher import Publisher
from registry.registry import Registry
from storage.durable import write_atomic
from sync_agent.agent import SyncAgent
from sync_agent.config import SyncConfig
from verifier.sealing import KdfParams
from verifier.signing import TrustAnchor

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


@dataclass(frozen=True)
class DemoBody:
    """One of the five educational bodies, as the demo names its registry."""

    issuer: str
    name_fa: str
    name_en: str


#: The five bodies whose documents carry the national authenticity code, in the order shown.
DEMO_BODIES: tuple[DemoBody, ...] = (
    DemoBody("msrt", "وزارت علوم، تحقیقات و فناوری", "Ministry of Science, Research and Technology"),
    DemoBody("behdasht", "وزارت بهداشت، درمان و آموزش پزشکی", "Ministry of Health and Medical Education"),
    DemoBody("azad", "دانشگاه آزاد اسلامی", "Islamic Azad University"),
    DemoBody("hawzeh", "حوزه‌های علمیه", "The seminaries (Hawza)"),
    DemoBody("jz", "جامعةالزهرا", "Jamiat al-Zahra"),
)
#: The codes the demo prints: which issuer's code of which kind, so that they come from several issuers.
DEMO_TRIES: tuple[tuple[str, str], ...] = (
    ("msrt", "valid"),
    ("azad", "revoked"),
    ("behdasht", "superseded"),
    ("hawzeh", "valid"),
    ("jz", "valid"),
)
DEMO_REVOCATION_REASON = "صدور اشتباه (نمونه نمایشی)"
DEMO_SYNC_MINUTES = 5
DEMO_OPERATOR = "admin"  # its password is made fresh for each run and printed


@dataclass(frozen=True)
class DemoCodes:
    valid: str
    revoked: str
    superseded: str

    def of(self, status: str) -> str:
        """The code whose verdict is ``status`` (valid, revoked or superseded)."""
        return {"valid": self.valid, "revoked": self.revoked, "superseded": self.superseded}[status]


@dataclass(frozen=True)
class DemoIssuer:
    """One demo registry: its body, where it lives, the rows it imported and its codes of each kind."""

    body: DemoBody
    directory: Path
    root_key: Path
    records: int
    codes: DemoCodes

    @property
    def issuer(self) -> str:
        return self.body.issuer


@dataclass(frozen=True)
class CodeToTry:
    """A printed code, with the verdict it gets and the issuer that signed it."""

    issuer: DemoBody
    status: str
    code: str


def sample_csv(issuer: str) -> bytes:
    """The committed synthetic sample of one body's registry (no real person's data)."""
    return resources.files("data").joinpath(ISSUER_SAMPLES[issuer].file_name).read_bytes()


def build_demo_registries(root: Path, kdf_cost: int | None = None) -> list[DemoIssuer]:
    """Create the five demo registries under ``root/registries``, in ``DEMO_BODIES`` order.

    Each gets its own keys (its root key under ``root/root-keys``), its own sample,
    one revoked document and one provisional certificate superseded by its diploma.
    """
    return [
        build_demo_registry(
            root / "registries" / body.issuer, body, root / "root-keys" / f"{body.issuer}.pem", kdf_cost
        )
        for body in DEMO_BODIES
    ]


def build_demo_registry(directory: Path, body: DemoBody, root_key: Path, kdf_cost: int | None = None) -> DemoIssuer:
    """Create ``body``'s demo registry in ``directory`` from its sample; return it with a code of each kind."""
    now = datetime.now(UTC)
    kdf = KdfParams(log2_n=kdf_cost) if kdf_cost is not None else KdfParams()
    data = sample_csv(body.issuer)
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    # The demo's root keys sit in the demo's temporary folder; a real issuer keeps its
    # root key on a removable medium (README, "Running a registry").
    with Registry.init(
        directory, body.issuer, now, name_fa=body.name_fa, name_en=body.name_en, kdf=kdf, root_key_path=root_key
    ) as registry:
        codes = [code for _, code in registry.import_csv(data, now)]
        pair = next(
            index
            for index in range(len(rows) - 1)
            if rows[index]["document_type"] == "provisional"
            and rows[index + 1]["document_type"] == "diploma"
            and rows[index]["national_id"] == rows[index + 1]["national_id"]
        )
        singles = [
            index
            for index, row in enumerate(rows)
            if row["document_type"] == "diploma" and index not in (pair, pair + 1)
        ]
        registry.supersede(codes[pair], codes[pair + 1], now)
        registry.revoke(codes[singles[0]], DEMO_REVOCATION_REASON, now)
    return DemoIssuer(
        body=body,
        directory=directory,
        root_key=root_key,
        records=len(rows),
        codes=DemoCodes(valid=codes[singles[1]], revoked=codes[singles[0]], superseded=codes[pair]),
    )


def codes_to_try(issuers: Sequence[DemoIssuer]) -> list[CodeToTry]:
    """The codes the demo prints (``DEMO_TRIES``), each with its expected verdict and issuer."""
    by_issuer = {demo.issuer: demo for demo in issuers}
    return [
        CodeToTry(by_issuer[issuer].body, status, by_issuer[issuer].codes.of(status))
        for issuer, status in DEMO_TRIES
        if issuer in by_issuer
    ]


def publish_demo_feeds(issuers: Sequence[DemoIssuer], feeds: Path, config: RegistryConfig, now: datetime) -> None:
    """Publish (or re-sign) every demo registry's feed into ``feeds/<issuer>``."""
    for demo in issuers:
        with Registry.open(demo.directory) as registry:
            Publisher(registry, config).publish(feeds / demo.issuer, now)


def demo_feed_app(issuers: Sequence[DemoIssuer], feeds: Path) -> WSGIApplication:
    """One WSGI app serving each issuer's feed from ``feeds/<issuer>`` under ``/<issuer>/``."""
    mounts: dict[str, WSGIApplication] = {f"/{demo.issuer}": create_feed_app(feeds / demo.issuer) for demo in issuers}
    return DispatcherMiddleware(NotFound(), mounts)


def demo_feed_urls(issuers: Sequence[DemoIssuer], base_url: str) -> dict[str, str]:
    """Each issuer's feed URL under the demo feed server at ``base_url``."""
    return {demo.issuer: f"{base_url.rstrip('/')}/{demo.issuer}" for demo in issuers}


def demo_trust_anchors(issuers: Sequence[DemoIssuer]) -> list[TrustAnchor]:
    """Each demo registry's trust anchor (issuer id and root public key)."""
    anchors = []
    for demo in issuers:
        with Registry.open(demo.directory) as registry:
            anchors.append(registry.trust_anchor())
    return anchors


def create_demo_box(box_dir: Path, issuers: Sequence[DemoIssuer], feed_base_url: str) -> DataDir:
    """Create a box in ``box_dir`` that trusts every demo issuer and pulls each feed from the demo feed server."""
    datadir = DataDir(box_dir)
    Replica.create(datadir, demo_trust_anchors(issuers), demo_feed_urls(issuers, feed_base_url)).close()
    return datadir


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo's files here (default: a temporary folder removed on exit).",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="The box's web port.")
@click.option(
    "--feed-port",
    type=click.IntRange(1, 65535),
    default=8081,
    show_default=True,
    help="The port of the five signed feeds, each under /<issuer>/.",
)
@click.option("--kdf-cost", type=int, default=None, help="Override the sealing cost (log2 of scrypt N).")
def demo_command(directory: Path | None, port: int, feed_port: int, kdf_cost: int | None) -> None:
    """Run the whole box on this machine: five issuers' registries and signed feeds, a synced box and its kiosk.

    The five educational bodies (msrt, behdasht, azad, hawzeh, jz) each get a registry
    with its own keys and sample data; one box trusts them all.

    \b
    Example:
      sehat demo
      open http://127.0.0.1:8080/ and type one of the printed codes
    """
    temporary = directory is None
    root = Path(tempfile.mkdtemp(prefix="sehat-demo-")) if directory is None else directory
    try:
        _run_demo(root, port, feed_port, kdf_cost)
    finally:
        if temporary:
            shutil.rmtree(root, ignore_errors=True)


def _run_demo(root: Path, port: int, feed_port: int, kdf_cost: int | None) -> None:
    feed_dir, box_dir = root / "feeds", root / "box"
    click.echo("Building the five demo registries from their sample data…", err=True)
    issuers = build_demo_registries(root, kdf_cost)
    config = RegistryConfig()

    def publish() -> None:
        publish_demo_feeds(issuers, feed_dir, config, datetime.now(UTC))

    publish()
    trust_files = {}
    for anchor in demo_trust_anchors(issuers):
        trust_files[anchor.issuer] = root / f"{anchor.issuer}.trust.json"
        write_atomic(
            trust_files[anchor.issuer], json.dumps(anchor.to_dict(), ensure_ascii=False, indent=2).encode("utf-8")
        )

    feed_server = create_server(demo_feed_app(issuers, feed_dir), host="127.0.0.1", port=feed_port, threads=4)
    threading.Thread(target=_serve_quietly, args=(feed_server,), name="feed", daemon=True).start()
    feed_base = f"http://127.0.0.1:{feed_port}"

    datadir = create_demo_box(box_dir, issuers, feed_base)
    operator_password = secrets.token_urlsafe(9)
    with AccessStore.open(datadir) as access:
        access.add_user(DEMO_OPERATOR, operator_password, datetime.now(UTC))
    agent = SyncAgent(datadir, SyncConfig(interval_minutes=DEMO_SYNC_MINUTES))
    for outcome in agent.sync_once():
        click.echo(outcome.describe(), err=True)

    stop = threading.Event()

    def republish_loop() -> None:
        scheduler = schedule.Scheduler()
        scheduler.every(int(config.republish_interval.total_seconds())).seconds.do(publish)
        while not stop.wait(1):
            scheduler.run_pending()

    threading.Thread(target=republish_loop, name="republish", daemon=True).start()
    threading.Thread(target=agent.run, args=(stop,), name="sync", daemon=True).start()

    app = create_app({"datadir": box_dir, "host": "127.0.0.1", "port": port})
    web_server = box_server(app, app.config["SEHAT"], listening_socket(app.config["SEHAT"]))

    def shut_down(signum: int, frame: FrameType | None) -> None:
        stop.set()
        stop_serving(web_server)
        feed_server.close()

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    base = f"http://127.0.0.1:{port}"
    feed_urls = demo_feed_urls(issuers, feed_base)
    tries = codes_to_try(issuers)
    lines = [
        "",
        "Sehat demo is running.",
        f"  Kiosk:         {base}/",
        f"  HR desk:       {base}/desk  (check a CSV or XLSX spreadsheet of codes)",
        f"  Operator:      {base}/admin/  (name: {DEMO_OPERATOR}, password: {operator_password})",
        f"  API document:  {base}/api/v1/openapi.json",
        "  Issuers, each with its signed feed and trust anchor:",
    ]
    for demo in issuers:
        lines.append(f"    {demo.issuer:<9} {demo.body.name_en}")
        lines.append(f"              {feed_urls[demo.issuer]}/head.json  {trust_files[demo.issuer]}")
    lines.append("  Codes to try:")
    for attempt in tries:
        lines.append(f"    {attempt.status:<11} {attempt.code}  {attempt.issuer.issuer:<9} {attempt.issuer.name_en}")
    lines.append("  Or from a shell:")
    for attempt in tries:
        body = json.dumps({"code": attempt.code})
        lines.append(f"    curl -s -X POST {base}/api/v1/verify -H 'Content-Type: application/json' -d '{body}'")
    lines.append("  Press Ctrl+C to stop.")
    click.echo("\n".join(lines) + "\n")
    try:
        _serve_quietly(web_server)
    finally:
        stop.set()
        close_stores(app)
    click.echo("Demo stopped.", err=True)


def _serve_quietly(server: object) -> None:
    """Run a waitress server until it is closed (closing raises in its loop; that is the stop)."""
    with contextlib.suppress(OSError):
        server.run()  # type: ignore[attr-defined]
