"""``sehat appliance …`` and ``sehat status``: setting up a box and seeing how current it is."""

from __future__ import annotations

import getpass
import json
import logging
import os
import signal
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import FrameType

import click

from appliance import create_app
from appliance.access import AccessStore
from appliance.audit import AuditEntry, AuditLog, admin_entry
from appliance.backup_cli import backup_command, rekey_command, restore_command
from appliance.cli_options import KEY_FILE_OPTION, box_settings, parse_feeds
from appliance.clock import utc_now
from appliance.config import ApplianceConfig
from appliance.datadir import DataDir
from appliance.receipts import ensure_receipt_key
from appliance.replica import Replica
from appliance.service_manager import Watchdog, notify
from appliance.serving import answers_health, box_server, listening_socket, probe_address, stop_serving
from appliance.status import status_document
from appliance.store import close_stores
from appliance.verification import Outcome, Verifier
from verifier.canonical import format_timestamp
from verifier.errors import MalformedObjectError, OperatorError, SehatError
from verifier.normalize import holds_code
from verifier.signing import TrustAnchor
from verifier.verdict import Finding, Verdict
from verifier.verdict_text import NO_CODE_MESSAGE, describe_en, describe_fa, summary

logger = logging.getLogger(__name__)
AUDIT_PRUNE_INTERVAL = timedelta(days=1)


@click.group("appliance")
def appliance_group() -> None:
    """The box: its encrypted replica of the trusted issuers' codes."""


appliance_group.add_command(backup_command)
appliance_group.add_command(restore_command)
appliance_group.add_command(rekey_command)


@appliance_group.command("init")
@click.argument("datadir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--trust",
    "trust_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An issuer's trust anchor, as printed by `sehat registry trust`. Repeat for each issuer. "
    "Default: the configuration file's [[issuer]] tables.",
)
@click.option("--feed", "feeds", multiple=True, metavar="ISSUER=URL", help="Where an issuer's feed is published.")
@KEY_FILE_OPTION
def init_command(datadir: Path, trust_files: tuple[Path, ...], feeds: tuple[str, ...], key_file: Path | None) -> None:
    """Create the box's encrypted replica in DATADIR, pinning the trusted issuers' root keys.

    A new random key is written to DATADIR/replica.key (mode 0600) unless --key-file
    names an existing one. Without --trust, the issuers (trust anchor and feed URL) are
    the [[issuer]] tables of the configuration file (/etc/sehat/sehat.toml).

    \b
    Example:
      sehat appliance init /var/lib/sehat --trust msrt.trust.json \\
          --feed msrt=https://feed.example.ir/msrt
      sehat --config /etc/sehat/sehat.toml appliance init /var/lib/sehat
    """
    feed_values = list(feeds)
    expected_ids: tuple[str, ...] = ()
    if not trust_files:
        settings = box_settings()
        if not settings.issuers:
            raise OperatorError(
                "Name the issuers to trust: --trust FILE, or [[issuer]] tables in the configuration file.",
                "صادرکنندگان مورد اعتماد را مشخص کنید: با --trust یا جدول‌های [[issuer]] در فایل تنظیمات.",
            )
        trust_files = tuple(issuer.trust_anchor for issuer in settings.issuers)
        expected_ids = tuple(issuer.id for issuer in settings.issuers)
        feed_values = [f"{issuer.id}={issuer.feed_url}" for issuer in settings.issuers if issuer.feed_url]
    anchors = []
    for path in trust_files:
        try:
            anchors.append(TrustAnchor.from_bytes(path.read_bytes()))
        except OSError as error:
            raise OperatorError(
                f"Trust anchor {path} cannot be read: {error.strerror}.", f"فایل نشانگر اعتماد {path} خوانده نمی‌شود."
            ) from error
        except MalformedObjectError as error:
            raise OperatorError(f"{path}: {error.detail}", f"فایل نشانگر اعتماد {path} معتبر نیست.") from error
    for path, anchor, named in zip(trust_files, anchors, expected_ids, strict=False):
        if anchor.issuer != named:
            raise OperatorError(
                f"{path} is the trust anchor of {anchor.issuer!r}, but the configuration file names it {named!r}.",
                f"فایل {path} نشانگر اعتماد {anchor.issuer!r} است، نه {named!r} که در فایل تنظیمات آمده است.",
            )
    feed_map = parse_feeds(tuple(feed_values), [anchor.issuer for anchor in anchors])
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
@click.argument("datadir", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", help="Address to listen on (0.0.0.0 for the LAN). Default: [box] host, else 127.0.0.1.")
@click.option("--port", type=click.IntRange(1, 65535), help="Default: [box] port, else 8080.")
@click.option("--threads", type=click.IntRange(1, 64), help="Default: [box] threads, else 8.")
@click.option("--keys-only", is_flag=True, help="Verification needs an API key or an operator login.")
@click.option(
    "--behind-proxy",
    is_flag=True,
    help="nginx on this machine fronts the box: take the client address from its X-Forwarded-For "
    "(only on connections from 127.0.0.1; keep --host 127.0.0.1).",
)
@KEY_FILE_OPTION
def serve_command(
    datadir: Path | None,
    host: str | None,
    port: int | None,
    threads: int | None,
    keys_only: bool,
    behind_proxy: bool,
    key_file: Path | None,
) -> None:
    """Serve the kiosk page, the JSON API and the admin pages with waitress.

    Settings not given here come from SEHAT_* variables, then the configuration file's
    [box] section (DATADIR too: [box] datadir, else /var/lib/sehat).

    \b
    Example:
      sehat appliance serve /var/lib/sehat --host 0.0.0.0 --port 8080
      sehat --config /etc/sehat/sehat.toml appliance serve
    """
    given = {"datadir": datadir, "host": host, "port": port, "threads": threads, "key_file": key_file}
    settings: dict[str, object] = {name: value for name, value in given.items() if value is not None}
    settings["settings_file"] = box_settings()
    if keys_only:
        settings["open_verification"] = False
    if behind_proxy:
        settings["behind_proxy"] = True
    serve_box(settings)


def serve_box(settings: dict[str, object], ready: Callable[[str], None] | None = None) -> None:
    """Run the web app until SIGTERM or SIGINT, closing every store connection on the way out."""
    app = create_app(settings)
    config = app.config["SEHAT"]
    try:
        # Bound here, not inside waitress, so a busy port is one clear line and leaks nothing.
        listener = listening_socket(config)
    except OSError as error:
        close_stores(app)
        raise OperatorError(
            f"Cannot listen on {config.host}:{config.port}: {error.strerror}.",
            f"گوش دادن روی {config.host}:{config.port} ممکن نیست: {error.strerror}",
        ) from error
    server = box_server(app, config, listener)
    address = probe_address(listener)  # before a signal can close the listener

    def shut_down(signum: int, frame: FrameType | None) -> None:
        stop_serving(server)

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    stop = threading.Event()
    threading.Thread(target=_prune_audit_daily, args=(config, stop), name="audit-retention", daemon=True).start()
    url = f"http://{config.host}:{getattr(server, 'effective_port', config.port)}/"
    (ready or (lambda where: click.echo(f"Serving the box at {where}", err=True)))(url)
    # Under systemd (Type=notify, WatchdogSec=): started once the socket listens, and kept
    # alive only while the box answers its own /healthz; outside systemd both are no-ops.
    notify(f"READY=1\nSTATUS=Serving at {url}")
    watchdog = Watchdog.start_if_asked(lambda: answers_health(address))
    try:
        server.run()
    except OSError:  # the listening socket closed by the signal handler
        pass
    finally:
        if watchdog is not None:
            watchdog.stop()
        notify("STOPPING=1")
        stop.set()
        server.task_dispatcher.shutdown()  # requests still running finish (up to 5 s) before the stores close
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


# `sehat verify` and `sehat scan` exit with one code per finding, so a script can tell them apart;
# only a valid document whose holder matches (or was not asked) exits 0.
EXIT_CODES: dict[Finding, int] = {
    Finding.VALID: 0,
    Finding.MISMATCH: 3,
    Finding.REVOKED: 4,
    Finding.SUPERSEDED: 5,
    Finding.NOT_FOUND: 6,
    Finding.NO_DATA: 7,
    Finding.INVALID_FORMAT: 8,
}
EXIT_NO_CODE = 9  # `sehat scan`: a file held no QR, or no QR that carries a code
EXIT_CODES_HELP = (
    "Exit status: 0 valid; 3 genuine but the national ID does not match; 4 revoked; 5 superseded; "
    "6 not in this box's data; 7 the box has no data; 8 not a code; 1 an error."
)


def _audit_entry(outcome: Outcome, channel: str) -> AuditEntry:
    return AuditEntry(
        at=outcome.verdict.checked_at,
        channel=channel,
        client="local",
        actor=f"operator:{getpass.getuser()}",
        issuer=outcome.issuer,
        lookup_id=outcome.lookup_id,
        status=outcome.verdict.status.value,
    )


def _print_verdict(verdict: Verdict, prefix: str = "") -> None:
    language = os.environ.get("LC_ALL") or os.environ.get("LANG") or ""
    text = describe_fa(verdict) if language.startswith("fa") else describe_en(verdict)
    click.echo(f"{prefix}{verdict.finding.value}: {text.headline}")
    click.echo(f"{prefix}{text.detail}")


@click.command("verify", epilog=EXIT_CODES_HELP)
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
        audit.append([_audit_entry(outcome, "cli")])
    verdict = outcome.verdict
    if as_json:
        body = verdict.to_dict()
        body["summary"] = summary(verdict)
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        _print_verdict(verdict)
    raise SystemExit(EXIT_CODES[verdict.finding])


@click.command("scan", epilog=EXIT_CODES_HELP + " 9: a file held no QR with a code. The worst finding decides.")
@click.argument("datadir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document: per file, its QR codes and verdicts.")
@KEY_FILE_OPTION
def scan_command(datadir: Path, files: tuple[Path, ...], as_json: bool, key_file: Path | None) -> None:
    """Find the QR codes in photos or PDFs of documents and verify every code in them.

    Each FILE is a PNG, JPEG, WebP or PDF (the first pages are searched); every QR
    found is listed with its raw text and, when it holds a code, its verdict
    (audited as the 'scan' channel).

    \b
    Example:
      sehat scan /var/lib/sehat scans/*.pdf diploma-photo.jpg --json
    """
    from appliance.scanning.decoding import scan_document  # the imaging stack loads only here
    from appliance.scanning.errors import ScanError
    from appliance.scanning.limits import ScanLimits

    limits = ScanLimits.from_config(ApplianceConfig())
    data = DataDir(datadir, key_file)
    documents: list[dict[str, object]] = []
    worst = 0
    with Replica.open(data) as replica, AuditLog.open(data, create=True) as audit:
        verifier = Verifier(replica, utc_now)
        for path in files:
            entry: dict[str, object] = {"file": str(path), "results": []}
            try:
                texts = scan_document(path.read_bytes()[: limits.max_bytes + 1], limits)
            except ScanError as error:
                entry["error"] = error.as_dict()
                documents.append(entry)
                worst = max(worst, EXIT_NO_CODE)
                if not as_json:
                    click.echo(f"{path}: {localized(error.message, error.message_fa)}")
                continue
            results: list[dict[str, object]] = []
            if not as_json:
                click.echo(f"{path}:")
            for text in texts:
                if not holds_code(text):
                    results.append({"raw": text, "verdict": None, "message": NO_CODE_MESSAGE})
                    if not as_json:
                        click.echo(f"  {localized(NO_CODE_MESSAGE['en'], NO_CODE_MESSAGE['fa'])}")
                    continue
                outcome = verifier.verify(text)
                audit.append([_audit_entry(outcome, "scan")])
                body = outcome.verdict.to_dict()
                body["summary"] = summary(outcome.verdict)
                results.append({"raw": text, "verdict": body})
                worst = max(worst, EXIT_CODES[outcome.verdict.finding])
                if not as_json:
                    _print_verdict(outcome.verdict, "  ")
            if not any(result["verdict"] for result in results):
                worst = max(worst, EXIT_NO_CODE)
            entry["results"] = results
            documents.append(entry)
    if as_json:
        click.echo(json.dumps({"files": documents}, ensure_ascii=False, indent=2))
    raise SystemExit(worst)


def localized(message: str, message_fa: str) -> str:
    language = os.environ.get("LC_ALL") or os.environ.get("LANG") or ""
    return message_fa if language.startswith("fa") else message


@appliance_group.group("apikey")
def apikey_group() -> None:
    """API keys for integrators (only a hash of each is stored)."""


def _audit_admin(data: DataDir, action: str, target: str | None = None) -> None:
    """Record an operator's action at the command line in the audit log (``admin`` channel, client ``local``)."""
    with AuditLog.open(data, create=True) as audit:
        audit.append([admin_entry(utc_now(), "local", f"operator:{getpass.getuser()}", action, target)])


@apikey_group.command("add")
@click.argument("datadir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("name")
@click.option(
    "--national-id-checks",
    is_flag=True,
    help="The key may ask whether a national ID matches a record (still limited per code).",
)
@KEY_FILE_OPTION
def apikey_add_command(datadir: Path, name: str, national_id_checks: bool, key_file: Path | None) -> None:
    """Create an API key for NAME and print it (shown only this once).

    Without --national-id-checks, a national ID sent with this key is not compared
    (``national_id_match`` is null).

    \b
    Example:
      sehat appliance apikey add /var/lib/sehat "HR system of Example Co." --national-id-checks
    """
    data = DataDir(datadir, key_file)
    with AccessStore.open(data) as access:
        key, token = access.add_key(name, utc_now(), national_id_checks=national_id_checks)
    _audit_admin(data, "key_create", key.key_id)
    click.echo(token)
    click.echo(f"Key {key.key_id} for {key.name!r} created; send it as 'Authorization: Bearer <key>'.", err=True)


@apikey_group.command("list")
@click.argument("datadir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@KEY_FILE_OPTION
def apikey_list_command(datadir: Path, key_file: Path | None) -> None:
    """List API keys: id, state, created, whether it may ask national-ID checks, name.

    \b
    Example:
      sehat appliance apikey list /var/lib/sehat
    """
    with AccessStore.open(DataDir(datadir, key_file)) as access:
        for key in access.keys():  # noqa: SIM118 - AccessStore is not a mapping
            state = "active" if key.active else f"revoked {format_timestamp(key.revoked_at)}"  # type: ignore[arg-type]
            checks = "national-id" if key.national_id_checks else "-"
            click.echo(f"{key.key_id}  {state:<28}  {format_timestamp(key.created_at)}  {checks:<11}  {key.name}")


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
    data = DataDir(datadir, key_file)
    with AccessStore.open(data) as access:
        access.revoke_key(key_id, utc_now())
    _audit_admin(data, "key_revoke", key_id)
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
    data = DataDir(datadir, key_file)
    with AccessStore.open(data) as access:
        access.add_user(name, password, utc_now())
    _audit_admin(data, "user_add", name)
    click.echo(f"Operator {name!r} created.")


@user_group.command("list")
@click.argument("datadir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@KEY_FILE_OPTION
def user_list_command(datadir: Path, key_file: Path | None) -> None:
    """List operator accounts: name, state, created.

    \b
    Example:
      sehat appliance user list /var/lib/sehat
    """
    with AccessStore.open(DataDir(datadir, key_file)) as access:
        for user in access.users():
            state = "active" if user.active else f"disabled {format_timestamp(user.disabled_at)}"  # type: ignore[arg-type]
            click.echo(f"{user.name}  {state:<29}  {format_timestamp(user.created_at)}")


@user_group.command("remove")
@click.argument("datadir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("name")
@KEY_FILE_OPTION
def user_remove_command(datadir: Path, name: str, key_file: Path | None) -> None:
    """Delete the operator account NAME; its sessions end at once.

    \b
    Example:
      sehat appliance user remove /var/lib/sehat former-admin
    """
    data = DataDir(datadir, key_file)
    with AccessStore.open(data) as access:
        access.remove_user(name)
    _audit_admin(data, "user_remove", name)
    click.echo(f"Operator {name!r} removed; their sessions have ended.")


@user_group.command("disable")
@click.argument("datadir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("name")
@KEY_FILE_OPTION
def user_disable_command(datadir: Path, name: str, key_file: Path | None) -> None:
    """Disable the operator account NAME: its sessions end at once and it cannot log in.

    \b
    Example:
      sehat appliance user disable /var/lib/sehat admin
    """
    data = DataDir(datadir, key_file)
    with AccessStore.open(data) as access:
        access.set_disabled(name, True, utc_now())
    _audit_admin(data, "user_disable", name)
    click.echo(f"Operator {name!r} disabled; their sessions have ended.")


@user_group.command("enable")
@click.argument("datadir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("name")
@KEY_FILE_OPTION
def user_enable_command(datadir: Path, name: str, key_file: Path | None) -> None:
    """Let a disabled operator account NAME log in again.

    \b
    Example:
      sehat appliance user enable /var/lib/sehat admin
    """
    data = DataDir(datadir, key_file)
    with AccessStore.open(data) as access:
        access.set_disabled(name, False, utc_now())
    _audit_admin(data, "user_enable", name)
    click.echo(f"Operator {name!r} enabled.")


@user_group.command("passwd")
@click.argument("datadir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("name")
@click.password_option(help="At least 8 characters; asked for twice when not given.")
@KEY_FILE_OPTION
def user_passwd_command(datadir: Path, name: str, password: str, key_file: Path | None) -> None:
    """Give the operator NAME a new password; every session opened with the old one ends.

    \b
    Example:
      sehat appliance user passwd /var/lib/sehat admin
    """
    data = DataDir(datadir, key_file)
    with AccessStore.open(data) as access:
        access.set_password(name, password)
    _audit_admin(data, "user_passwd", name)
    click.echo(f"Operator {name!r} has a new password; their sessions have ended.")
