"""``sehat demo``: a whole registry-to-feed set-up on this machine, from the sample data.

Builds a demo registry from ``data/sample.csv``, revokes one document and
supersedes a provisional certificate with its diploma, publishes the signed feed
and serves it on localhost, re-signing the head on a schedule like a real
registry. It prints the codes to try and the trust anchor a box needs.
"""

from __future__ import annotations

import csv
import io
import json
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

from registry.config import RegistryConfig
from registry.feed_server import create_feed_app
from registry.publisher import Publisher
from registry.registry import Registry
from sehat.durable import write_atomic
from verifier.sealing import KdfParams

DEMO_ISSUER = "demo"
DEMO_NAME_FA = "صادرکننده نمونه (نسخه نمایشی)"
DEMO_NAME_EN = "Demo issuer"
DEMO_REVOCATION_REASON = "صدور اشتباه (نمونه نمایشی)"


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
    with Registry.init(directory, DEMO_ISSUER, now, name_fa=DEMO_NAME_FA, name_en=DEMO_NAME_EN, kdf=kdf) as registry:
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
@click.option("--feed-port", type=click.IntRange(1, 65535), default=8081, show_default=True)
@click.option("--kdf-cost", type=int, default=None, help="Override the sealing cost (log2 of scrypt N).")
def demo_command(directory: Path | None, feed_port: int, kdf_cost: int | None) -> None:
    """Run a demo registry from the sample data and serve its signed feed on localhost.

    \b
    Example:
      sehat demo
      curl http://127.0.0.1:8081/head.json
    """
    temporary = directory is None
    root = Path(tempfile.mkdtemp(prefix="sehat-demo-")) if directory is None else directory
    try:
        _run_demo(root, feed_port, kdf_cost)
    finally:
        if temporary:
            shutil.rmtree(root, ignore_errors=True)


def _run_demo(root: Path, feed_port: int, kdf_cost: int | None) -> None:
    registry_dir, feed_dir = root / "registry", root / "feed"
    click.echo("Building the demo registry from the sample data…", err=True)
    codes = build_demo_registry(registry_dir, kdf_cost)
    config = RegistryConfig()

    def publish() -> None:
        with Registry.open(registry_dir) as registry:
            Publisher(registry, config).publish(feed_dir, datetime.now(UTC))

    publish()
    with Registry.open(registry_dir) as registry:
        anchor = json.dumps(registry.trust_anchor().to_dict(), ensure_ascii=False, indent=2)
    trust_file = root / f"{DEMO_ISSUER}.trust.json"
    write_atomic(trust_file, anchor.encode("utf-8"))

    server = create_server(create_feed_app(feed_dir), host="127.0.0.1", port=feed_port, threads=4)
    stop = threading.Event()

    def republish_loop() -> None:
        schedule.every(int(config.republish_interval.total_seconds())).seconds.do(publish)
        while not stop.wait(1):
            schedule.run_pending()

    threading.Thread(target=republish_loop, name="republish", daemon=True).start()

    def shut_down(signum: int, frame: FrameType | None) -> None:
        stop.set()
        server.close()

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    click.echo(
        f"\nSehat demo is running.\n"
        f"  Signed feed:   http://127.0.0.1:{feed_port}/head.json\n"
        f"  Trust anchor:  {trust_file}\n"
        f"  Codes to try:\n"
        f"    valid       {codes.valid}\n"
        f"    revoked     {codes.revoked}\n"
        f"    superseded  {codes.superseded}\n"
        f"  Press Ctrl+C to stop.\n"
    )
    try:
        server.run()
    except OSError:
        if not stop.is_set():
            raise
    stop.set()
    click.echo("Demo stopped.", err=True)
