"""Every tunable of the soak in one place: durations, client counts, sizes, kill counts.

The defaults are the full run of ``make soak`` (about 15–20 minutes on a 2-core machine);
``SoakSettings.short()`` is the version ``make test`` runs in under a minute.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class SoakSettings:
    # --- 1. load with change -----------------------------------------------------------------
    load_seconds: float = 60.0  # how long the clients verify
    load_clients: int = 64  # concurrent verifying clients, each its own keep-alive connection
    load_records: int = 4000  # records the box holds before the run
    load_revocations: int = 2000  # codes revoked in the delta published mid-run
    load_new_records: int = 2000  # records added in that delta
    load_exports: int = 3  # operator audit exports (/admin/audit.csv) during the run
    # --- 2. attacks, with a probe verifying every probe_interval ----------------------------
    probe_interval: float = 0.1  # seconds between the probe's verifications
    probe_limit: float = 1.0  # the slowest acceptable answer to the probe; seconds
    attack_records: int = 2000  # records the attacked box holds
    flood_seconds: float = 20.0  # how long the bulk flood lasts
    flood_clients: int = 6  # flooding clients, half with an API key
    flood_rows: int = 5000  # rows in each flooded file
    oracle_guesses: int = 300  # national-ID guesses for one code
    idle_connections: int = 200  # TCP connections opened and left silent
    slowloris_connections: int = 20  # connections dribbling their headers a byte at a time
    non_reading_clients: int = 4  # clients sending a bulk request and never reading the answer
    slow_seconds: float = 30.0  # how long the slow and silent clients are held
    lockout_attempts: int = 200  # wrong passwords for the admin from one address
    # --- 3. crash ----------------------------------------------------------------------------
    kills: int = 500  # SIGKILLs of `sehat sync once`
    kills_per_box: int = 100  # a fresh registry and box after this many kills, so rows stay few
    crash_batch: int = 800  # records added per round (revocations: a quarter of that)
    crash_segment_changes: int = 40  # changes per feed segment: many transactions to interrupt
    # --- 4. disk full ------------------------------------------------------------------------
    disk_bytes: int = 48 << 20  # size of the box's small file system
    disk_records: int = 2000  # records the box holds before the disk fills
    disk_delta_records: int = 3000  # records each delta adds, synced onto the full disk
    disk_headrooms: tuple[float, ...] = (0.0, 0.1, 0.5, 1.0, 2.0)  # free space left, in deltas' feed bytes
    disk_audit_headroom: int = 128 << 10  # free space left for the verification flood: some fit, then none; bytes
    disk_verifications: int = 1000  # verifications sent while the disk is full (and again after)

    @classmethod
    def short(cls) -> SoakSettings:
        """The version for ``make test``: every check once, small, in well under a minute in all."""
        return replace(
            cls(),
            load_seconds=5.0,
            load_clients=8,
            load_records=600,
            load_revocations=200,
            load_new_records=200,
            load_exports=1,
            attack_records=300,
            flood_seconds=2.0,
            flood_clients=4,
            flood_rows=1000,
            oracle_guesses=30,
            idle_connections=200,
            slowloris_connections=5,
            non_reading_clients=2,
            slow_seconds=2.0,
            lockout_attempts=25,
            kills=10,
            kills_per_box=10,
            crash_batch=600,
            disk_bytes=16 << 20,
            disk_records=300,
            disk_delta_records=600,
            disk_headrooms=(0.0, 0.5),
            disk_verifications=150,
        )
