"""``sehat appliance audit …``: check, export and prune the box's audit log of verifications."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from appliance.audit import AUDIT_RETENTION_DAYS, AuditLog, AuditTamperedError
from appliance.cli_options import KEY_FILE_OPTION
from appliance.datadir import DataDir
from storage.durable import write_atomic
from verifier.canonical import format_timestamp

DATADIR = click.Path(exists=True, file_okay=False, path_type=Path)
# Read as UTC, the log's own time zone; --until is exclusive, so a month is --since 2026-11-01 --until 2026-12-01.
DATE = click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ"])

audit_group = click.Group(
    "audit",
    help="The box's audit log: every verification it performed, hash-chained, in DATADIR/audit.db (encrypted).",
)


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC)


@audit_group.command("verify")
@click.argument("datadir", type=DATADIR)
@KEY_FILE_OPTION
def verify_command(datadir: Path, key_file: Path | None) -> None:
    """Check that no entry of the audit log was changed, deleted, inserted or reordered.

    Exits 1 naming the first entry that does not verify. Prints the last entry's
    id and hash and the checkpoint public key: record them outside the box, since
    whoever holds the box's key could rewrite the whole log consistently.

    \b
    Example:
      sehat appliance audit verify /var/lib/sehat
    """
    with AuditLog.open(DataDir(datadir, key_file)) as log:
        check = log.verify()
        if not check.ok:
            raise AuditTamperedError(check)
        last_id, last_hash = log.head()
        public_key = log.checkpoint_public_key()
    click.echo(f"Audit log intact: {check.checked} entries checked.")
    click.echo(f"Last entry: {last_id}, hash {last_hash}")
    click.echo(f"Checkpoint public key: {public_key.hex()}")


@audit_group.command("export")
@click.argument("datadir", type=DATADIR)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the CSV to this file (mode 0600, replaced atomically) instead of standard output.",
)
@click.option("--since", type=DATE, help="Only entries at or after this UTC date or time.")
@click.option("--until", type=DATE, help="Only entries before this UTC date or time (exclusive).")
@KEY_FILE_OPTION
def export_command(
    datadir: Path, out: Path | None, since: datetime | None, until: datetime | None, key_file: Path | None
) -> None:
    """Export the audit log as CSV: id,at,channel,client,actor,issuer,lookup_id,status,hash.

    Times are ISO 8601 UTC. No entry holds a code or a national ID, only the
    lookup id derived from the code. The hash column lets anyone keep a copy off
    the box and later check that the box's log still holds the same entries.

    \b
    Example:
      sehat appliance audit export /var/lib/sehat --out audit-2026-11.csv \\
          --since 2026-11-01 --until 2026-12-01
      sehat appliance audit export /var/lib/sehat > audit.csv
    """
    with AuditLog.open(DataDir(datadir, key_file)) as log:
        if out is None:
            rows = log.export_csv(sys.stdout, _utc(since), _utc(until))
            click.echo(f"Exported {rows} entries.", err=True)
            return
        rows = 0

        def encoded() -> Iterator[bytes]:
            nonlocal rows
            for text, count in log.csv_batches(_utc(since), _utc(until)):
                rows += count
                yield text.encode("utf-8")

        write_atomic(out, encoded(), mode=0o600)
    click.echo(f"Exported {rows} entries to {out}.")


@audit_group.command("prune")
@click.argument("datadir", type=DATADIR)
@click.option(
    "--older-than-days",
    type=click.IntRange(min=1),
    default=AUDIT_RETENTION_DAYS,
    show_default=True,
    help="Delete entries older than this many days.",
)
@KEY_FILE_OPTION
def prune_command(datadir: Path, older_than_days: int, key_file: Path | None) -> None:
    """Delete old entries, leaving a signed checkpoint so the rest still verifies.

    The log is verified first; a log that does not verify is not pruned, since
    pruning would erase the evidence. Export what you must keep before pruning.

    \b
    Example:
      sehat appliance audit prune /var/lib/sehat --older-than-days 365
    """
    cutoff = datetime.now(UTC) - timedelta(days=older_than_days)
    with AuditLog.open(DataDir(datadir, key_file)) as log:
        pruned = log.prune(cutoff)
    click.echo(f"Pruned {pruned} entries older than {format_timestamp(cutoff)}.")
