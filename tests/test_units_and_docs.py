"""The shipped systemd units run commands that exist, and the docs match the code."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from sehat.cli import cli

ROOT = Path(__file__).parent.parent
UNITS = sorted((ROOT / "systemd").glob("*.service"))


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    return parser


@pytest.mark.parametrize("unit", UNITS, ids=lambda path: path.name)
def test_each_unit_runs_a_real_sehat_command(unit: Path) -> None:
    command = shlex.split(_unit(unit)["Service"]["ExecStart"])
    assert command[0].endswith("/bin/sehat")
    words = [word for word in command[1:] if not word.startswith("/") and not word.startswith("-")]
    words = [word for word in words if not word.isdigit() and word != "0.0.0.0"]
    result = CliRunner().invoke(cli, [*words, "--help"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("unit", UNITS, ids=lambda path: path.name)
def test_each_unit_is_hardened(unit: Path) -> None:
    service = _unit(unit)["Service"]
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["User"].startswith("sehat")


def test_box_units_take_the_key_as_a_credential() -> None:
    for name in ("sehat-appliance.service", "sehat-sync.service"):
        assert _unit(ROOT / "systemd" / name)["Service"]["LoadCredential"].startswith("sehat-replica-key:")


DAEMONS = ["sehat-appliance.service", "sehat-sync.service"]


def _bytes(size: str) -> int:
    return int(size[:-1]) << {"K": 10, "M": 20, "G": 30}[size[-1]]


@pytest.mark.parametrize("name", DAEMONS)
def test_each_daemon_is_started_by_notify_and_watched(name: str) -> None:
    service = _unit(ROOT / "systemd" / name)["Service"]
    assert (service["Type"], service["NotifyAccess"]) == ("notify", "main")
    assert int(service["WatchdogSec"]) > 0 and "TimeoutStartSec" in service
    assert service["Restart"] in ("always", "on-failure") and "RestartSec" in service


@pytest.mark.parametrize("name", DAEMONS)
def test_each_daemon_gives_up_after_repeated_failures(name: str) -> None:
    unit = _unit(ROOT / "systemd" / name)["Unit"]
    assert int(unit["StartLimitBurst"]) > 1 and unit["StartLimitIntervalSec"]


@pytest.mark.parametrize("name", DAEMONS)
def test_each_daemon_has_a_memory_wall_with_a_softer_limit_below(name: str) -> None:
    service = _unit(ROOT / "systemd" / name)["Service"]
    assert 0 < _bytes(service["MemoryHigh"]) < _bytes(service["MemoryMax"])


def test_the_readme_names_the_two_set_up_commands_first() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.index("make demo") < text.index("make test") < text.index("## ")
