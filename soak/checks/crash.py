"""3. Crash: ``sehat sync once`` SIGKILLed at random instants, many times, across many segments.

The approach of tests/test_sync_crash.py, longer. After every kill the replica, opened as
a restarted box would, must pass ``PRAGMA quick_check``, sit at a whole seq the feed has
a boundary at (a segment's end or a snapshot), with exactly the state digest the registry
had at that seq and as many rows as it says; every sync that was not killed must finish
(exit 0), and after each box's last kill one more sync must bring it to the registry's head.
Every ``kills_per_box`` kills a fresh registry and box start, so the rows stay few and
each check stays quick however many kills are asked for.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

from appliance.datadir import DataDir
from appliance.replica import Replica
from registry.config import RegistryConfig
from soak.box import feed, new_box, publish, sehat_command, sync
from soak.result import CheckResult
from soak.settings import SoakSettings
from tests.support.simulator import FeedSimulator
from verifier.digest import StateDigest


class ExpectedDigests:
    """The registry's state digest at every seq a replica may stop at, kept up to date incrementally."""

    def __init__(self, simulator: FeedSimulator) -> None:
        self.simulator = simulator
        self.rows: dict[bytes, bytes] = {}
        self.state = StateDigest(simulator.issuer)
        self.upto = 0
        self.at: dict[int, str] = {0: StateDigest(simulator.issuer).hexdigest()}

    def boundaries(self) -> set[int]:
        connection = self.simulator.registry.connection
        segments = {row[0] for row in connection.execute("SELECT last_seq FROM segments")}
        snapshots = {row[0] for row in connection.execute("SELECT seq FROM snapshots")}
        return {0} | segments | snapshots

    def catch_up(self) -> None:
        """Replay the changes published since the last call (call after each publish)."""
        boundaries = self.boundaries()
        for seq, lookup_id, box in self.simulator.registry.store.iter_changes(self.upto):
            key = bytes(lookup_id)
            self.state.replace(key, self.rows.get(key), bytes(box))
            self.rows[key] = bytes(box)
            self.upto = seq
            if seq in boundaries:
                self.at[seq] = self.state.hexdigest()


def whole_problem(datadir: DataDir, expected: ExpectedDigests) -> tuple[int | None, str | None]:
    """Open the replica as a restarted box would: its seq, or why it is not whole."""
    issuer = expected.simulator.issuer
    try:
        with Replica.open(datadir) as replica:
            check = replica.connection.execute("PRAGMA quick_check").fetchone()[0]
            state = replica.issuer_state(issuer)
            digest, rows = replica.compute_digest(issuer)
    except Exception as error:  # any failure to open is the finding
        return None, f"the replica does not open: {error}"
    if check != "ok":
        return state.seq, f"quick_check: {check}"
    if state.seq not in expected.at:
        return state.seq, f"seq {state.seq} is not a boundary of the feed"
    if digest != expected.at[state.seq]:
        return state.seq, f"the digest at seq {state.seq} is not the registry's"
    if rows != state.records:
        return state.seq, f"{rows} rows, but the state says {state.records}"
    current = datadir.current_generation()
    leftovers = set(datadir.generations_on_disk()) - {current - 1, current, current + 1}
    if leftovers:
        return state.seq, f"stray generations on disk: {sorted(leftovers)}"
    return state.seq, None


def run(settings: SoakSettings, workdir: Path) -> CheckResult:
    result = CheckResult("crash_sigkill")
    rng = random.Random(20261123)
    seen: set[tuple[int, int]] = set()
    recoveries: list[float] = []
    box_number = 0
    kills = 0
    started = time.monotonic()
    while kills < settings.kills:
        box_number += 1
        planned = min(settings.kills_per_box, settings.kills - kills)
        kills += _one_box(workdir / f"crash-{box_number}", planned, settings, rng, result, seen, box_number, recoveries)
        if result.failures and result.cases == 0:
            break
    minutes = (time.monotonic() - started) / 60
    result.worst = (
        f"slowest recovering sync {max(recoveries, default=0):.1f} s; {len(seen)} distinct seqs killed at "
        f"over {box_number} boxes; {kills} kills in {minutes:.1f} min"
    )
    if len(seen) < max(1, min(3, settings.kills // 5)):
        result.fail(f"kills landed at only {len(seen)} different points of the apply")
    return result


def _one_box(
    directory: Path,
    planned: int,
    settings: SoakSettings,
    rng: random.Random,
    result: CheckResult,
    seen: set[tuple[int, int]],
    box_number: int,
    recoveries: list[float],
) -> int:
    config = RegistryConfig(max_segment_changes=settings.crash_segment_changes, snapshot_fraction=1e9)
    simulator = feed(directory, config=config)
    try:
        datadir = new_box(directory / "box", simulator)
        expected = ExpectedDigests(simulator)

        def new_round() -> None:
            simulator.add_records(settings.crash_batch)
            simulator.revoke(settings.crash_batch // 4)
            publish(simulator)
            expected.catch_up()

        new_round()
        code, _, output = sync(datadir)
        if code != 0:
            result.fail(f"box {box_number}: the first sync failed: {output}")
            return planned
        new_round()
        # Kills are aimed at a delta sync like the ones they interrupt (the first was a bootstrap);
        # some land after it ends, so the box moves on and later kills hit later seqs.
        code, duration, output = sync(datadir)
        if code != 0:
            result.fail(f"box {box_number}: a delta sync failed: {output}")
            return planned
        new_round()
        kills = 0
        while kills < planned:
            seq, problem = whole_problem(datadir, expected)
            if problem is None and seq == simulator.digest()[0]:
                new_round()
            process = subprocess.Popen(
                sehat_command("sync", "once", str(datadir.path)),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(rng.uniform(0.2, 1.3) * duration)
            killed = process.poll() is None
            if killed:
                process.send_signal(signal.SIGKILL)
                kills += 1
            returncode = process.wait()
            seq, problem = whole_problem(datadir, expected)
            result.cases += 1
            if problem is not None:
                result.fail(f"box {box_number}, {'after a kill' if killed else 'after a sync'}: {problem}")
            elif killed:
                seen.add((box_number, seq or 0))
            elif returncode != 0:
                result.fail(f"box {box_number}: a sync that was not killed exited {returncode}")
        code, recovery, output = sync(datadir)
        recoveries.append(recovery)
        seq, problem = whole_problem(datadir, expected)
        result.cases += 1
        if code != 0 or problem is not None or seq != simulator.digest()[0]:
            result.fail(f"box {box_number}: the sync after the last kill did not finish: {code} {problem} {output}")
        return kills
    finally:
        simulator.close()
