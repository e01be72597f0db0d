"""4. Disk full: the box's data directory on a small file system that fills during a sync and during audit writes.

The box's data directory is a small tmpfs (or, if tmpfs cannot be mounted, a loop-mounted
ext4 image; if neither mounts, the check fails saying why). A filler file takes the space:

- during a sync apply: a delta is published, the disk filled to leave only a fraction of
  the delta's feed bytes free, and ``sehat sync once`` run. It may finish if the space
  was enough; if not it must fail cleanly: the replica whole (quick_check, a boundary seq,
  the registry's digest at that seq — as in the crash check), the failure in the sync
  history, and, once the filler is deleted, the next sync finishing at the head;
- during audit writes: with the disk full, a flood of verifications; each answer is a 200
  verdict or an error in the box's error shape, and every verdict answered has its audit
  entry (entries from that client ≥ verdicts). Once the filler is deleted, verifications
  are answered and audited again, one entry each.

At the end every store passes ``PRAGMA quick_check`` and the audit chain verifies.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from appliance.access import AccessStore
from appliance.audit import AuditLog
from appliance.datadir import DataDir
from appliance.replica import Replica
from soak.box import feed, new_box, publish, serving, sync
from soak.checks.crash import ExpectedDigests, whole_problem
from soak.client import HttpClient, error_shape_problem, verdict_problem
from soak.result import CheckResult
from soak.settings import SoakSettings
from tests.support.simulator import FeedSimulator

FILLER = "filler.bin"
# This check is about the disk, not the limiter: a flood from one address must reach the audit log.
NO_RATE_LIMITS = {"anonymous_rate_limit": "100000000 per minute"}
CHUNK = 1 << 20


class MountError(Exception):
    """Neither a tmpfs nor a loop-mounted image could be mounted."""


@contextmanager
def small_disk(mount_point: Path, size: int) -> Iterator[str]:
    """A file system of ``size`` bytes at ``mount_point``; yields what it is (tmpfs or ext4 image)."""
    mount_point.mkdir(parents=True, exist_ok=True)
    attempts: list[str] = []
    tmpfs = ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mount_point)]
    done = subprocess.run(tmpfs, capture_output=True, text=True, check=False)
    kind = "tmpfs"
    if done.returncode != 0:
        attempts.append(f"tmpfs: {done.stderr.strip() or done.returncode}")
        image = mount_point.parent / "disk.img"
        kind = "ext4 image"
        steps = [
            ["truncate", "-s", str(size), str(image)],
            ["mkfs.ext4", "-q", "-F", str(image)],
            ["mount", "-o", "loop", str(image), str(mount_point)],
        ]
        for step in steps:
            try:
                done = subprocess.run(step, capture_output=True, text=True, check=False)
            except OSError as error:
                done = subprocess.CompletedProcess(step, 1, "", str(error))
            if done.returncode != 0:
                attempts.append(f"{' '.join(step[:2])}: {done.stderr.strip() or done.returncode}")
                raise MountError("; ".join(attempts))
    try:
        yield kind
    finally:
        if subprocess.run(["umount", str(mount_point)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, check=False)


def fill(directory: Path, leave: int) -> int:
    """Write a filler file until only ``leave`` bytes are free (or none); returns the bytes written."""
    stats = os.statvfs(directory)
    wanted = max(0, stats.f_bavail * stats.f_frsize - leave)
    written = 0
    with (directory / FILLER).open("ab") as filler:
        while written < wanted or leave == 0:
            piece = min(CHUNK, wanted - written) if leave else CHUNK
            try:
                written += filler.write(b"\0" * piece)
                filler.flush()
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                break
            if piece == 0:
                break
    return written


def unfill(directory: Path) -> None:
    with suppress(FileNotFoundError):
        (directory / FILLER).unlink()


def run(settings: SoakSettings, workdir: Path) -> CheckResult:
    result = CheckResult("disk_full")
    mount_point = workdir / "disk" / "mnt"
    try:
        with small_disk(mount_point, settings.disk_bytes) as kind:
            figure = _exercise(mount_point, kind, settings, workdir, result)
    except MountError as error:
        result.fail(f"no small file system could be mounted (run as root): {error}")
        figure = "not run: nothing could be mounted"
    result.worst = figure
    return result


def _feed_bytes(simulator: FeedSimulator) -> int:
    return sum(path.stat().st_size for path in simulator.feed_dir.rglob("*") if path.is_file())


def _exercise(mount_point: Path, kind: str, settings: SoakSettings, workdir: Path, result: CheckResult) -> str:
    simulator = feed(workdir / "disk")
    try:
        datadir = new_box(mount_point / "box", simulator)
        expected = ExpectedDigests(simulator)
        simulator.add_records(settings.disk_records)
        publish(simulator)
        expected.catch_up()
        code, _, output = sync(datadir)
        if code != 0:
            result.fail(f"the first sync failed: {output}")
            return f"on a {kind}: not run"
        with serving(datadir, workdir / "disk" / "serve.log", NO_RATE_LIMITS) as base_url:
            refused = _sync_onto_full_disk(mount_point, datadir, simulator, expected, settings, result)
            verdicts, errors = _verify_onto_full_disk(mount_point, datadir, base_url, simulator, settings, result)
        _stores_whole(datadir, result)
    finally:
        unfill(mount_point)
        simulator.close()
    megabytes = settings.disk_bytes / (1 << 20)
    return (
        f"{refused} of {len(settings.disk_headrooms)} syncs refused cleanly, all resumed; "
        f"{errors} verifications refused, {verdicts} answered with their audit entry, "
        f"on a full {megabytes:.0f} MiB {kind}"
    )


def _sync_onto_full_disk(
    mount_point: Path,
    datadir: DataDir,
    simulator: FeedSimulator,
    expected: ExpectedDigests,
    settings: SoakSettings,
    result: CheckResult,
) -> int:
    refused = 0
    for headroom in settings.disk_headrooms:
        before = _feed_bytes(simulator)
        simulator.add_records(settings.disk_delta_records)
        publish(simulator)
        expected.catch_up()
        leave = int(headroom * (_feed_bytes(simulator) - before))
        fill(mount_point, leave)
        code, _, output = sync(datadir)
        result.cases += 1
        seq, problem = whole_problem(datadir, expected)
        if problem is not None:
            result.fail(f"after a sync onto a full disk (headroom {headroom:.0%}): {problem}")
        unfill(mount_point)
        if code != 0:
            refused += 1
            with Replica.open(datadir) as replica:
                last = replica.history(1)
            if not last or last[0].outcome == "ok" or last[0].seq_after != seq:
                result.fail(f"a sync refused for want of space left no failure in the history: {last} ({output})")
        code, _, output = sync(datadir)
        seq, problem = whole_problem(datadir, expected)
        result.cases += 1
        if code != 0 or problem is not None or seq != simulator.digest()[0]:
            result.fail(f"the sync once space returned did not finish: exit {code}, {problem}, {output}")
    return refused


def _audited(datadir: DataDir, client: str) -> int:
    with AuditLog.open(datadir) as log:
        text = "".join(log.csv_lines())
    return sum(1 for row in csv.DictReader(io.StringIO(text)) if row["client"] == client and row["channel"] == "api")


def _flood(
    base_url: str, source: str, codes: list[str], count: int, result: CheckResult, full: bool
) -> tuple[int, int]:
    """``count`` verifications from ``source`` on 4 connections; returns (verdicts, refusals)."""
    lock = threading.Lock()
    tally = [0, 0]

    def worker(index: int) -> None:
        client = HttpClient(base_url, source=source)
        for number in range(index, count, 4):
            try:
                reply = client.verify(codes[number % len(codes)])
            except OSError as error:
                with lock:
                    result.cases += 1
                    result.fail(f"{source}: connection failed: {error}")
                continue
            if reply.status == 200:
                problem = verdict_problem(reply)
                outcome = 0
            elif full and reply.status >= 500:
                problem = error_shape_problem(reply)
                outcome = 1
            else:
                problem, outcome = f"HTTP {reply.status}: {reply.body[:200]!r}", 1
            with lock:
                result.cases += 1
                tally[outcome] += 1
                if problem:
                    result.fail(f"{source}, disk {'full' if full else 'freed'}: {problem}")
        client.close()

    threads = [threading.Thread(target=worker, args=(index,), daemon=True) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally[0], tally[1]


def _verify_onto_full_disk(
    mount_point: Path,
    datadir: DataDir,
    base_url: str,
    simulator: FeedSimulator,
    settings: SoakSettings,
    result: CheckResult,
) -> tuple[int, int]:
    codes = simulator.codes()
    fill(mount_point, settings.disk_audit_headroom)
    full_source, freed_source = "127.0.9.1", "127.0.9.2"
    verdicts, refusals = _flood(base_url, full_source, codes, settings.disk_verifications, result, full=True)
    unfill(mount_point)
    audited = _audited(datadir, full_source)
    if audited < verdicts:
        result.fail(f"{verdicts} verdicts answered on a full disk but only {audited} audit entries")
    after, _ = _flood(base_url, freed_source, codes, settings.disk_verifications, result, full=False)
    audited_after = _audited(datadir, freed_source)
    if after != settings.disk_verifications or audited_after != after:
        result.fail(f"once space returned: {after} of {settings.disk_verifications} answered, {audited_after} audited")
    return verdicts, refusals


def _stores_whole(datadir: DataDir, result: CheckResult) -> None:
    result.cases += 1
    with Replica.open(datadir) as replica:
        replica_check = replica.connection.execute("PRAGMA quick_check").fetchone()[0]
    with AuditLog.open(datadir) as log:
        audit_check = log.connection.execute("PRAGMA quick_check").fetchone()[0]
        chain = log.verify()
    with AccessStore.open(datadir) as access:
        access_check = access.connection.execute("PRAGMA quick_check").fetchone()[0]
    for name, check in (("replica", replica_check), ("audit", audit_check), ("access", access_check)):
        if check != "ok":
            result.fail(f"the {name} store: quick_check {check}")
    if not chain.ok:
        result.fail(f"the audit chain does not verify: {chain}")
