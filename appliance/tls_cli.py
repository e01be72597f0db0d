"""``sehat appliance tls …``: the box's local CA and server certificate, for HTTPS on the LAN."""

from __future__ import annotations

from pathlib import Path

import click

from appliance.clock import utc_now
from appliance.tls import TlsFiles, default_addresses, default_names, init_tls, renew_tls

DEFAULT_DIRECTORY = Path("/etc/sehat/tls")

tls_group = click.Group("tls", help="HTTPS on the LAN: a local CA for the phones, and the box's certificate.")

_DIRECTORY = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DIRECTORY,
    show_default=True,
    help="Where the CA and the certificate are kept.",
)
_NAMES = click.option(
    "--name",
    "names",
    multiple=True,
    help="A name phones reach the box by (repeat; default: the host name and NAME.local).",
)
_ADDRESSES = click.option(
    "--address",
    "addresses",
    multiple=True,
    help="An IP address phones reach the box by (repeat; default: 127.0.0.1 and the host's addresses).",
)


def _report(files: TlsFiles) -> None:
    click.echo(f"Certificate for: {', '.join([*files.names, *files.addresses])}")
    click.echo(f"Valid until:     {files.not_after:%Y-%m-%d} (renew before then: sehat appliance tls renew)")
    click.echo(f"CA certificate:  {files.ca_certificate}  (install it on each phone)")
    click.echo(f"CA fingerprint:  SHA-256 {files.ca_fingerprint}")
    click.echo("Compare the fingerprint on the phone before trusting the CA.")


@tls_group.command("init")
@_DIRECTORY
@_NAMES
@_ADDRESSES
def init_command(directory: Path, names: tuple[str, ...], addresses: tuple[str, ...]) -> None:
    """Make the box's local CA and a certificate for its names and addresses.

    \b
    Example:
      sehat appliance tls init --name sehat-box --name sehat-box.local --address 192.168.1.20
    """
    _report(init_tls(directory, list(names) or default_names(), list(addresses) or default_addresses(), utc_now()))


@tls_group.command("renew")
@_DIRECTORY
@_NAMES
@_ADDRESSES
def renew_command(directory: Path, names: tuple[str, ...], addresses: tuple[str, ...]) -> None:
    """Issue a new certificate from the same CA (new names or addresses, or before it expires).

    \b
    Example:
      sehat appliance tls renew --address 192.168.1.20 && systemctl reload nginx
    """
    _report(renew_tls(directory, list(names) or default_names(), list(addresses) or default_addresses(), utc_now()))
