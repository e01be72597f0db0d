"""``sehat sync …``: bring the replica up to date now, on a schedule, or from a USB bundle."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import replace
from pathlib import Path
from types import FrameType

import click

from appliance.cli_options import KEY_FILE_OPTION, box_settings, parse_feeds
from appliance.config import ApplianceConfig
from appliance.config_file import SettingsFileError
from appliance.datadir import DataDir
from appliance.replica import Replica
from appliance.service_manager import Watchdog, notify
from sync_agent.agent import SyncAgent, SyncOutcome
from sync_agent.config import SyncConfig

DATADIR = click.Path(exists=True, file_okay=False, path_type=Path)


def _report(outcomes: list[SyncOutcome]) -> None:
    for outcome in outcomes:
        click.echo(outcome.describe(), err=not outcome.ok)
    if not all(outcome.ok for outcome in outcomes):
        raise SystemExit(1)


@click.group("sync")
def sync_group() -> None:
    """Bring the replica up to date from the issuers' signed feeds, or from a bundle."""


@sync_group.command("once")
@click.argument("datadir", type=DATADIR)
@click.option("--feed", "feeds", multiple=True, metavar="[ISSUER=]URL", help="Use (and remember) this feed URL.")
@KEY_FILE_OPTION
def once_command(datadir: Path, feeds: tuple[str, ...], key_file: Path | None) -> None:
    """Sync every trusted issuer once; exit 1 if any could not be brought up to date.

    \b
    Example:
      sehat sync once /var/lib/sehat
      sehat sync once /var/lib/sehat --feed http://127.0.0.1:8081
    """
    data = DataDir(datadir, key_file)
    with Replica.open(data) as replica:
        issuers = [state.issuer for state in replica.issuer_states()]
    _report(SyncAgent(data).sync_once(parse_feeds(feeds, issuers)))


@sync_group.command("run")
@click.argument("datadir", required=False, type=DATADIR)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    help="Minutes between syncs of a healthy issuer. "
    f"Default: [sync] interval_minutes, else {SyncConfig().interval_minutes:g}.",
)
@KEY_FILE_OPTION
def run_command(datadir: Path | None, interval: float | None, key_file: Path | None) -> None:
    """Keep the replica current: sync now, then every --interval minutes, backing off on failures.

    Stops cleanly on SIGTERM or Ctrl+C. Each attempt is recorded in the sync history
    that `sehat status` shows. DATADIR defaults to the configuration file's [box] datadir
    (else /var/lib/sehat), and the timings to its [sync] section.

    \b
    Example:
      sehat sync run /var/lib/sehat --interval 15
      sehat --config /etc/sehat/sehat.toml sync run
    """
    settings = box_settings()
    box = ApplianceConfig.from_environment(settings=settings)
    try:
        config = SyncConfig(**settings.values_for("sync", SyncConfig()))
    except ValueError as error:
        raise SettingsFileError(
            f"{settings.path}: [sync] {error}", f"{settings.path}: تنظیمات [sync] نادرست است: {error}"
        ) from error
    if interval is not None:
        config = replace(config, interval_minutes=interval)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()

    def shut_down(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    agent = SyncAgent(DataDir(datadir or box.datadir, key_file or box.key_file), config)
    watchdogs: list[Watchdog] = []

    def started(issuers: list[str]) -> None:
        # Under systemd (Type=notify, WatchdogSec=); outside it both are no-ops.
        notify(f"READY=1\nSTATUS=Following {', '.join(issuers) or 'no issuer'}")
        watchdog = Watchdog.start_if_asked(lambda: _healthy(agent))
        if watchdog is not None:
            watchdogs.append(watchdog)

    try:
        agent.run(stop, on_started=started)
    finally:
        for watchdog in watchdogs:
            watchdog.stop()
        notify("STOPPING=1")


def _healthy(agent: SyncAgent) -> bool:
    """The watchdog's probe: every issuer's loop is alive, and the replica opens and reads."""
    if not agent.following():
        return False
    with Replica.open(agent.datadir) as replica:
        replica.issuer_states()
    return True


@sync_group.command("import")
@click.argument("datadir", type=DATADIR)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@KEY_FILE_OPTION
def import_command(datadir: Path, file: Path, key_file: Path | None) -> None:
    """Apply an offline bundle (from a USB stick), verified exactly like a download.

    \b
    Example:
      sehat sync import /var/lib/sehat /media/usb/msrt.sehat
    """
    _report([SyncAgent(DataDir(datadir, key_file)).import_bundle(file)])


@sync_group.command("reset-floor")
@click.argument("datadir", type=DATADIR)
@click.option("--issuer", required=True, help="The issuer whose clock floor and accepted head to forget.")
@KEY_FILE_OPTION
def reset_floor_command(datadir: Path, issuer: str, key_file: Path | None) -> None:
    """Forget an issuer's clock floor and accepted head, so its genuine heads are accepted again.

    For a box whose issuer had its signing key stolen and heads signed far ahead, when the
    issuer has not rotated its key yet (a rotation recovers every box by itself). The next
    head from the feed must still continue the replica's data and is judged against the
    box's clock. The reset is recorded in the sync history.

    \b
    Example:
      sehat sync reset-floor /var/lib/sehat --issuer msrt && sehat sync once /var/lib/sehat
    """
    record = SyncAgent(DataDir(datadir, key_file)).reset_floor(issuer)
    click.echo(f"{issuer}: {record.error}.")
