"""The box's one configuration file, ``/etc/sehat/sehat.toml``: parsed, checked, never guessed at.

Every ``sehat`` command reads it (``sehat --config FILE``, else ``$SEHAT_CONFIG``, else the
default path; a missing file at the default path means no file), and ``SEHAT_*`` environment
variables still override it, so a unit or a test can change one setting without editing it.
A typo must not silently leave a limit at its default, so an unknown section or key is an
error naming the file and the key, in English and Persian.

Sections (``systemd/sehat.toml`` documents every key)::

    [box]         any field of appliance.config.ApplianceConfig, by its own name
    [sync]        any field of sync_agent.config.SyncConfig (scalar ones)
    [[issuer]]    id, trust_anchor (a file; relative to this file), feed_url — for `appliance init`
    [tls]         certificate, key — paths for the nginx site that install-box renders

This module lives on the appliance floor and imports nothing above it: the sections it does
not own (``box``, ``sync``) are checked against the dataclass their consumer passes in.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verifier.errors import OperatorError

DEFAULT_PATH = Path("/etc/sehat/sehat.toml")
PATH_VARIABLE = "SEHAT_CONFIG"  # moves the default path (tests); a file missing there is no file
SECTIONS = ("box", "sync", "issuer", "tls")
ISSUER_KEYS = ("id", "trust_anchor", "feed_url")
TLS_KEYS = ("certificate", "key")


class SettingsFileError(OperatorError):
    code = "settings_file"


def _unknown(path: Path, where: str, name: str) -> SettingsFileError:
    return SettingsFileError(
        f"{path}: unknown setting {where}{name!r} (see systemd/sehat.toml for every key).",
        f"{path}: تنظیم ناشناخته {where}{name!r} (همهٔ کلیدها در systemd/sehat.toml آمده‌اند).",
    )


def _bad(path: Path, where: str, detail: str) -> SettingsFileError:
    return SettingsFileError(f"{path}: {where} {detail}", f"{path}: مقدار {where} نادرست است ({detail}).")


@dataclass(frozen=True)
class IssuerEntry:
    """One ``[[issuer]]`` table: whom the box trusts, from which anchor file, and where its feed is."""

    id: str
    trust_anchor: Path
    feed_url: str | None = None


@dataclass(frozen=True)
class SettingsFile:
    """The parsed file; ``path`` is None when there is none (every section then empty)."""

    path: Path | None = None
    box: Mapping[str, Any] = field(default_factory=dict)
    sync: Mapping[str, Any] = field(default_factory=dict)
    issuers: tuple[IssuerEntry, ...] = ()
    tls: Mapping[str, str] = field(default_factory=dict)

    def values_for(self, section: str, defaults: Any) -> dict[str, Any]:
        """The section's values, checked by name and type against the dataclass instance ``defaults``.

        Only scalar fields (str, bool, int, float, paths) may be set; a nested limits object may not.

        Raises:
            SettingsFileError: a key the dataclass has no scalar field for, or a value of the wrong type.
        """
        raw: Mapping[str, Any] = getattr(self, section)
        if not raw:
            return {}
        assert self.path is not None
        settable = {f.name: getattr(defaults, f.name) for f in dataclasses.fields(defaults)}
        values: dict[str, Any] = {}
        for name, value in raw.items():
            if name not in settable or not _scalar(settable[name]):
                raise _unknown(self.path, f"[{section}] ", name)
            values[name] = _typed(self.path, f"[{section}] {name}", settable[name], value)
        return values


def _scalar(current: Any) -> bool:
    return current is None or isinstance(current, str | bool | int | float | Path)


def _typed(path: Path, where: str, current: Any, value: Any) -> Any:
    """``value`` as the field's type; TOML already typed it, so only the obvious widening is allowed."""
    if current is None or isinstance(current, Path):
        if not isinstance(value, str) or not value:
            raise _bad(path, where, "must be a path in quotes")
        return Path(value)
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise _bad(path, where, "must be true or false")
        return value
    if isinstance(current, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(path, where, "must be a whole number")
        return value
    if isinstance(current, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _bad(path, where, "must be a number")
        return float(value)
    if not isinstance(value, str):
        raise _bad(path, where, "must be text in quotes")
    return value


def settings_path(explicit: Path | None = None, environ: Mapping[str, str] | None = None) -> tuple[Path, bool]:
    """Which file to read, and whether it must exist (only one named with ``--config``)."""
    if explicit is not None:
        return explicit, True
    environ = os.environ if environ is None else environ
    return Path(environ.get(PATH_VARIABLE) or DEFAULT_PATH), False


def load_settings(explicit: Path | None = None, environ: Mapping[str, str] | None = None) -> SettingsFile:
    """Read and check the configuration file (see the module docstring for which one).

    Raises:
        SettingsFileError: an explicit file that is missing, a file that is not TOML, an unknown
            section or key of ``[[issuer]]`` or ``[tls]``, or a value of the wrong type there.
    """
    path, required = settings_path(explicit, environ)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        if not required:
            return SettingsFile()
        raise SettingsFileError(
            f"Configuration file {path} does not exist.", f"فایل تنظیمات {path} وجود ندارد."
        ) from error
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsFileError(
            f"Configuration file {path} cannot be read: {error}", f"فایل تنظیمات {path} خوانده نمی‌شود."
        ) from error
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SettingsFileError(
            f"{path} is not valid TOML: {error}", f"فایل تنظیمات {path} قالب TOML درستی ندارد: {error}"
        ) from error
    for name, value in document.items():
        if name not in SECTIONS:
            raise _unknown(path, "section ", name)
        expected = list if name == "issuer" else dict
        if not isinstance(value, expected):
            shape = "[[issuer]] tables" if name == "issuer" else f"a [{name}] table"
            raise _bad(path, name, f"must be {shape}")
    return SettingsFile(
        path=path,
        box=document.get("box", {}),
        sync=document.get("sync", {}),
        issuers=tuple(_issuer(path, table) for table in document.get("issuer", [])),
        tls=_tls(path, document.get("tls", {})),
    )


def _issuer(path: Path, table: Mapping[str, Any]) -> IssuerEntry:
    for name in table:
        if name not in ISSUER_KEYS:
            raise _unknown(path, "[[issuer]] ", name)
    for name in ISSUER_KEYS:
        value = table.get(name)
        if (name != "feed_url" or value is not None) and (not isinstance(value, str) or not value):
            raise _bad(path, f"[[issuer]] {name}", "must be given, as text in quotes")
    feed_url = table.get("feed_url")
    if feed_url is not None and not feed_url.startswith(("http://", "https://")):
        raise _bad(path, "[[issuer]] feed_url", "must start with http:// or https://")
    return IssuerEntry(table["id"], path.parent / table["trust_anchor"], feed_url)


def _tls(path: Path, table: Mapping[str, Any]) -> dict[str, str]:
    for name, value in table.items():
        if name not in TLS_KEYS:
            raise _unknown(path, "[tls] ", name)
        if not isinstance(value, str) or not value:
            raise _bad(path, f"[tls] {name}", "must be a path in quotes")
    return dict(table)
