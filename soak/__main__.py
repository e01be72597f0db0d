"""``python -m soak [--short] [--only CHECK …]``: run the soak checks, one line each, then a summary.

Exits 1 if any check failed. Needs root for the disk-full check (it mounts a tmpfs).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from soak.result import summary_table
from soak.runner import CHECKS, run_all
from soak.settings import SoakSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__)
    parser.add_argument("--short", action="store_true", help="The short version make test runs (under a minute).")
    parser.add_argument("--only", nargs="+", choices=list(CHECKS), default=list(CHECKS), help="Run only these checks.")
    parser.add_argument("--load-seconds", type=float, help="How long the load check's clients verify.")
    parser.add_argument("--kills", type=int, help="How many SIGKILLs the crash check sends.")
    parser.add_argument("--workdir", type=Path, help="Where the temporary registries and boxes go (default: /tmp).")
    options = parser.parse_args(argv)
    settings = SoakSettings.short() if options.short else SoakSettings()
    if options.load_seconds is not None:
        settings = replace(settings, load_seconds=options.load_seconds)
    if options.kills is not None:
        settings = replace(settings, kills=options.kills)
    started = time.monotonic()
    print(f"soak ({'short' if options.short else 'full'}): {', '.join(options.only)}", flush=True)
    results = run_all(settings, options.only, lambda line: print(line, flush=True), options.workdir)
    failed = [result.name for result in results if not result.ok]
    minutes = (time.monotonic() - started) / 60
    print(f"\n## Soak results ({'short' if options.short else 'full'} run, {minutes:.1f} min)\n")
    print(summary_table(results))
    print(f"\n{'FAILED: ' + ', '.join(failed) if failed else 'all checks passed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
