"""Weak codes are said, not assumed: imports of non-random codes are refused, or accepted and signed."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.datadir import DataDir
from appliance.replica import Replica
from registry.code_randomness import estimate_code_randomness, kdf_cost_restoring_bound
from registry.errors import WeakCodesError
from registry.registry import Registry
from sehat.cli import cli
from sync_agent.agent import SyncAgent
from tests.conftest import NOW, TEST_SYNC_CONFIG, make_box
from tests.support.import_rows import GOOD_ROW, make_csv
from tests.support.simulator import FeedSimulator

RANDOM = random.Random(20261125)
INSTITUTIONS = ["731200", "845511", "112233"]


def _random_codes(count: int, prefix: str = "") -> list[str]:
    return [prefix + "".join(RANDOM.choice("0123456789") for _ in range(20 - len(prefix))) for _ in range(count)]


def _rows(codes: list[str]) -> bytes:
    return make_csv(*(code + GOOD_ROW for code in codes))


@pytest.mark.parametrize("count", [1, 2, 8, 50, 300, 2000])
def test_random_codes_are_judged_random(count: int) -> None:
    assert estimate_code_randomness(_random_codes(count), "none").bits >= 60


@pytest.mark.parametrize(
    ("codes", "reason"),
    [
        (["00000000000000000001"], "run of 19"),
        ([f"{serial:020d}" for serial in range(5_000_000, 5_000_400)], ""),
        ([str(10**19 + 7_654_321_987 + serial) for serial in range(50)], "range"),
        (_random_codes(400, "140301"), ""),  # a date in every code
        (
            [
                prefix + code[6:]
                for prefix, code in zip(["731200", "845511", "112233"] * 200, _random_codes(600), strict=True)
            ],
            "",
        ),
    ],
    ids=["a-single-serial", "serials", "serials-from-a-random-start", "a-shared-date", "institution-prefixes"],
)
def test_structured_codes_are_judged_weak(codes: list[str], reason: str) -> None:
    estimate = estimate_code_randomness(codes, "none")
    assert estimate.bits < 60
    assert reason in estimate.reason


def test_the_kdf_cost_that_restores_the_bound_adds_one_step_per_missing_bit() -> None:
    assert kdf_cost_restoring_bound(57.2, 60, 14) == 17
    assert kdf_cost_restoring_bound(66.4, 60, 14) == 14


def test_a_weak_import_is_refused_naming_the_kdf_cost_and_nothing_is_imported(
    make_registry: Callable[..., Registry],
) -> None:
    registry = make_registry()
    with pytest.raises(WeakCodesError, match="--kdf-cost 15") as refused:  # 59.8 bits: one step more
        registry.import_csv(_rows(_random_codes(40, "14")), NOW)
    assert refused.value.bits < 60
    assert registry.store.count_records() == 0
    assert registry.profile.code_bits is None


def test_a_weak_import_accepted_with_the_flag_is_recorded_in_the_signed_profile(
    make_registry: Callable[..., Registry], tmp_path: Path
) -> None:
    simulator = FeedSimulator(make_registry("weakuni"), tmp_path / "feed")
    try:
        serials = [f"{serial:020d}" for serial in range(9_100_000, 9_100_050)]
        simulator.registry.import_csv(_rows(serials), NOW, accept_weak_codes=True)
        assert simulator.registry.store.count_records() == 50
        bits = simulator.registry.profile.code_bits
        assert bits is not None and bits < 60
        simulator.registry.import_csv(_rows(_random_codes(20)), NOW)  # random codes later do not raise it
        assert simulator.registry.profile.code_bits == bits
        assert f'"code_bits":{bits}'.encode() in simulator.publish()
        box: DataDir = make_box(tmp_path / "box", simulator)
        (outcome,) = SyncAgent(box, TEST_SYNC_CONFIG, lambda: simulator.now).sync_once()
        assert outcome.ok, outcome.error
        with Replica.open(box) as replica:
            profile = replica.issuer_state("weakuni").profile
        assert profile is not None and profile.code_bits == bits, "every box is told, signed"
        reopened = Registry.open(simulator.registry.directory)
        assert reopened.profile.code_bits == bits
        reopened.close()
    finally:
        simulator.close()


def test_the_cli_refuses_weak_codes_in_one_line_and_accepts_them_with_the_flag(tmp_path: Path) -> None:
    runner = CliRunner()
    directory = tmp_path / "registry"
    root_key = tmp_path / "usb" / "root.pem"
    result = runner.invoke(
        cli, ["registry", "init", str(directory), "--issuer", "uni", "--kdf-cost", "1", "--root-key", str(root_key)]
    )
    assert result.exit_code == 0, result.output
    csv_file = tmp_path / "moved-over.csv"
    csv_file.write_bytes(_rows(["00000000000000000001"]))
    refused = runner.invoke(cli, ["registry", "import", str(directory), str(csv_file)])
    assert refused.exit_code == 1
    assert "--accept-weak-codes" in refused.output and "Traceback" not in refused.output
    accepted = runner.invoke(cli, ["registry", "import", str(directory), str(csv_file), "--accept-weak-codes"])
    assert accepted.exit_code == 0, accepted.output
    assert "signed profile now says about" in accepted.output
