"""``make bench``: how Sehat's hot paths compare with the floor beneath each, on this machine.

Every result is a ratio against a baseline measured in the same run, so machines of
different speed give comparable answers:

- verification vs the bare scrypt derivation it cannot avoid (sealing makes the KDF the cost);
- feed protocol 2 at national scale: five issuers, two threads, registry import, segment
  apply and bootstrap at 100k and 1M records, bytes per record (``bench/protocol.py``);
- verification over HTTP (waitress) vs the same verification called in-process;
- a bulk file over HTTP vs the same verifications called in-process;
- reading QR photos vs pyzbar and zxing-cpp alone (``bench/scanning.py``).

Writes BENCHMARKS.md (or ``--out``).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import requests

from appliance import create_app
from appliance.datadir import DataDir
from appliance.replica import Replica
from appliance.store import close_stores
from appliance.verification import Verifier
from bench import http_load, protocol, scanning
from data.generator import generate_graduates, write_csv
from registry.config import RegistryConfig
from registry.publisher import Publisher
from registry.registry import Registry
from tests.support.servers import serving
from verifier.head import verify_head
from verifier.sealing import KdfParams, derive_record_keys

REPEATS = 3


def best_of(action: Callable[[], object], repeats: int = REPEATS) -> float:
    """The fastest of ``repeats`` runs, in seconds (the least disturbed by the rest of the machine)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def graduates_csv(count: int, seed: int) -> bytes:
    out = io.StringIO()
    write_csv(generate_graduates(count, seed), out)
    return out.getvalue().encode("utf-8")


class Fixture:
    """A registry of ``records`` at sealing cost ``kdf``, published, and a box synced from a bundle."""

    def __init__(self, root: Path, records: int, kdf: KdfParams) -> None:
        self.now = datetime.now(UTC)
        self.registry = Registry.init(
            root / "registry", "bench", self.now, kdf=kdf, root_key_path=root / "offline" / "root.pem"
        )
        self.codes = [code for _, code in self.registry.import_csv(graduates_csv(records, 1), self.now)]
        self.publisher = Publisher(self.registry, RegistryConfig(max_segment_changes=10_000))
        self.feed = root / "feed"
        self.publisher.publish(self.feed, self.now)
        self.datadir = DataDir(root / "box")
        Replica.create(self.datadir, [self.registry.trust_anchor()], {}).close()
        self.head_bytes = (self.feed / "head.json").read_bytes()
        self.head = verify_head(self.head_bytes, self.registry.trust_anchor(), self.now)

    def fill(self, replica: Replica) -> None:
        """Bring ``replica`` to the feed's state from its snapshot, as a new box would."""
        snapshot, catalogue = self.head.snapshot, self.head.catalogue
        assert snapshot is not None and catalogue is not None
        replica.accept_head("bench", self.head, self.head_bytes, None)
        replica.store_catalogue("bench", (self.feed / catalogue.path).read_bytes(), catalogue.sha256)
        replica.bootstrap("bench", snapshot, protocol.feed_rows(self.feed, self.head), self.head)


def bench_verification(root: Path) -> tuple[float, float]:
    """Verifications per second at the default sealing cost, vs bare derivations per second."""
    fixture = Fixture(root / "verify", 300, KdfParams())
    with Replica.open(fixture.datadir) as replica:
        fixture.fill(replica)
        verifier = Verifier(replica, lambda: fixture.now)
        sample = fixture.codes[:40]
        verify = best_of(lambda: [verifier.verify(code) for code in sample])
        derive = best_of(lambda: [derive_record_keys(code, "bench", KdfParams()) for code in sample])
    fixture.registry.close()
    return len(sample) / verify, len(sample) / derive


def bench_http(root: Path) -> tuple[float, float, float, float]:
    """Verifications per second over HTTP and in-process; bulk rows per second likewise (cheap KDF)."""
    fixture = Fixture(root / "http", 2_000, KdfParams(log2_n=1))
    with Replica.open(fixture.datadir) as replica:
        fixture.fill(replica)
        verifier = Verifier(replica, lambda: fixture.now)
        sample = fixture.codes[:300]
        direct = len(sample) / best_of(lambda: [verifier.verify(code) for code in sample])
        bulk_rows = fixture.codes * 5
        direct_bulk = len(bulk_rows) / best_of(lambda: [verifier.verify(code) for code in bulk_rows])
    # The web path's cost is measured here, not the quotas: anonymous files allowed, limits out of the way.
    app = create_app(
        {
            "datadir": fixture.datadir.path,
            "anonymous_rate_limit": "1000000 per minute",
            "anonymous_bulk_max_rows": 200_000,
            "anonymous_file_rate_limit": "100000000 per hour",
        }
    )
    body = ("code\n" + "\n".join(bulk_rows) + "\n").encode()
    with serving(app) as base, requests.Session() as session:

        def over_http() -> None:
            for code in sample:
                assert session.post(f"{base}/api/v1/verify", json={"code": code}, timeout=30).status_code == 200

        def bulk() -> None:
            answer = session.post(f"{base}/api/v1/verify/bulk", data=body, timeout=300)
            assert answer.text.count("\n") == len(bulk_rows) + 1

        http = len(sample) / best_of(over_http)
        http_bulk = len(bulk_rows) / best_of(bulk)
    close_stores(app)
    fixture.registry.close()
    return http, direct, http_bulk, direct_bulk


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", default="BENCHMARKS.md")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sehat-bench-") as folder:
        root = Path(folder)
        verify_rate, derive_rate = bench_verification(root)
        http_rate, direct_rate, bulk_rate, direct_bulk_rate = bench_http(root)
    rows = [
        ("verification, default sealing cost (scrypt 2^14)", "bare scrypt derivation", verify_rate, derive_rate, "/s"),
        (
            "POST /api/v1/verify over waitress (cheap KDF)",
            "the same verification in-process",
            http_rate,
            direct_rate,
            "/s",
        ),
        (
            "bulk file over waitress (cheap KDF)",
            "the same verifications in-process",
            bulk_rate,
            direct_bulk_rate,
            "rows/s",
        ),
    ]
    lines = [
        "# Benchmarks",
        "",
        "Made by `make bench` (`bench/run.py`). Each line compares a path of Sehat with the floor beneath it,",
        f"measured in the same run (best of {REPEATS}); the ratio is what travels between machines.",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}.",
        "",
        "| path | baseline | path rate | baseline rate | ratio (path / baseline) |",
        "|---|---|---|---|---|",
    ]
    for name, baseline, rate, base_rate, unit in rows:
        lines.append(f"| {name} | {baseline} | {rate:,.0f} {unit} | {base_rate:,.0f} {unit} | {rate / base_rate:.2f} |")
    lines += [
        "",
        "Reading them:",
        "",
        "- Verification at the default cost runs at nearly the rate of the bare KDF: sealing makes each guess",
        "  (and each honest lookup) cost one scrypt derivation, and everything else — normalising, the",
        "  encrypted lookup, opening the box, the verdict — is small beside it.",
        "- Over HTTP, each request adds the web stack (waitress, Flask, rate limiting) and, above all, the",
        "  audit log's durable write: every verification is committed with an fsync before it is answered,",
        "  so that no answered verification can be missing from the log after a power cut. At the default",
        "  sealing cost this overhead is small beside the KDF; bulk files amortise the audit writes in batches.",
    ]
    lines += protocol.section()
    lines += scanning.section()
    lines += http_load.section()
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
