"""``sehat demo``: the whole chain on this machine, from the sample data to the kiosk.

Builds a demo registry from ``data/sample.csv``, revokes one document and
supersedes a provisional certificate with its diploma, publishes the signed feed
and serves it on localhost (re-signing the head on a schedule like a real
registry), creates a box that trusts it, syncs it on a schedule, and serves the
box's kiosk and API. It prints three codes to try and a ``curl`` line for each.
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
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from types import FrameType

import click
import schedule
from waitress.server import create_server

from appliance import create_app
from appliance.access import AccessStore
from appliance.datadir import DataDir
from appliance.replica import Replica
from appliance.store import close_stores
from registry.config import RegistryConfig
from registry.feed_server import create_feed_app
from registry.publisher import Publisher
from registry.registry import Registry
from storage.durable import write_atomic
from sync_agent.agent import SyncAgent
from sync_agent.config import SyncConfig
from verifier.sealing import KdfParams

DEMO_ISSUER = "demo"
DEMO_NAME_FA = "صادرکننده نمونه (نسخه نمایشی)"
DEMO_NAME_EN = "Demo issuer"
DEMO_REVOCATION_REASON = "صدور اشتباه (نمونه نمایشی)"
DEMO_SYNC_MINUTES = 5
DEMO_OPERATOR = "admin"  # its password is made fresh for each run and printed


@dataclass(frozen=True)
class DemoCodes:
    valid: str
    revoked: str
    superseded: str


def sample_csv() -> bytes:
    """The committed synthetic sample (no real person's data)."""
    return resources.files("data").joinpath("sample.csv").read_bytes()


def build_demo_registry(directory: Path, kdf_cost: int | None = None) -> DemoCodes:
    """Create the demo registry in ``directory``; return a valid, a revoked and a superseded code."""
    now = datetime.now(UTC)
    kdf = KdfParams(log2_n=kdf_cost) if kdf_cost is not None else KdfParams()
    data = sample_csv()
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    # The demo's root key sits beside its registry in the demo's temporary folder; a real
    # issuer keeps it on a removable medium (README, "Running a registry").
    root_key = directory.parent / f"{directory.name}-root.pem"
    with Registry.init(
        directory, DEMO_ISSUER, now, name_fa=DEMO_NAME_FA, name_en=DEMO_NAME_EN, kdf=kdf, root_key_path=root_key
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
        return DemoCodes(valid=codes[singles[1]], revoked=codes[singles[0]], superseded=codes[pair])


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo's files here (default: a temporary folder removed on exit).",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="The box's web port.")
@click.option("--feed-port", type=click.IntRange(1, 65535), default=8081, show_default=True)
@click.option("--kdf-cost", type=int, default=None, help="Override the sealing cost (log2 of scrypt N).")
def demo_command(directory: Path | None, port: int, feed_port: int, kdf_cost: int | None) -> None:
    """Run the whole box on this machine: a demo registry, its signed feed, a synced box and its kiosk.

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
    registry_dir, feed_dir, box_dir = root / "registry", root / "feed", root / "box"
    click.echo("Building the demo registry from the sample data…", err=True)
    codes = build_demo_registry(registry_dir, kdf_cost)
    config = RegistryConfig()

    def publish() -> None:
        with Registry.open(registry_dir) as registry:
            Publisher(registry, config).publish(feed_dir, datetime.now(UTC))

    publish()
    with Registry.open(registry_dir) as registry:
        anchor = registry.trust_anchor()
    trust_file = root / f"{DEMO_ISSUER}.trust.json"
    write_atomic(trust_file, json.dumps(anchor.to_dict(), ensure_ascii=False, indent=2).encode("utf-8"))

    feed_server = create_server(create_feed_app(feed_dir), host="127.0.0.1", port=feed_port, threads=4)
    threading.Thread(target=_serve_quietly, args=(feed_server,), name="feed", daemon=True).start()
    feed_url = f"http://127.0.0.1:{feed_port}"

    datadir = DataDir(box_dir)
    Replica.create(datadir, [anchor], {DEMO_ISSUER: feed_url}).close()
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
    box_server = create_server(app, host="127.0.0.1", port=port, **app.config["SEHAT"].waitress_settings())

    def shut_down(signum: int, frame: FrameType | None) -> None:
        stop.set()
        box_server.close()
        feed_server.close()

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    base = f"http://127.0.0.1:{port}"
    lines = [
        "",
        "Sehat demo is running.",
        f"  Kiosk:         {base}/",
        f"  HR desk:       {base}/desk  (check a CSV or XLSX spreadsheet of codes)",
        f"  Operator:      {base}/admin/  (name: {DEMO_OPERATOR}, password: {operator_password})",
        f"  API document:  {base}/api/v1/openapi.json",
        f"  Signed feed:   {feed_url}/head.json",
        f"  Trust anchor:  {trust_file}",
        "  Codes to try:",
    ]
    for label, code in (("valid", codes.valid), ("revoked", codes.revoked), ("superseded", codes.superseded)):
        lines.append(f"    {label:<11} {code}")
    lines.append("  Or from a shell:")
    for code in (codes.valid, codes.revoked, codes.superseded):
        body = json.dumps({"code": code})
        lines.append(f"    curl -s -X POST {base}/api/v1/verify -H 'Content-Type: application/json' -d '{body}'")
    lines.append("  Press Ctrl+C to stop.")
    click.echo("\n".join(lines) + "\n")
    try:
        _serve_quietly(box_server)
    finally:
        stop.set()
        close_stores(app)
    click.echo("Demo stopped.", err=True)


def _serve_quietly(server: object) -> None:
    """Run a waitress server until it is closed (closing raises in its loop; that is the stop)."""
    with contextlib.suppress(OSError):
        server.run()  # type: ignore[attr-defined]
