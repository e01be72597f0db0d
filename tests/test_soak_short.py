"""The soak's checks (``make soak``), each in its short version: the same code, smaller numbers.

The disk-full check mounts a tmpfs, so it needs root (as CI runs); without it the check,
and so this test, fails saying why rather than being skipped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from soak.runner import run_check
from soak.settings import SoakSettings


@pytest.mark.parametrize("check", ["load", "attacks", "crash", "disk_full"])
def test_short_soak_check_passes(check: str, tmp_path: Path) -> None:
    results = run_check(check, SoakSettings.short(), tmp_path)
    report = "\n".join(f"{result.line()}\n{result.details()}" for result in results)
    assert results, f"{check} reported nothing"
    assert all(result.ok for result in results), report
