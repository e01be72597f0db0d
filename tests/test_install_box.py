"""scripts/install-box, run in --root mode: files, modes, recorded actions, idempotence, upgrade, uninstall.

Under --root every path is inside a temporary folder and whatever would touch the live system
(the user, systemctl, chown, apt, pip) is recorded in DIR/install-box.actions, so these tests
never change the machine they run on.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from storage.keyfile import KEY_BYTES, read_key_file

ROOT = Path(__file__).parent.parent
SCRIPT = ROOT / "scripts" / "install-box"
ISSUER_CONFIG = """[box]
datadir = "/var/lib/sehat"
port = 8080

[[issuer]]
id = "msrt"
trust_anchor = "msrt.trust.json"
feed_url = "https://feed.example.ir/msrt"
"""


def install_box(root: Path, *options: str, source: Path = ROOT) -> str:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root), "--source", str(source), *options],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def actions(root: Path) -> list[str]:
    return (root / "install-box.actions").read_text().splitlines()


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o7777


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every path under ``root`` with its mode and (for files) the hash of its content."""
    found = {}
    for path in sorted(root.rglob("*")):
        content = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() and not path.is_symlink() else ""
        found[str(path.relative_to(root))] = (path.lstat().st_mode, content)
    return found


@pytest.fixture()
def box(tmp_path: Path) -> Path:
    root = tmp_path / "box"
    install_box(root)
    return root


@pytest.fixture()
def box_with_issuer(tmp_path: Path) -> Path:
    """A root whose /etc/sehat/sehat.toml names an issuer before the first run."""
    root = tmp_path / "box"
    (root / "etc" / "sehat").mkdir(parents=True)
    (root / "etc" / "sehat" / "sehat.toml").write_text(ISSUER_CONFIG)
    (root / "etc" / "sehat" / "msrt.trust.json").write_text("{}")
    install_box(root)
    return root


def test_first_run_creates_files_with_their_modes(box: Path) -> None:
    assert mode(box / "etc/sehat") == 0o755
    assert mode(box / "etc/sehat/sehat.toml") == 0o644
    assert mode(box / "etc/sehat/replica.key") == 0o600
    assert mode(box / "var/lib/sehat") == 0o700
    assert (box / "etc/sehat/sehat.toml").read_bytes() == (ROOT / "systemd/sehat.toml").read_bytes()
    assert (box / "usr/lib/sysusers.d/sehat.conf").read_text().count("u sehat") == 1


def test_the_key_is_written_by_the_project_key_writer(box: Path) -> None:
    assert len(read_key_file(box / "etc/sehat/replica.key")) == KEY_BYTES


def test_live_system_actions_are_recorded_not_run(box: Path) -> None:
    recorded = actions(box)
    assert "systemd-sysusers /usr/lib/sysusers.d/sehat.conf" in recorded
    assert "chown sehat:sehat /var/lib/sehat" in recorded
    assert any(line.startswith("/opt/sehat/.venv/bin/pip install") for line in recorded)
    assert any("install-system-packages --box" in line for line in recorded)


def test_units_are_copied_and_enabled(box: Path) -> None:
    for unit in ("sehat-appliance.service", "sehat-sync.service", "sehat-backup.service", "sehat-backup.timer"):
        assert (box / "etc/systemd/system" / unit).read_bytes() == (ROOT / "systemd" / unit).read_bytes()
    recorded = actions(box)
    assert "systemctl daemon-reload" in recorded
    assert "systemctl enable sehat-appliance.service" in recorded
    assert "systemctl enable sehat-sync.service" in recorded
    assert not any(line.startswith("systemctl start") for line in recorded)  # no replica, no issuers yet


def test_issuers_in_the_config_init_the_replica_and_start_the_units(box_with_issuer: Path) -> None:
    recorded = actions(box_with_issuer)
    assert "/usr/local/bin/sehat appliance init /var/lib/sehat" in recorded
    assert "systemctl start sehat-appliance.service" in recorded
    assert "systemctl start sehat-sync.service" in recorded
    assert (box_with_issuer / "etc/sehat/sehat.toml").read_text() == ISSUER_CONFIG  # never overwritten


def test_second_run_changes_nothing(box_with_issuer: Path) -> None:
    before = snapshot(box_with_issuer)
    output = install_box(box_with_issuer)
    assert "Nothing to change" in output
    assert snapshot(box_with_issuer) == before


def test_upgrade_replaces_the_program_but_not_key_data_or_config(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "*cache*", ".hypothesis", "tests"))
    root = tmp_path / "box"
    install_box(root, source=source)
    (root / "var/lib/sehat/replica-000001.db").write_bytes(b"data")
    (root / "etc/sehat/sehat.toml").write_text("[box]\nport = 8090\n")
    kept = {path: (root / path).read_bytes() for path in ("etc/sehat/replica.key", "var/lib/sehat/replica-000001.db")}
    (source / "sehat" / "__init__.py").write_text('"""A new version."""\n')
    assert "--upgrade" in install_box(root, source=source)  # without it, another version is only reported
    install_box(root, "--upgrade", source=source)
    assert (root / "opt/sehat/sehat/__init__.py").read_text() == '"""A new version."""\n'
    reinstall = "/opt/sehat/.venv/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps"
    assert f"{reinstall} /opt/sehat" in actions(root)
    assert {path: (root / path).read_bytes() for path in kept} == kept
    assert (root / "etc/sehat/sehat.toml").read_text() == "[box]\nport = 8090\n"


def test_uninstall_keeps_data_and_configuration(box: Path) -> None:
    (box / "var/lib/sehat/replica-000001.db").write_bytes(b"data")
    install_box(box, "--uninstall")
    assert not (box / "opt/sehat").exists()
    assert not list((box / "etc/systemd/system").glob("sehat*"))
    assert "systemctl disable --now sehat-appliance.service" in actions(box)
    assert (box / "var/lib/sehat/replica-000001.db").read_bytes() == b"data"
    assert (box / "etc/sehat/replica.key").exists()
    assert (box / "etc/sehat/sehat.toml").exists()
    assert "Nothing to change" in install_box(box, "--uninstall")


def test_uninstall_purge_removes_data_and_configuration(box: Path) -> None:
    install_box(box, "--uninstall", "--purge")
    assert not (box / "var/lib/sehat").exists()
    assert not (box / "etc/sehat").exists()
    assert "userdel sehat" in actions(box)
