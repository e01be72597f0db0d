"""The box's web settings: one typed object, from defaults, /etc/sehat/sehat.toml, SEHAT_* variables, a mapping.

Later sources win: the ``[box]`` section of the configuration file (appliance/config_file.py),
then ``SEHAT_DATADIR`` and friends from the environment, then a mapping (the command line's
options, or a test's ``create_app`` settings). Every limit the web app enforces is here, with its unit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from appliance.audit import AUDIT_RETENTION_DAYS
from appliance.config_file import SettingsFile, SettingsFileError, load_settings

ENV_PREFIX = "SEHAT_"


@dataclass(frozen=True)
class ApplianceConfig:
    datadir: Path = Path("/var/lib/sehat")
    key_file: Path | None = None  # default: $CREDENTIALS_DIRECTORY/sehat-replica-key, else DATADIR/replica.key
    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 8  # waitress worker threads, each with its own replica connection
    connection_limit: int = 500  # open client connections at once; more wait in the kernel's backlog
    channel_timeout: int = 30  # a client silent, or not reading its answer, this long loses its connection; seconds
    answer_buffer_bytes: int = 16 << 20  # answer held in memory before its worker waits for the client; bytes
    behind_proxy: bool = False  # nginx on this host fronts the box: trust its X-Forwarded-For and -Proto
    open_verification: bool = True  # False: verification routes need an API key (keys-only)
    anonymous_rate_limit: str = "30 per minute"  # per client address, against code enumeration
    keyed_rate_limit: str = "600 per minute"  # per API key
    login_rate_limit: str = "20 per minute"  # per client address on the login form
    max_body_bytes: int = 64 << 20  # request bodies (bulk CSV files); bytes
    bulk_max_rows: int = 200_000  # rows in one bulk request
    anonymous_bulk_max_rows: int = 0  # rows in an API file from an asker without key or login (0: no files)
    bulk_rate_limit: str = "20000 per hour"  # rows of files (API or desk) checked per API key or operator
    anonymous_file_rate_limit: str = "5000 per hour"  # rows of files checked per client address without a key
    bulk_workers: int = 1  # files (bulk or desk) checked at once; keep below the cores, for single checks
    bulk_audit_batch: int = 500  # bulk verdicts written to the audit log per transaction
    audit_retention_days: int = AUDIT_RETENTION_DAYS
    scan_max_bytes: int = 20 << 20  # one uploaded photo or PDF to scan; bytes (larger: 413)
    scan_max_pixels: int = 50_000_000  # decoded image size (decompression bombs: 422); pixels
    scan_max_pages: int = 4  # PDF pages rendered and searched for QR codes
    scan_pdf_dpi: int = 200  # PDF rendering resolution; reads a 2 cm QR printed on an A4 page
    scan_time_budget: float = 2.0  # a hard image gives up after this much decoding; seconds
    lockout_after: int = 5  # failed logins in a row from one client address before it must wait
    lockout_seconds: int = 60  # that client's first wait; doubles with each further failure; seconds
    lockout_max_seconds: int = 3600  # the longest wait; seconds
    session_minutes: int = 60  # operator sessions expire after this much idle time; minutes
    session_max_hours: int = 12  # and end this long after login however busy they are; hours
    national_id_checks_per_code: int = 5  # national-ID comparisons answered per record per window, all clients
    national_id_window_seconds: int = 3600  # the window of that limit; seconds
    json_max_depth: int = 32  # nesting of a JSON request body (objects and arrays); deeper is a 400
    kiosk_clear_seconds: int = 30  # a verdict on the kiosk clears itself after this long (0: never); seconds
    secure_cookies: bool = False  # True when the box is served over HTTPS
    box_name: str = ""  # printed on and signed into receipts; empty: the host name

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError("port must be 1–65535")
        for name in (
            "threads",
            "connection_limit",
            "channel_timeout",
            "answer_buffer_bytes",
            "max_body_bytes",
            "bulk_max_rows",
            "bulk_audit_batch",
            "bulk_workers",
            "lockout_after",
            "session_minutes",
            "session_max_hours",
            "national_id_checks_per_code",
            "national_id_window_seconds",
            "json_max_depth",
            "scan_max_bytes",
            "scan_max_pixels",
            "scan_max_pages",
            "scan_pdf_dpi",
            "scan_time_budget",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.anonymous_bulk_max_rows < 0:
            raise ValueError("anonymous_bulk_max_rows must be 0 (no files) or more")

    def waitress_settings(self) -> dict[str, Any]:
        """How waitress must run so that no client, idle, slow or hostile, can stall the box.

        Memory, not disk: waitress spools bodies over 512 KiB and answers over 1 MiB to temporary
        files by default; uploads name people (a diploma photo, an HR spreadsheet) and so do answers
        (verdicts), so both stay in memory. A body is at most ``max_body_bytes`` (and the multipart
        envelope): larger is refused by waitress before the app runs, and never spooled, because the
        refusal comes below ``inbuf_overflow``. An answer is buffered up to ``answer_buffer_bytes``
        (waitress's ``outbuf_high_watermark``), where the worker thread waits for the client to read;
        ``outbuf_overflow`` at twice that keeps one large write in memory too.

        Slots: waitress stops accepting at ``connection_limit`` open connections (100 by default,
        which 99 idle sockets were enough to reach), so it is 500, each costing one file descriptor
        (systemd/sehat-appliance.service raises the service's limit); poll() replaces select(), which
        fails past descriptor 1024. ``channel_timeout`` closes a connection with no request running
        and nothing received or sent for that long — an idle keep-alive, or half a request — checked
        every ``cleanup_interval``. It never closes a connection whose request is running, so a client
        that stops reading a large answer is cut by the kernel instead: see ``appliance.serving``.

        The client address: rate limits, lockouts and the audit log key on it. Waitress drops
        ``X-Forwarded-For`` (and the other proxy headers) from every request unless the
        connection comes from its ``trusted_proxy``; with ``behind_proxy`` that is nginx on this
        machine (systemd/nginx-sehat.conf), one hop, whose last entry becomes the address. A LAN
        client that reaches waitress directly, or a box with no proxy, cannot choose its own.

        The rest: headers of 64 KiB at most (a browser sends a few), no tracebacks to clients
        (waitress's default, pinned), and a server name that says no version.
        """
        proxy: dict[str, Any] = {}
        if self.behind_proxy:
            proxy = {
                "trusted_proxy": "127.0.0.1",
                "trusted_proxy_count": 1,
                "trusted_proxy_headers": "x-forwarded-for x-forwarded-proto",
            }
        return proxy | {
            "threads": self.threads,
            "connection_limit": self.connection_limit,
            "channel_timeout": self.channel_timeout,
            "cleanup_interval": max(1, min(5, self.channel_timeout // 4)),
            "asyncore_use_poll": True,
            "inbuf_overflow": self.max_body_bytes + (1 << 20),
            "max_request_body_size": self.max_body_bytes + (1 << 20),
            "max_request_header_size": 64 << 10,
            "outbuf_high_watermark": self.answer_buffer_bytes,
            "outbuf_overflow": 2 * self.answer_buffer_bytes,
            "expose_tracebacks": False,
            "ident": "sehat",
        }

    def with_overrides(self, overrides: Mapping[str, Any]) -> ApplianceConfig:
        known = {field.name: field for field in fields(self)}
        values: dict[str, Any] = {}
        for name, value in overrides.items():
            if name not in known:
                raise ValueError(f"unknown setting {name!r}")
            values[name] = _coerce(getattr(self, name), name, value)
        return replace(self, **values)

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, settings: SettingsFile | None = None
    ) -> ApplianceConfig:
        """Defaults, then the file's ``[box]`` section, then ``SEHAT_<NAME>`` variables (e.g. ``SEHAT_DATADIR``).

        ``settings`` is the file already read by the ``sehat`` command (its ``--config``);
        without it the default file is read (``$SEHAT_CONFIG``, else /etc/sehat/sehat.toml).
        """
        environ = os.environ if environ is None else environ
        settings = load_settings(environ=environ) if settings is None else settings
        base = cls()
        values = settings.values_for("box", base)
        if values:
            try:
                base = replace(base, **values)
            except ValueError as error:
                raise SettingsFileError(
                    f"{settings.path}: [box] {error}", f"{settings.path}: تنظیمات [box] نادرست است: {error}"
                ) from error
        names = {field.name for field in fields(cls)}
        found = {
            key[len(ENV_PREFIX) :].lower(): value
            for key, value in environ.items()
            if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :].lower() in names
        }
        return base.with_overrides(found)


def _coerce(current: Any, name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return Path(value) if name in ("datadir", "key_file") and value is not None else value
    if name in ("datadir", "key_file"):
        return Path(value)
    if isinstance(current, bool):
        if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
            raise ValueError(f"{name} must be true or false")
        return value.lower() in ("1", "true", "yes")
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float):
        return float(value)
    return value
