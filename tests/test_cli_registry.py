"""``sehat registry …`` as an operator uses it: helpful, JSON that is a contract, one-line errors."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from PIL import Image
from pyzbar.pyzbar import decode

from registry.registry import Registry
from sehat.cli import cli
from tests.conftest import graduates_csv
from tests.support.import_rows import DIPLOMA, PROVISIONAL, make_csv
from verifier.signing import TrustAnchor


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def registry_dir(runner: CliRunner, tmp_path: Path) -> Path:
    directory = tmp_path / "reg"
    root_key = tmp_path / "usb" / "uni-root.pem"
    result = runner.invoke(
        cli, ["registry", "init", str(directory), "--issuer", "uni", "--kdf-cost", "1", "--root-key", str(root_key)]
    )
    assert result.exit_code == 0, result.output
    return directory


@pytest.fixture
def codes(runner: CliRunner, registry_dir: Path, tmp_path: Path) -> list[str]:
    source = tmp_path / "in.csv"
    source.write_bytes(graduates_csv(6))
    result = runner.invoke(cli, ["registry", "import", str(registry_dir), str(source)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "line,code"
    return [line.split(",")[1] for line in lines[1:]]


def invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(cli, list(args))


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in group.commands.items():
        found.append(((*prefix, name), command))
        if isinstance(command, click.Group):
            found.extend(_all_commands(command, (*prefix, name)))
    return found


@pytest.mark.parametrize(
    ("path", "command"), _all_commands(cli), ids=lambda value: " ".join(value) if isinstance(value, tuple) else ""
)
def test_every_command_explains_itself_with_an_example(path: tuple[str, ...], command: click.Command) -> None:
    help_text = CliRunner().invoke(cli, [*path, "--help"]).output
    assert command.help
    if not isinstance(command, click.Group):
        assert "Example" in help_text and "sehat " in help_text


def test_trust_prints_an_anchor_an_appliance_can_load(runner: CliRunner, registry_dir: Path) -> None:
    result = invoke(runner, "registry", "trust", str(registry_dir))
    anchor = TrustAnchor.from_bytes(result.stdout.encode())
    assert anchor.issuer == "uni"


def test_import_can_write_the_codes_to_a_private_file(runner: CliRunner, registry_dir: Path, tmp_path: Path) -> None:
    source, out = tmp_path / "in.csv", tmp_path / "codes.csv"
    source.write_bytes(graduates_csv(3))
    result = invoke(runner, "registry", "import", str(registry_dir), str(source), "--codes-out", str(out))
    assert result.exit_code == 0
    assert out.read_text().splitlines()[0] == "line,code"
    assert len(out.read_text().splitlines()) == 4
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_a_bad_import_is_one_clear_line(runner: CliRunner, registry_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_text("code,name\n1,x\n", encoding="utf-8")
    result = invoke(runner, "registry", "import", str(registry_dir), str(source))
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert result.output.startswith("Error: Import refused")
    assert "Traceback" not in result.output


def test_errors_speak_persian_in_a_persian_locale(registry_dir: Path, tmp_path: Path) -> None:
    result = CliRunner(env={"LANG": "fa_IR.UTF-8"}).invoke(
        cli, ["registry", "revoke", str(registry_dir), "1" * 20, "--reason", "x"]
    )
    assert result.exit_code == 1
    assert "رکوردی با این کد وجود ندارد" in result.output


def test_a_directory_that_is_not_a_registry_is_named(runner: CliRunner, tmp_path: Path) -> None:
    result = invoke(runner, "registry", "digest", str(tmp_path))
    assert result.exit_code == 1
    assert "No registry at" in result.output


def test_digest_json_is_the_contract_shape(runner: CliRunner, registry_dir: Path, codes: list[str]) -> None:
    result = invoke(runner, "registry", "digest", str(registry_dir), "--json")
    body = json.loads(result.stdout)
    assert set(body) == {"issuer", "seq", "digest"}
    with Registry.open(registry_dir) as registry:
        assert (body["issuer"], body["seq"], body["digest"]) == (registry.issuer, *registry.digest()[:2])


def test_revoke_supersede_and_correct_each_record_a_change(
    runner: CliRunner, registry_dir: Path, codes: list[str]
) -> None:
    assert invoke(runner, "registry", "revoke", str(registry_dir), codes[0], "--reason", "صدور اشتباه").exit_code == 0
    correct = invoke(runner, "registry", "correct", str(registry_dir), codes[1], "--set", "full_name=نام اصلاح‌شده")
    assert correct.exit_code == 0, correct.output
    assert json.loads(invoke(runner, "registry", "digest", str(registry_dir), "--json").stdout)["seq"] == 8


def test_supersede_marks_the_provisional_certificate_replaced(
    runner: CliRunner, registry_dir: Path, tmp_path: Path
) -> None:
    source = tmp_path / "pair.csv"
    source.write_bytes(make_csv(PROVISIONAL, DIPLOMA))
    provisional, diploma = (
        line.split(",")[1]
        for line in invoke(runner, "registry", "import", str(registry_dir), str(source)).stdout.splitlines()[1:]
    )
    result = invoke(runner, "registry", "supersede", str(registry_dir), provisional, diploma)
    assert result.exit_code == 0, result.output
    with Registry.open(registry_dir) as registry:
        assert registry.lookup(provisional).superseded_by == diploma


def test_publish_and_bundle_write_their_files(
    runner: CliRunner, registry_dir: Path, codes: list[str], tmp_path: Path
) -> None:
    assert invoke(runner, "registry", "publish", str(registry_dir), str(tmp_path / "feed")).exit_code == 0
    assert (tmp_path / "feed" / "head.json").exists()
    result = invoke(runner, "registry", "bundle", str(registry_dir), str(tmp_path / "usb.sehat"))
    assert result.exit_code == 0
    assert (tmp_path / "usb.sehat").read_bytes().startswith(b"SEHAT-BUNDLE 2\n")


@pytest.mark.parametrize("url", [None, "https://verify.example.ir/v/{code}"])
def test_the_qr_image_decodes_to_the_code(
    runner: CliRunner, registry_dir: Path, codes: list[str], tmp_path: Path, url: str | None
) -> None:
    png = tmp_path / "qr.png"
    args = ["registry", "qr", str(registry_dir), codes[2], str(png)] + (["--url", url] if url else [])
    assert invoke(runner, *args).exit_code == 0
    (symbol,) = decode(Image.open(png))
    assert symbol.data.decode() == (url.replace("{code}", codes[2]) if url else codes[2])


def test_rotate_key_advances_the_certificate_version(runner: CliRunner, registry_dir: Path, tmp_path: Path) -> None:
    result = invoke(
        runner, "registry", "rotate-key", str(registry_dir), "--root-key", str(tmp_path / "usb/uni-root.pem")
    )
    assert "version 2" in result.output


def test_init_leaves_only_the_signing_key_in_the_registry_directory(registry_dir: Path, tmp_path: Path) -> None:
    assert sorted(path.name for path in (registry_dir / "keys").iterdir()) == ["signing.pem", "store.key"]
    root_key = tmp_path / "usb" / "uni-root.pem"
    assert root_key.stat().st_mode & 0o777 == 0o600
    assert b"BEGIN PRIVATE KEY" in root_key.read_bytes()


def test_rotate_key_needs_the_root_key_from_its_medium(runner: CliRunner, registry_dir: Path, tmp_path: Path) -> None:
    missing = invoke(runner, "registry", "rotate-key", str(registry_dir), "--root-key", str(tmp_path / "gone.pem"))
    assert missing.exit_code == 1 and "is missing" in missing.output and "Traceback" not in missing.output
    other = tmp_path / "other"
    other_root = tmp_path / "other-root.pem"
    assert invoke(runner, "registry", "init", str(other), "--root-key", str(other_root)).exit_code == 0
    wrong = invoke(runner, "registry", "rotate-key", str(registry_dir), "--root-key", str(other_root))
    assert wrong.exit_code == 1 and "is not the root key of issuer 'uni'" in wrong.output


def test_an_encrypted_root_key_asks_for_its_passphrase(runner: CliRunner, tmp_path: Path) -> None:
    directory, root_key = tmp_path / "enc", tmp_path / "usb" / "enc-root.pem"
    created = runner.invoke(
        cli,
        ["registry", "init", str(directory), "--root-key", str(root_key), "--encrypt-root"],
        input="correct horse\ncorrect horse\n",
    )
    assert created.exit_code == 0, created.output
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in root_key.read_bytes()
    rotate = ["registry", "rotate-key", str(directory), "--root-key", str(root_key)]
    wrong = runner.invoke(cli, rotate, input="battery staple\n")
    assert wrong.exit_code == 1 and "passphrase is wrong" in wrong.output
    right = runner.invoke(cli, rotate, env={"SEHAT_ROOT_PASSPHRASE": "correct horse"})
    assert right.exit_code == 0, right.output
    assert "version 2" in right.output


def test_init_refuses_a_root_key_inside_the_registry_directory(runner: CliRunner, tmp_path: Path) -> None:
    directory = tmp_path / "inside"
    result = invoke(runner, "registry", "init", str(directory), "--root-key", str(directory / "keys" / "root.pem"))
    assert result.exit_code == 1
    assert "must not be kept in the registry directory" in result.output
    assert not directory.exists()


def test_init_refuses_to_overwrite_a_registry(runner: CliRunner, registry_dir: Path, tmp_path: Path) -> None:
    result = invoke(runner, "registry", "init", str(registry_dir), "--root-key", str(tmp_path / "another.pem"))
    assert result.exit_code == 1
    assert "refusing to overwrite" in result.output


def test_the_console_script_runs_as_a_program(registry_dir: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "sehat", "registry", "digest", str(registry_dir), "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(completed.stdout)["seq"] == 0
