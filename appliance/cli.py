"""``sehat appliance …`` and ``sehat status``: setting up a box and seeing how current it is."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from appliance.datadir import DataDir
from appliance.replica import Replica
from sehat.errors import OperatorError
from sync_agent.agent import utc_now
from sync_agent.updater import effective_now
from verifier.canonical import format_timestamp
from verifier.errors import MalformedObjectError
from verifier.signing import TrustAnchor

KEY_FILE_OPTION = click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="SEHAT_KEY_FILE",
    help="The replica's key file (default: $CREDENTIALS_DIRECTORY/sehat-replica-key, else DATADIR/replica.key).",
)


def parse_feeds(values: tuple[str, ...], issuers: list[str] | None = None) -> dict[str, str]:
    """``ISSUER=URL`` pairs; a bare ``URL`` is allowed when there is exactly one issuer."""
    feeds: dict[str, str] = {}
    for value in values:
        issuer, separator, url = value.partition("=")
        if not separator or "://" in issuer:
            if issuers is None or len(issuers) != 1:
                raise OperatorError(
                    f"--feed {value!r}: say which issuer, as ISSUER=URL.",
                    "برای --feed صادرکننده را هم مشخص کنید: ISSUER=URL",
                )
            issuer, url = issuers[0], value
        if not url.startswith(("http://", "https://")):
            raise OperatorError(
                f"--feed {value!r}: the URL must start with http:// or https://", "نشانی خوراک نامعتبر است."
            )
        feeds[issuer] = url
    return feeds


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
    click.echo(f"Replica created in {datadir}, trusting: {issuers}. Next: sehat sync once {datadir}")


def status_report(replica: Replica, now: datetime) -> dict[str, Any]:
    """The ``sehat status --json`` document, digests computed from the rows the replica holds."""
    floor = replica.clock_floor()
    judged = effective_now(now, floor)
    issuers = []
    with replica.reading():
        for state in replica.issuer_states():
            digest, records = replica.compute_digest(state.issuer)
            issuers.append(
                {
                    "issuer": state.issuer,
                    "seq": state.seq,
                    "digest": digest,
                    "records": records,
                    "as_of": format_timestamp(state.as_of) if state.as_of else None,
                    "expires": format_timestamp(state.expires) if state.expires else None,
                    "stale": state.is_stale(judged),
                    "last_attempt": format_timestamp(state.last_attempt) if state.last_attempt else None,
                    "last_error": state.last_error,
                    "last_success": format_timestamp(state.last_success) if state.last_success else None,
                    "feed_url": state.feed_url,
                }
            )
    return {
        "issuers": issuers,
        "clock": {
            "now": format_timestamp(now),
            "floor": format_timestamp(floor) if floor else None,
            "behind": floor is not None and now < floor,
        },
    }


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
        report = status_report(replica, utc_now())
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
