"""Running the checks in order, each on its own fresh components, and reporting them."""

from __future__ import annotations

import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from soak.checks import attacks, crash, disk_full, load
from soak.result import CheckResult
from soak.settings import SoakSettings

CHECKS: dict[str, Callable[[SoakSettings, Path], CheckResult | list[CheckResult]]] = {
    "load": load.run,
    "attacks": attacks.run,
    "crash": crash.run,
    "disk_full": disk_full.run,
}


def run_check(name: str, settings: SoakSettings, workdir: Path | None = None) -> list[CheckResult]:
    """Run one check in a temporary directory (or ``workdir``); a crash of the check itself is a failure."""
    with tempfile.TemporaryDirectory(prefix=f"soak-{name}-", dir=workdir) as directory:
        try:
            found = CHECKS[name](settings, Path(directory))
        except Exception:  # a check that blows up has failed, and says where
            broken = CheckResult(name, worst="the check itself raised")
            broken.fail(traceback.format_exc(limit=8))
            return [broken]
    return found if isinstance(found, list) else [found]


def run_all(
    settings: SoakSettings, names: list[str], report: Callable[[str], None], workdir: Path | None = None
) -> list[CheckResult]:
    """Run ``names`` in order, reporting each line (and its problems) as it finishes."""
    results: list[CheckResult] = []
    for name in names:
        started = time.monotonic()
        for result in run_check(name, settings, workdir):
            results.append(result)
            report(result.line())
            if result.problems:
                report(result.details())
        report(f"    ({name}: {time.monotonic() - started:.0f} s)")
    return results
