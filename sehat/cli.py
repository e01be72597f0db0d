"""The ``sehat`` command: one group, a sub-group per part, our errors as one clear line.

An operator never sees a traceback for a mistake they made: every ``SehatError``
becomes a single line in English, or in Persian when the locale is Persian.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from appliance.audit_cli import audit_group
from appliance.cli import appliance_group, scan_command, status_command, verify_command
from appliance.config import ApplianceConfig
from appliance.config_file import DEFAULT_PATH, load_settings
from appliance.receipt_cli import receipt_group
from appliance.tls_cli import tls_group
from registry.cli import registry_group
from sehat.demo import demo_command
from sync_agent.cli import sync_group
from sync_agent.config import SyncConfig
from verifier.errors import SehatError


def localized_message(error: SehatError) -> str:
    """The error's message in the operator's language (``LANG``/``LC_ALL`` starting with ``fa``)."""
    language = os.environ.get("LC_ALL") or os.environ.get("LANG") or ""
    return error.message_fa if language.startswith("fa") else error.message


class SehatGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SehatError as error:
            raise click.ClickException(localized_message(error)) from error


@click.group(cls=SehatGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sehat")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=f"The box's configuration file (default: $SEHAT_CONFIG, else {DEFAULT_PATH} if it exists). "
    "SEHAT_* environment variables override it.",
)
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """Sehat: offline verification of academic authenticity codes («کد صحت»).

    \b
    Try it:   sehat demo
    Registry: sehat registry --help
    Box:      sehat appliance --help, sehat sync --help, sehat status --help
    Settings: sehat --config /etc/sehat/sehat.toml appliance serve
    """
    try:
        settings = load_settings(config_path)
        # Every section is checked here, so a typo anywhere stops every command, not only the one it concerns.
        settings.values_for("box", ApplianceConfig())
        settings.values_for("sync", SyncConfig())
    except SehatError as error:
        raise click.ClickException(localized_message(error)) from error
    ctx.obj = settings


cli.add_command(registry_group)
appliance_group.add_command(audit_group)
appliance_group.add_command(receipt_group)
appliance_group.add_command(tls_group)
cli.add_command(appliance_group)
cli.add_command(sync_group)
cli.add_command(status_command)
cli.add_command(verify_command)
cli.add_command(scan_command)
cli.add_command(demo_command)


def main() -> None:
    cli()
