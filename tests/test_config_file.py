"""/etc/sehat/sehat.toml: its values reach the box and the sync agent, under the environment's."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.config import ApplianceConfig
from appliance.config_file import SettingsFileError, load_settings
from appliance.datadir import DataDir
from appliance.replica import Replica
from registry.registry import Registry
from sehat.cli import cli
from sync_agent.config import SyncConfig

ROOT = Path(__file__).parent.parent


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def anchor_file(registry: Registry, folder: Path) -> Path:
    return write(folder / f"{registry.issuer}.trust.json", json.dumps(registry.trust_anchor().to_dict()))


def test_box_values_reach_the_appliance_config(tmp_path: Path) -> None:
    path = write(tmp_path / "sehat.toml", '[box]\ndatadir = "/srv/box"\nport = 9000\nbehind_proxy = true\n')
    config = ApplianceConfig.from_environment({"SEHAT_CONFIG": str(path)})
    assert (config.datadir, config.port, config.behind_proxy) == (Path("/srv/box"), 9000, True)


def test_sync_values_reach_the_sync_config(tmp_path: Path) -> None:
    path = write(tmp_path / "sehat.toml", "[sync]\ninterval_minutes = 5\nhttp_retries = 1\n")
    config = SyncConfig(**load_settings(path).values_for("sync", SyncConfig()))
    assert (config.interval_minutes, config.http_retries) == (5.0, 1)


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "sehat.toml", "[box]\nport = 9000\n")
    assert ApplianceConfig.from_environment({"SEHAT_CONFIG": str(path), "SEHAT_PORT": "9100"}).port == 9100


def test_a_missing_file_at_the_default_path_is_no_file(tmp_path: Path) -> None:
    assert ApplianceConfig.from_environment({"SEHAT_CONFIG": str(tmp_path / "absent.toml")}) == ApplianceConfig()


def test_unknown_key_is_a_bilingual_error_naming_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path / "sehat.toml", "[box]\nprot = 9000\n")
    with pytest.raises(SettingsFileError) as caught:
        ApplianceConfig.from_environment({"SEHAT_CONFIG": str(path)})
    for message in (caught.value.message, caught.value.message_fa):
        assert str(path) in message
        assert "prot" in message


def test_unknown_key_stops_every_command_in_one_line(tmp_path: Path) -> None:
    path = write(tmp_path / "sehat.toml", "[sync]\nintervall_minutes = 5\n")
    result = CliRunner().invoke(cli, ["--config", str(path), "registry", "--help"])
    assert result.exit_code == 1
    assert f"{path}: unknown setting [sync] 'intervall_minutes'" in result.output
    assert "Traceback" not in result.output


def test_wrong_type_is_an_error_naming_the_key(tmp_path: Path) -> None:
    path = write(tmp_path / "sehat.toml", '[box]\nport = "eighty"\n')
    with pytest.raises(SettingsFileError, match=r"\[box\] port must be a whole number"):
        load_settings(path).values_for("box", ApplianceConfig())


def test_a_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "absent.toml"), "registry", "--help"])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_issuer_tables_drive_appliance_init(tmp_path: Path, make_registry: Callable[..., Registry]) -> None:
    registry = make_registry("msrt")
    anchor_file(registry, tmp_path)
    path = write(
        tmp_path / "sehat.toml",
        '[[issuer]]\nid = "msrt"\ntrust_anchor = "msrt.trust.json"\nfeed_url = "https://feed.example.ir/msrt"\n',
    )
    result = CliRunner().invoke(cli, ["--config", str(path), "appliance", "init", str(tmp_path / "box")])
    assert result.exit_code == 0, result.output
    with Replica.open(DataDir(tmp_path / "box")) as replica:
        [state] = replica.issuer_states()
    assert (state.issuer, state.feed_url) == ("msrt", "https://feed.example.ir/msrt")


def test_explicit_config_beats_the_default_path(tmp_path: Path, make_registry: Callable[..., Registry]) -> None:
    for issuer in ("msrt", "azad"):
        anchor_file(make_registry(issuer), tmp_path)
    default = write(tmp_path / "default.toml", '[[issuer]]\nid = "azad"\ntrust_anchor = "azad.trust.json"\n')
    explicit = write(tmp_path / "explicit.toml", '[[issuer]]\nid = "msrt"\ntrust_anchor = "msrt.trust.json"\n')
    result = CliRunner().invoke(
        cli,
        ["--config", str(explicit), "appliance", "init", str(tmp_path / "box")],
        env={"SEHAT_CONFIG": str(default)},
    )
    assert result.exit_code == 0, result.output
    assert "trusting: msrt." in result.output


def test_an_issuer_table_must_match_its_anchor(tmp_path: Path, make_registry: Callable[..., Registry]) -> None:
    anchor_file(make_registry("msrt"), tmp_path)
    path = write(tmp_path / "sehat.toml", '[[issuer]]\nid = "azad"\ntrust_anchor = "msrt.trust.json"\n')
    result = CliRunner().invoke(cli, ["--config", str(path), "appliance", "init", str(tmp_path / "box")])
    assert result.exit_code == 1
    assert "trust anchor of 'msrt'" in result.output


def test_the_shipped_example_is_valid_and_changes_only_what_it_says(tmp_path: Path) -> None:
    settings = load_settings(ROOT / "systemd" / "sehat.toml")
    config = ApplianceConfig.from_environment({}, settings)
    assert (config.datadir, config.host, config.port) == (Path("/var/lib/sehat"), "0.0.0.0", 8080)
    assert settings.issuers == ()
