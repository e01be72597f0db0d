"""``sehat appliance backup|restore|rekey``: keeping a box's data safe and its key fresh."""

from __future__ import annotations

from pathlib import Path

import click

from appliance.backup import create_backup
from appliance.cli_options import KEY_FILE_OPTION
from appliance.clock import utc_now
from appliance.datadir import DataDir
from appliance.rekey import rekey_box
from appliance.restore import restore_backup
from storage.keyfile import read_key_file


@click.command("backup")
@click.argument("datadir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("destination", type=click.Path(path_type=Path))
@click.option(
    "--rotate",
    type=click.IntRange(min=1),
    help="DESTINATION is a directory: name the backup by its time and keep only the newest N there.",
)
@KEY_FILE_OPTION
def backup_command(datadir: Path, destination: Path, rotate: int | None, key_file: Path | None) -> None:
    """Write a consistent, encrypted backup of the box (replica, audit log, access store) to DESTINATION.

    Safe while the box serves and syncs. The backup stays encrypted under the box's key
    (mode 0600): keep it as safely as the box, and keep the key apart from it.

    \b
    Example:
      sehat appliance backup /var/lib/sehat /media/usb/sehat.tar
      sehat appliance backup /var/lib/sehat /var/lib/sehat-backup --rotate 14
    """
    result = create_backup(DataDir(datadir, key_file), destination, utc_now(), rotate=rotate)
    issuers = ", ".join(
        f"{entry['issuer']} seq {entry['seq']}" for entry in result.manifest["stores"]["replica"]["issuers"]
    )
    click.echo(f"Backup written to {result.path} ({issuers}).")
    for path in result.removed:
        click.echo(f"Removed old backup {path}.")


@click.command("restore")
@click.argument("archive", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("datadir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--backup-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The key the backup was made under, if not this box's: the stores are re-keyed to this box's key.",
)
@click.option("--force", is_flag=True, help="Restore over a DATADIR that holds a box (it is renamed aside first).")
@KEY_FILE_OPTION
def restore_command(
    archive: Path, datadir: Path, backup_key_file: Path | None, force: bool, key_file: Path | None
) -> None:
    """Restore a backup FILE into DATADIR, after checking its manifest, hashes, schema and digests.

    Stop the box's services first. A key file that does not exist yet is created from
    --backup-key-file (a new machine).

    \b
    Example:
      sehat appliance restore /media/usb/sehat.tar /var/lib/sehat --key-file /etc/sehat/replica.key
    """
    backup_key = read_key_file(backup_key_file) if backup_key_file is not None else None
    result = restore_backup(archive, DataDir(datadir, key_file), utc_now(), backup_key=backup_key, force=force)
    if result.moved_aside is not None:
        click.echo(f"The box that was in {datadir} is now in {result.moved_aside}.")
    for issuer, seq, digest in result.issuers:
        click.echo(f"{issuer}: seq {seq}, digest {digest} — as in the backup")
    if result.rekeyed:
        click.echo("The stores were re-keyed from the backup's key to this box's key.")
    if result.audit is not None and not result.audit.ok:
        click.echo(f"WARNING: the restored audit log does not verify ({result.audit.problem}).", err=True)
    click.echo(f"Restored {result.manifest['created_at']} backup into {datadir}. Next: sehat sync once {datadir}")


@click.command("rekey")
@click.argument("datadir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--new-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the new key is (created, mode 0600, if missing). Needed when the key is a systemd credential.",
)
@KEY_FILE_OPTION
def rekey_command(datadir: Path, new_key_file: Path | None, key_file: Path | None) -> None:
    """Put every store of the box under a new key; run it again to finish one a crash interrupted.

    Stop the box's services first (it refuses while a store is open elsewhere). A crash at
    any instant leaves every store whole under the old key or the new one. Operators must
    log in again afterwards.

    \b
    Example:
      systemctl stop sehat-appliance sehat-sync
      sehat appliance rekey /var/lib/sehat
    """
    result = rekey_box(DataDir(datadir, key_file), utc_now(), new_key_file)
    if result.resumed:
        click.echo("Finished the key rotation a crash had interrupted.")
    click.echo(f"Re-keyed: {', '.join(result.rekeyed) or 'nothing left to do'}.")
    if result.key_file is not None:
        click.echo(f"The new key is in {result.key_file}.")
    else:
        click.echo(
            f"The new key is in {result.new_key_file}. The key is a systemd credential: replace the file that "
            f"LoadCredential=sehat-replica-key:… names in the box's units (/etc/sehat/replica.key by default) "
            f"with {result.new_key_file}, then start the services."
        )
