"""``sehat registry …``: the reference registry's command line, a thin layer over the library."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click
import schedule
import waitress

from registry.bulk_import import CHECKING, ImportProgress
from registry.config import RegistryConfig
from registry.feed_server import create_feed_app
from registry.keys import is_encrypted_key
from registry.publisher import Publisher
from registry.qr import qr_payload, render_qr_png
from registry.registry import Registry
from storage.database import DatabaseError
from storage.durable import write_atomic
from verifier.errors import OperatorError, SehatError
from verifier.sealing import MAX_LOG2_N, MIN_LOG2_N, KdfParams

DIR = click.Path(file_okay=False, path_type=Path)
EXISTING_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


PASSPHRASE_ENV = "SEHAT_ROOT_PASSPHRASE"
ROOT_KEY_OPTION = click.option(
    "--root-key",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The issuer's root key file, on a removable medium kept offline (never inside DIRECTORY).",
)


def _now() -> datetime:
    return datetime.now(UTC)


def _passphrase(confirm: bool) -> bytes:
    """The root key's passphrase: from the environment (automation) or asked for, never echoed."""
    text = os.environ.get(PASSPHRASE_ENV) or click.prompt(
        "Root key passphrase", hide_input=True, confirmation_prompt=confirm
    )
    if not text:
        raise click.UsageError("the passphrase is empty")
    return str(text).encode("utf-8")


@click.group("registry")
def registry_group() -> None:
    """The reference central registry: issue codes, record changes, publish the signed feed."""


@registry_group.command("init")
@click.argument("directory", type=DIR)
@click.option("--issuer", default="demo", show_default=True, help="Issuer id: 2–32 of a–z, 0–9, '-'.")
@click.option("--name-fa", default="", help="The issuer's name in Persian, shown in verdicts.")
@click.option("--name-en", default="", help="The issuer's name in English, shown in verdicts.")
@click.option(
    "--check-digits",
    type=click.Choice(["none", "luhn"]),
    default="none",
    show_default=True,
    help="Check-digit scheme of the codes this registry issues.",
)
@click.option(
    "--kdf-cost",
    type=click.IntRange(MIN_LOG2_N, MAX_LOG2_N),
    default=KdfParams().log2_n,
    show_default=True,
    help="log2 of scrypt's N for sealing records: each +1 doubles the cost of guessing codes (and of lookups).",
)
@ROOT_KEY_OPTION
@click.option(
    "--encrypt-root",
    is_flag=True,
    help=f"Encrypt the root key under a passphrase (asked for, or from ${PASSPHRASE_ENV}).",
)
def init_command(
    directory: Path,
    issuer: str,
    name_fa: str,
    name_en: str,
    check_digits: str,
    kdf_cost: int,
    root_key: Path,
    encrypt_root: bool,
) -> None:
    """Create a registry in DIRECTORY: signing key, encrypted store, issuer profile; the root key goes to --root-key.

    The root key is written only to --root-key, which must be outside DIRECTORY: put it on
    a removable medium, take the medium offline, and bring it back only to rotate the
    signing key. Whoever holds the publishing host then holds only the signing key.

    \b
    Example:
      sehat registry init /srv/sehat-registry --issuer msrt --root-key /media/usb/msrt-root.pem \\
          --encrypt-root --name-fa "وزارت علوم، تحقیقات و فناوری" --name-en "Ministry of Science"
    """
    passphrase = _passphrase(confirm=True) if encrypt_root else None
    with Registry.init(
        directory,
        issuer,
        _now(),
        name_fa=name_fa,
        name_en=name_en,
        check_digits=check_digits,
        kdf=KdfParams(log2_n=kdf_cost),
        root_key_path=root_key,
        root_passphrase=passphrase,
    ) as registry:
        click.echo(f"Registry for issuer {registry.issuer!r} created in {directory}.")
        click.echo(f"Root key written to {root_key}: keep it offline; it is needed only to rotate the signing key.")
        click.echo(f"Give boxes its trust anchor: sehat registry trust {directory} > {registry.issuer}.trust.json")


@registry_group.command("trust")
@click.argument("directory", type=EXISTING_DIR)
def trust_command(directory: Path) -> None:
    """Print the issuer's trust anchor (issuer id and root public key) as JSON.

    \b
    Example:
      sehat registry trust /srv/sehat-registry > msrt.trust.json
      sehat appliance init /var/lib/sehat --trust msrt.trust.json
    """
    with Registry.open(directory) as registry:
        click.echo(json.dumps(registry.trust_anchor().to_dict(), ensure_ascii=False, indent=2))


@registry_group.command("import")
@click.argument("directory", type=EXISTING_DIR)
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--codes-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write 'line,code' for every row to this file (mode 0600) instead of standard output.",
)
@click.option(
    "--accept-weak-codes",
    is_flag=True,
    help="Import supplied codes that look non-random anyway, recording the estimated randomness "
    "in the signed profile (docs/protocol.md §4.2).",
)
@click.option(
    "--workers",
    type=click.IntRange(1),
    metavar="N",
    help="Threads sealing records, one scrypt per row (default: one per CPU core).",
)
def import_command(
    directory: Path, csv_file: Path, codes_out: Path | None, accept_weak_codes: bool, workers: int | None
) -> None:
    """Import records from CSV_FILE: all rows, or none if any row is bad.

    Columns (header row, any order, no others): code (empty: issue one), national_id,
    full_name, document_type (diploma, provisional, transcript, confirmation,
    enrolment), degree_level, field, institution, issued_on (YYYY-MM-DD).
    Prints 'line,code' for every imported row. Supplied codes that look non-random
    (below the 60 random bits the privacy bound assumes) are refused, naming the
    --kdf-cost that would restore the bound, unless --accept-weak-codes.

    Files of millions of rows are read as a stream and sealed on every core; progress
    goes to standard error. An import that was interrupted (killed, a power cut) resumes
    when the same command is run again, and no row is ever imported twice: run on a file
    already imported, it only prints the codes again.

    \b
    Example:
      sehat registry import /srv/sehat-registry graduates-1404.csv --codes-out codes.csv
    """
    with Registry.open(directory) as registry:
        summary = registry.import_file(
            csv_file,
            _now(),
            accept_weak_codes=accept_weak_codes,
            workers=workers,
            on_progress=ImportProgressPrinter(csv_file),
        )
        code_bits = registry.profile.code_bits
        if summary.repeated:
            click.echo(
                f"{csv_file} was already imported ({summary.rows} records, finished {summary.finished_at}); "
                "nothing was imported again.",
                err=True,
            )
        chunks = _code_lines(registry.import_codes(summary.sha256))
        if codes_out is not None:
            write_atomic(codes_out, (chunk.encode("ascii") for chunk in chunks), mode=0o600)
        else:
            for chunk in chunks:
                click.echo(chunk, nl=False)
    where = f"; codes written to {codes_out}" if codes_out is not None else ""
    if not summary.repeated:
        earlier = f" (and {summary.resumed_from} in an interrupted earlier run)" if summary.resumed_from else ""
        click.echo(f"Imported {summary.imported} records{earlier}{where}.", err=True)
    elif codes_out is not None:
        click.echo(f"Codes written to {codes_out}.", err=True)
    if accept_weak_codes and code_bits is not None:
        click.echo(f"Weak codes accepted: the signed profile now says about {code_bits} random bits.", err=True)


def _code_lines(codes: Iterator[tuple[int, str]], per_chunk: int = 1000) -> Iterator[str]:
    """The 'line,code' CSV a chunk at a time: an import's codes need not fit in memory at once."""
    yield "line,code\n"
    chunk: list[str] = []
    for line, code in codes:
        chunk.append(f"{line},{code}\n")
        if len(chunk) == per_chunk:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


class ImportProgressPrinter:
    """An import's progress on standard error, for files big enough to take a while.

    While checking: a line per ``CHECK_EVERY`` rows. While sealing: the resume notice, then
    a line per 5 % with the time left, for files of at least ``SHOW_FROM`` rows.
    """

    CHECK_EVERY = 100_000
    SHOW_FROM = 10_000

    def __init__(self, csv_file: Path) -> None:
        self.csv_file = csv_file
        self.checked = 0
        self.started: tuple[float, int] | None = None  # (monotonic time, rows) when sealing began
        self.shown_step = -1

    def __call__(self, progress: ImportProgress) -> None:
        if progress.phase == CHECKING:
            if progress.rows - self.checked >= self.CHECK_EVERY:
                self.checked = progress.rows
                click.echo(f"Checked {progress.rows:,} rows of {self.csv_file}…", err=True)
            return
        total = progress.total or 0
        if self.started is None:
            self.started = (time.monotonic(), progress.rows)
            self.shown_step = progress.rows * 20 // total if total else 0
            if progress.resumed_from:
                click.echo(
                    f"Resuming the import of {self.csv_file}: {progress.resumed_from:,} of {total:,} rows "
                    "were already imported.",
                    err=True,
                )
            return
        step = progress.rows * 20 // total if total else 20
        if total < self.SHOW_FROM or step <= self.shown_step:
            return
        self.shown_step = step
        began, first_rows = self.started
        rate = (progress.rows - first_rows) / max(time.monotonic() - began, 1e-6)
        left = (total - progress.rows) / rate if rate else 0.0
        remaining = f", about {_duration(left)} left" if progress.rows < total else ""
        percent = progress.rows * 100 // total
        click.echo(f"Imported {progress.rows:,} of {total:,} rows ({percent}%){remaining}.", err=True)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@registry_group.command("revoke")
@click.argument("directory", type=EXISTING_DIR)
@click.argument("code")
@click.option("--reason", required=True, help="Why the document is revoked; shown in verdicts.")
@click.option("--date", "revoked_on", type=click.DateTime(["%Y-%m-%d"]), help="Revocation date (default: today).")
def revoke_command(directory: Path, code: str, reason: str, revoked_on: datetime | None) -> None:
    """Revoke the document with CODE.

    \b
    Example:
      sehat registry revoke /srv/sehat-registry 12345678901234567890 --reason "صدور اشتباه"
    """
    with Registry.open(directory) as registry:
        seq = registry.revoke(code, reason, _now(), revoked_on.date() if revoked_on else None)
    click.echo(f"Revoked (change {seq}). Publish to tell the boxes.")


@registry_group.command("supersede")
@click.argument("directory", type=EXISTING_DIR)
@click.argument("old_code")
@click.argument("new_code")
def supersede_command(directory: Path, old_code: str, new_code: str) -> None:
    """Mark OLD_CODE's document (say, a provisional certificate) as replaced by NEW_CODE's.

    \b
    Example:
      sehat registry supersede /srv/sehat-registry 11112222333344445555 66667777888899990000
    """
    with Registry.open(directory) as registry:
        seq = registry.supersede(old_code, new_code, _now())
    click.echo(f"Superseded (change {seq}). Publish to tell the boxes.")


@registry_group.command("correct")
@click.argument("directory", type=EXISTING_DIR)
@click.argument("code")
@click.option(
    "--set",
    "assignments",
    multiple=True,
    required=True,
    metavar="FIELD=VALUE",
    help=f"A corrected field; one of {', '.join(Registry.CORRECTABLE)}. Repeat for several.",
)
def correct_command(directory: Path, code: str, assignments: tuple[str, ...]) -> None:
    """Correct fields of the record with CODE.

    \b
    Example:
      sehat registry correct /srv/sehat-registry 12345678901234567890 --set "full_name=سارا احمدی"
    """
    changes: dict[str, str] = {}
    for assignment in assignments:
        name, separator, value = assignment.partition("=")
        if not separator:
            raise OperatorError(f"--set takes FIELD=VALUE, not {assignment!r}", "قالب --set باید FIELD=VALUE باشد.")
        changes[name.strip()] = value
    with Registry.open(directory) as registry:
        seq = registry.correct(code, changes, _now())
    click.echo(f"Corrected (change {seq}). Publish to tell the boxes.")


@registry_group.command("publish")
@click.argument("directory", type=EXISTING_DIR)
@click.argument("outdir", type=DIR)
@click.option(
    "--every",
    type=click.IntRange(1),
    metavar="MINUTES",
    help="Keep running and re-publish (re-sign the head) every MINUTES, even when nothing changed.",
)
def publish_command(directory: Path, outdir: Path, every: int | None) -> None:
    """Publish the signed feed into OUTDIR, for any static HTTP server, CDN or object store.

    Segments and snapshots are immutable and content-addressed; head.json is
    re-signed on every publish and expires after 48 hours, so run this on a
    schedule (--every, or a systemd timer) to keep boxes fresh.

    \b
    Example:
      sehat registry publish /srv/sehat-registry /var/www/feed --every 60
    """

    def publish_once() -> None:
        with Registry.open(directory) as registry:
            result = Publisher(registry).publish(outdir, _now())
        click.echo(f"Published seq {result.seq} to {outdir} ({result.objects_written} new objects).")

    def publish_on_schedule() -> None:
        """A failed round (a long import holding the store, a full disk) must not end the re-signing."""
        try:
            publish_once()
        except (SehatError, DatabaseError, OSError) as error:
            click.echo(f"Publishing failed, retrying at the next round: {error}", err=True)

    publish_once()
    if every is None:
        return
    schedule.every(every).minutes.do(publish_on_schedule)
    while True:
        schedule.run_pending()
        time.sleep(min(60, every * 60))


@registry_group.command("bundle")
@click.argument("directory", type=EXISTING_DIR)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--since", type=click.IntRange(0), help="Seq the receiving boxes have; default: a full bundle.")
def bundle_command(directory: Path, file: Path, since: int | None) -> None:
    """Write an offline bundle (signed head + objects) to FILE, for a USB stick.

    \b
    Example:
      sehat registry bundle /srv/sehat-registry /media/usb/msrt.sehat --since 120000
    """
    with Registry.open(directory) as registry:
        head = Publisher(registry, RegistryConfig()).write_bundle(file, _now(), since)
    click.echo(f"Bundle of seq {head.seq} written to {file}; valid until {head.expires:%Y-%m-%d}.")


@registry_group.command("digest")
@click.argument("directory", type=EXISTING_DIR)
@click.option("--json", "as_json", is_flag=True, help='Print {"issuer", "seq", "digest"} as JSON.')
def digest_command(directory: Path, as_json: bool) -> None:
    """Print the content digest of the registry's current state.

    A box synced to the same seq prints the same digest in `sehat status --json`.

    \b
    Example:
      sehat registry digest /srv/sehat-registry --json
    """
    with Registry.open(directory) as registry:
        seq, digest, records = registry.digest()
        issuer = registry.issuer
    if as_json:
        click.echo(json.dumps({"issuer": issuer, "seq": seq, "digest": digest}))
    else:
        click.echo(f"{issuer} seq {seq} ({records} records): {digest}")


@registry_group.command("qr")
@click.argument("directory", type=EXISTING_DIR)
@click.argument("code")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--url", "url_template", help="Encode a link instead of the bare code, e.g. https://x.ir/v/{code}")
def qr_command(directory: Path, code: str, file: Path, url_template: str | None) -> None:
    """Render the QR image for the document with CODE into FILE (PNG).

    \b
    Example:
      sehat registry qr /srv/sehat-registry 12345678901234567890 diploma-qr.png
    """
    with Registry.open(directory) as registry:
        record = registry.lookup(code)
    try:
        payload = qr_payload(record.code, url_template)
    except ValueError as error:
        raise OperatorError(str(error), "الگوی پیوند باید {code} را در خود داشته باشد.") from error
    write_atomic(file, render_qr_png(payload))
    click.echo(f"QR written to {file}.")


@registry_group.command("rotate-key")
@click.argument("directory", type=EXISTING_DIR)
@ROOT_KEY_OPTION
def rotate_key_command(directory: Path, root_key: Path) -> None:
    """Replace the online signing key, certified by the root key brought from its offline medium.

    Boxes accept the new key through its certificate from the root, and refuse the
    old key once they have seen the new one; heads of the new key also free every box
    from a clock floor a stolen key dragged ahead. Publish right after rotating. An
    encrypted root key's passphrase is asked for (or read from $SEHAT_ROOT_PASSPHRASE).

    \b
    Example:
      sehat registry rotate-key /srv/sehat-registry --root-key /media/usb/msrt-root.pem
      sehat registry publish /srv/sehat-registry /var/www/feed
    """
    passphrase = _passphrase(confirm=False) if is_encrypted_key(root_key) else None
    with Registry.open(directory) as registry:
        version = registry.rotate_signing_key(_now(), root_key, passphrase)
    click.echo(f"Signing key rotated to version {version}.")


@registry_group.command("serve")
@click.argument("feed_dir", type=EXISTING_DIR)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8081, show_default=True)
def serve_command(feed_dir: Path, host: str, port: int) -> None:
    """Serve a published feed directory over HTTP (ETag, Range, cache headers).

    \b
    Example:
      sehat registry serve /var/www/feed --port 8081
    """
    click.echo(f"Serving feed {feed_dir} at http://{host}:{port}/head.json", err=True)
    waitress.serve(create_feed_app(feed_dir), host=host, port=port, threads=4, _quiet=True)
    sys.exit(0)
