"""``sehat appliance …`` and ``sehat status``: setting up a box and seeing how current it is."""

from __future__ import annotations

import getpass
import json
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import FrameType

import click
from waitress.server import create_server

from appliance import create_app
from appliance.access import AccessStore
from appliance.audit import AuditEntry, AuditLog
from appliance.cli_options import KEY_FILE_OPTION, parse_feeds
from appliance.config import ApplianceConfig
from appliance.datadir import DataDir
from appliance.receipts import ensure_receipt_key
from appliance.replica import Replica
from appliance.status import status_document
from appliance.store import close_stores
from appliance.verification import Verifier
from sync_agent.agent import utc_now
from verifier.canonical import format_timestamp
from verifier.errors import MalformedObjectError, OperatorError, SehatError
from verifier.signing import TrustAnchor
from verifier.verdict_text import describe_en, describe_fa

logger = logging.getLogger(__name__)
AUDIT_PRUNE_INTERVAL = timedelta(days=1)


@click.group("appliance")
def appliance_group() -> None:
    """The box: its encrypted replica of the trusted issuers' codes."""


@appliance_group.command("init")
@click.argument("datadir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--trust",
    "trust_files",
    multiple=True,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An issuer's trust anchor, as printed by `sehat registry trust`. Repeat for each issuer.",
)
@click.option("--feed", "feeds", multiple=True, metavar="ISSUER=URL", help="Where an issuer's feed is published.")
@KEY_FILE_OPTION
def init_command(datadir: Path, trust_files: tuple[Path, ...], feeds: tuple[str, ...], key_file: Path | None) -> None:
    """Create the box's encrypted replica in DATADIR, pinning the trusted issuers' root keys.

    A new random key is written to DATADIR/replica.key (mode 0600) unless --key-file
    names an existing one.

    \b
    Example:
      sehat appliance init /var/lib/sehat --trust msrt.trust.json \\
          --feed msrt=https://feed.example.ir/msrt
    """
    anchors = []
    for path in trust_files:
        try:
            anchors.append(TrustAnchor.from_bytes(path.read_bytes()))
        except MalformedObjectError as error:
            raise OperatorError(f"{path}: {error.detail}", f"فایل نشانگر اعتماد {path} معتبر نیست.") from error
    feed_map = parse_feeds(feeds, [anchor.issuer for anchor in anchors])
    with Replica.create(DataDir(datadir, key_file), anchors, feed_map) as replica:
        issuers = ", ".join(state.issuer for state in replica.issuer_states())
    ensure_receipt_key(DataDir(datadir, key_file), utc_now())  # the box signs receipts from day one
    click.echo(f"Replica created in {datadir}, trusting: {issuers}. Next: sehat sync once {datadir}")


@click.command("status")
@click.argument("datadir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON (a stable contract).")
@click.option("--history", default=10, show_default=True, help="How many recent syncs to list (text output).")
@KEY_FILE_OPTION
def status_command(datadir: Path, as_json: bool, history: int, key_file: Path | None) -> None:
    """Show, per issuer, how current the replica is, and the recent sync history.

    \b
    Example:
      sehat status /var/lib/sehat
      sehat status /var/lib/sehat --json
    """
    with Replica.open(DataDir(datadir, key_file)) as replica:
        report = status_document(replica, utc_now(), recompute_digests=True)
        recent = replica.history(history)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    if report["clock"]["behind"]:
        click.echo(
            f"WARNING: the system clock ({report['clock']['now']}) is behind the newest verified head "
            f"({report['clock']['floor']}); freshness is judged by the latter.",
            err=True,
        )
    for issuer in report["issuers"]:
        freshness = "STALE" if issuer["stale"] else "fresh"
        click.echo(
            f"{issuer['issuer']}: seq {issuer['seq']}, {issuer['records']} records, {freshness}, "
            f"as of {issuer['as_of'] or 'never synced'}, expires {issuer['expires'] or '-'}"
        )
        click.echo(f"  digest {issuer['digest']}")
        if issuer["last_error"]:
            click.echo(f"  last error: {issuer['last_error']}")
    if recent:
        click.echo("Recent syncs:")
        for record in recent:
            line = (
                f"  {format_timestamp(record.started_at)} {record.issuer} {record.source} {record.outcome} "
                f"seq {record.seq_before}→{record.seq_after} {record.bytes} B {record.duration_ms} ms"
            )
            click.echo(line + (f" — {record.error}" if record.error else ""))


@appliance_group.command("serve")
@click.argument("datadir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 for the LAN).")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--threads", type=click.IntRange(1, 64), default=8, show_default=True)
@click.option("--keys-only", is_flag=True, help="Verification needs an API key or an operator login.")
@KEY_FILE_OPTION
def serve_command(datadir: Path, host: str, port: int, threads: int, keys_only: bool, key_file: Path | None) -> None:
    """Serve the kiosk page, the JSON API and the admin pages with waitress.

    \b
    Example:
      sehat appliance serve /var/lib/sehat --host 0.0.0.0 --port 8080
    """
    settings: dict[str, object] = {"datadir": datadir, "host": host, "port": port, "threads": threads}
    if key_file is not None:
        settings["key_file"] = key_file
    if keys_only:
        settings["open_verification"] = False
    serve_box(settings)


def serve_box(settings: dict[str, object], ready: Callable[[str], None] | None = None) -> None:
    """Run the web app until SIGTERM or SIGINT, closing every store connection on the way out."""
    app = create_app(settings)
    config = app.config["SEHAT"]
    try:
        # Bound here, not inside waitress, so a busy port is one clear line and leaks nothing.
        listener = socket.create_server((config.host, config.port))
    except OSError as error:
        close_stores(app)
        raise OperatorError(
            f"Cannot listen on {config.host}:{config.port}: {error.strerror}.",
            f"گوش دادن روی {config.host}:{config.port} ممکن نیست: {error.strerror}",
        ) from error
    server = create_server(app, sockets=[listener], threads=config.threads)

    def shut_down(signum: int, frame: FrameType | None) -> None:
        server.close()

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    stop = threading.Event()
    threading.Thread(target=_prune_audit_daily, args=(config, stop), name="audit-retention", daemon=True).start()
    url = f"http://{config.host}:{getattr(server, 'effective_port', config.port)}/"
    (ready or (lambda where: click.echo(f"Serving the box at {where}", err=True)))(url)
    try:
        server.run()
    except OSError:  # the listening socket closed by the signal handler
        pass
    finally:
        stop.set()
        close_stores(app)


def _prune_audit_daily(config: ApplianceConfig, stop: threading.Event) -> None:
    """Apply the audit retention at start and once a day, behind signed checkpoints."""
    datadir = DataDir(config.datadir, config.key_file)
    while True:
        try:
            with AuditLog.open(datadir, create=True) as audit:
                pruned = audit.prune(utc_now() - timedelta(days=config.audit_retention_days))
            if pruned:
                logger.info(
                    "audit retention: pruned %d entries older than %d days", pruned, config.audit_retention_days
                )
        except SehatError as error:  # a tampered log is kept as evidence; the operator sees it in audit verify
            logger.error("audit retention skipped: %s", error.message)
        if stop.wait(AUDIT_PRUNE_INTERVAL.total_seconds()):
            return


@click.command("verify")
@click.argument("datadir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("code")
@click.option("--national-id", help="The holder's national ID, to compare with the record.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as the API's JSON.")
@KEY_FILE_OPTION
def verify_command(datadir: Path, code: str, national_id: str | None, as_json: bool, key_file: Path | None) -> None:
    """Verify CODE against the replica in DATADIR (audited as the 'cli' channel).

    \b
    Example:
      sehat verify /var/lib/sehat 12345678901234567890 --national-id 0499370899
    """
    data = DataDir(datadir, key_file)
    with Replica.open(data) as replica, AuditLog.open(data, create=True) as audit:
        outcome = Verifier(replica, utc_now).verify(code, national_id)
        verdict = outcome.verdict
        audit.append(
            [
                AuditEntry(
                    at=verdict.checked_at,
                    channel="cli",
                    client="local",
                    actor=f"operator:{getpass.getuser()}",
                    issuer=outcome.issuer,
                    lookup_id=outcome.lookup_id,
                    status=verdict.status.value,
                )
            ]
        )
    if as_json:
        body = verdict.to_dict()
        body["summary"] = {"fa": describe_fa(verdict).to_dict(), "en": describe_en(verdict).to_dict()}
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    language = os.environ.get("LC_ALL") or os.environ.get("LANG") or ""
    text = describe_fa(verdict) if language.startswith("fa") else describe_en(verdict)
    click.echo(f"{verdict.status.value}: {text.headline}")
    click.echo(text.detail)


@appliance_group.group("apikey")
def apikey_group() -> None:
    """API keys for integrators (only a hash of each is stored)."""


@apikey_group.command("add")
@click.argument("datadir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("name")
@KEY_FILE_OPTION
def apikey_add_command(datadir: Path, name: str, key_file: Path | None) -> None:
    """Create an API key for NAME and print it (shown only this once).

    \b
    Example:
      sehat appliance apikey add /var/lib/sehat "HR system of Example Co."
    """
    with AccessStore.open(DataDir(datadir, key_file)) as access:
        key, token = access.add_key(name, utc_now())
    click.echo(token)
    click.echo(f"Key {key.key_id} for {key.name!r} created; send it as 'Authorization: Bearer <key>'.", err=True)


@apikey_group.command("list")
@click.argument("datadir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@KEY_FILE_OPTION
def apikey_list_command(datadir: Path, key_file: Path | None) -> None:
    """List API keys: id, state, created, name.

    \b
    Example:
      sehat appliance apikey list /var/lib/sehat
    """
    with AccessStore.open(DataDir(datadir, key_file)) as access:
        for key in access.keys():  # noqa: SIM118 - AccessStore is not a mapping
            state = "active" if key.active else f"revoked {format_timestamp(key.revoked_at)}"  # type: ignore[arg-type]
            click.echo(f"{key.key_id}  {state:<28}  {format_timestamp(key.created_at)}  {key.name}")


@apikey_group.command("revoke")
@click.argument("datadir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("key_id")
@KEY_FILE_OPTION
def apikey_revoke_command(datadir: Path, key_id: str, key_file: Path | None) -> None:
    """Revoke the API key KEY_ID; it gets 401 from then on.

    \b
    Example:
      sehat appliance apikey revoke /var/lib/sehat 3f2a9c1b7d4e
    """
    with AccessStore.open(DataDir(datadir, key_file)) as access:
        access.revoke_key(key_id, utc_now())
    click.echo(f"Key {key_id} revoked.")


@appliance_group.group("user")
def user_group() -> None:
    """Operator accounts for the admin pages."""


@user_group.command("add")
@click.argument("datadir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("name")
@click.password_option(help="At least 8 characters; asked for twice when not given.")
@KEY_FILE_OPTION
def user_add_command(datadir: Path, name: str, password: str, key_file: Path | None) -> None:
    """Create an operator account NAME (the password is hashed with scrypt).

    \b
    Example:
      sehat appliance user add /var/lib/sehat admin
    """
    with AccessStore.open(DataDir(datadir, key_file)) as access:
        access.add_user(name, password, utc_now())
    click.echo(f"Operator {name!r} created.")
