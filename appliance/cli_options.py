"""Options and argument parsing shared by the box's commands (appliance, audit, sync)."""

from __future__ import annotations

from pathlib import Path

import click

from appliance.config_file import SettingsFile, load_settings
from verifier.errors import OperatorError

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


def box_settings() -> SettingsFile:
    """The configuration file the ``sehat`` group read (``--config``), else the default one.

    The group keeps it as its context object, so a sub-command reads the same file the
    operator named; a command invoked on its own (a test, a script) reads the default path.
    """
    context = click.get_current_context(silent=True)
    found = context.find_object(SettingsFile) if context is not None else None
    return found if found is not None else load_settings()
