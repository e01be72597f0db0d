"""Sealed records: nothing a registry exports, nor its own files, shows a holder to a grep."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from pathlib import Path

import pytest

from registry.publisher import Publisher
from registry.registry import Registry
from sehat.demo import DEMO_BODIES, build_demo_registries, sample_csv
from tests.conftest import NOW


def _forms(text: str) -> set[bytes]:
    """Every byte form in which a grep could find ``text``."""
    forms: set[bytes] = set()
    for normal in ("NFC", "NFD", "NFKC"):
        variant = unicodedata.normalize(normal, text)
        forms.add(variant.encode("utf-8"))
        forms.add(variant.encode("utf-16-le"))
        forms.add(variant.encode("utf-16-be"))
        forms.add(json.dumps(variant).strip('"').encode("ascii"))
        forms.add(json.dumps(variant, ensure_ascii=False).strip('"').encode("utf-8"))
    return forms


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The five demo registries from their sample data, each with its feed and a bundle."""
    root = tmp_path_factory.mktemp("privacy")
    for demo in build_demo_registries(root, kdf_cost=1):
        with Registry.open(demo.directory) as registry:
            publisher = Publisher(registry)
            publisher.publish(root / "feed" / demo.issuer, NOW)
            publisher.write_bundle(root / f"usb-{demo.issuer}.sehat", NOW)
    return root


def _bundles(root: Path) -> list[Path]:
    return sorted(root.glob("usb-*.sehat"))


def _secrets() -> list[tuple[str, str]]:
    rows = [row for body in DEMO_BODIES for row in csv.DictReader(io.StringIO(sample_csv(body.issuer).decode("utf-8")))]
    # Levels, fields and institutions are public (the issuer's catalogue spells them out), and a
    # name part may be found inside one («زهرا» in «جامعةالزهرا», «امیر» in «امیرکبیر»).
    public = " ".join(row[column] for row in rows for column in ("degree_level", "field", "institution"))
    found = []
    for row in rows:
        found.append(("full_name", row["full_name"]))
        found.append(("national_id", row["national_id"]))
        found.extend(("name part", part) for part in row["full_name"].split() if len(part) >= 4 and part not in public)
    return found


def _files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


def test_the_feed_and_bundle_hold_no_name_or_national_id(exported: Path) -> None:
    files = [*_files(exported / "feed"), *_bundles(exported)]
    assert len(_bundles(exported)) == len(DEMO_BODIES) and len(files) >= 3 * len(DEMO_BODIES)
    contents = {path: path.read_bytes() for path in files}
    for what, secret in _secrets():
        for form in _forms(secret):
            for path, data in contents.items():
                assert form not in data, f"{what} {secret!r} found in {path.name}"


def test_the_registry_directory_holds_no_name_or_national_id_in_plain_bytes(exported: Path) -> None:
    contents = {path: path.read_bytes() for path in _files(exported / "registries")}
    assert sum(path.name == "registry.db" for path in contents) == len(DEMO_BODIES)
    for what, secret in _secrets():
        for form in _forms(secret):
            for path, data in contents.items():
                assert form not in data, f"{what} {secret!r} found in {path}"


def test_the_feed_holds_no_code(exported: Path) -> None:
    codes: list[str] = []
    for body in DEMO_BODIES:
        with Registry.open(exported / "registries" / body.issuer) as registry:
            codes.extend(row[0] for row in registry.connection.execute("SELECT code FROM records"))
    data = b"".join(path.read_bytes() for path in [*_files(exported / "feed"), *_bundles(exported)])
    assert codes
    assert not [code for code in codes if code.encode() in data]
