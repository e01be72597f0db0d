"""An import stopped at any point — an error, a second process, SIGKILL — finishes when run again, never twice."""

from __future__ import annotations

import csv
import io
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from registry import registry as registry_module
from registry.bulk_import import BulkImport, ImportSource
from registry.config import RegistryConfig
from registry.errors import ImportBusyError
from registry.import_ledger import ImportLedger
from registry.registry import MIN_CODE_ENTROPY_BITS, Registry
from sehat.cli import cli
from tests.conftest import FAST_KDF, NOW, graduates_csv, root_key_of
from verifier.records import RecordPayload
from verifier.sealing import derive_record_keys, unseal

SMALL_BATCHES = RegistryConfig(import_batch_rows=10)


class _SealFailure(Exception):
    pass


@pytest.fixture
def count_seals(monkeypatch: pytest.MonkeyPatch) -> Callable[[int | None], list[str]]:
    """``count_seals(fail_at)`` → the codes sealed from now on; the ``fail_at``-th seal raises ``_SealFailure``."""
    original = registry_module.seal_payload
    sealed: list[str] = []

    def install(fail_at: int | None) -> list[str]:
        sealed.clear()

        def counting(code: str, *args: Any) -> tuple[bytes, bytes]:
            sealed.append(code)
            if fail_at is not None and len(sealed) == fail_at:
                raise _SealFailure(code)
            return original(code, *args)

        monkeypatch.setattr(registry_module, "seal_payload", counting)
        return sealed

    return install


def _run(registry: Registry, data: bytes, config: RegistryConfig = SMALL_BATCHES) -> Any:
    source = ImportSource("graduates.csv", lambda: io.BytesIO(data))
    return BulkImport(registry, config, MIN_CODE_ENTROPY_BITS).run(source, NOW, workers=1)


def _assert_one_clean_import(registry: Registry, rows: int) -> None:
    assert registry.store.count_records() == rows
    kinds_and_seqs = registry.connection.execute("SELECT kind, seq FROM changes ORDER BY seq").fetchall()
    assert kinds_and_seqs == [("issue", seq) for seq in range(1, rows + 1)]
    assert registry.state() == registry.digest()
    assert registry.connection.execute("SELECT count(*) FROM import_pending").fetchone()[0] == 0


def test_an_interrupted_import_resumes_without_sealing_committed_rows_again(
    make_registry: Callable[..., Registry], count_seals: Callable[[int | None], list[str]]
) -> None:
    registry = make_registry()
    data = graduates_csv(35)
    count_seals(25)  # fails in the third batch, after two were committed
    with pytest.raises(_SealFailure):
        _run(registry, data)
    assert registry.store.count_records() == 20
    sealed = count_seals(None)
    summary = _run(registry, data)
    assert (summary.resumed_from, summary.imported) == (20, 15)
    assert len(sealed) == 15
    _assert_one_clean_import(registry, 35)
    assert [line for line, _ in registry.import_codes(summary.sha256)] == list(range(2, 37))


def test_an_import_stopped_before_it_was_marked_done_is_finished_without_importing_again(
    make_registry: Callable[..., Registry], monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = make_registry()
    data = graduates_csv(12)
    finish = ImportLedger.finish

    def stopped(self: ImportLedger, sha256: str, finished_at: str) -> None:
        raise _SealFailure("killed before finishing")

    monkeypatch.setattr(ImportLedger, "finish", stopped)
    with pytest.raises(_SealFailure):
        _run(registry, data)
    monkeypatch.setattr(ImportLedger, "finish", finish)
    summary = _run(registry, data)
    assert (summary.resumed_from, summary.imported, summary.repeated) == (12, 0, False)
    assert _run(registry, data).repeated
    _assert_one_clean_import(registry, 12)


def test_supplied_codes_committed_by_the_interrupted_run_are_not_refused_as_already_issued(
    make_registry: Callable[..., Registry], count_seals: Callable[[int | None], list[str]]
) -> None:
    registry = make_registry()
    codes = [f"{random.Random(line).randrange(10**19, 10**20)}" for line in range(30)]
    data = graduates_csv(30)
    lines = data.decode("utf-8").splitlines(keepends=True)
    data = (lines[0] + "".join(code + row for code, row in zip(codes, lines[1:], strict=True))).encode("utf-8")
    count_seals(15)
    with pytest.raises(_SealFailure):
        _run(registry, data)
    summary = _run(registry, data)
    assert summary.resumed_from == 10
    assert [code for _, code in registry.import_codes(summary.sha256)] == codes


def test_a_second_process_importing_the_same_file_stops_rather_than_import_twice(
    make_registry: Callable[..., Registry],
) -> None:
    registry = make_registry()
    data = graduates_csv(40)
    other = Registry.open(registry.directory)
    finished_by_other: list[int] = []

    def meanwhile(progress: Any) -> None:
        if progress.phase == "sealing" and progress.rows == 10 and not finished_by_other:
            finished_by_other.append(_run(other, data).imported)

    source = ImportSource("graduates.csv", lambda: io.BytesIO(data))
    try:
        with pytest.raises(ImportBusyError):
            BulkImport(registry, SMALL_BATCHES, MIN_CODE_ENTROPY_BITS).run(source, NOW, on_progress=meanwhile)
    finally:
        other.close()
    assert finished_by_other == [30]
    _assert_one_clean_import(registry, 40)


def test_the_cli_says_it_resumes_and_says_a_finished_file_was_already_imported(
    make_registry: Callable[..., Registry], count_seals: Callable[[int | None], list[str]], tmp_path: Path
) -> None:
    registry = make_registry()
    source = tmp_path / "graduates.csv"
    source.write_bytes(graduates_csv(25))
    count_seals(15)
    with pytest.raises(_SealFailure):
        registry.import_file(source, NOW, workers=1, config=SMALL_BATCHES)
    registry.close()
    count_seals(None)
    runner = CliRunner()
    resumed = runner.invoke(cli, ["registry", "import", str(registry.directory), str(source)])
    assert resumed.exit_code == 0, resumed.output
    assert f"Resuming the import of {source}: 10 of 25 rows were already imported." in resumed.stderr
    assert "Imported 15 records (and 10 in an interrupted earlier run)" in resumed.stderr
    repeated = runner.invoke(cli, ["registry", "import", str(registry.directory), str(source)])
    assert repeated.exit_code == 0, repeated.output
    assert "was already imported (25 records" in repeated.stderr
    assert repeated.stdout == resumed.stdout
    assert len(repeated.stdout.splitlines()) == 26


# --- the real thing: SIGKILL at random points ---------------------------------------------------------

KILL_ROWS = 20_000


def _kill_test_file(path: Path) -> list[dict[str, str]]:
    """20,000 graduates, every tenth with a code of its own; returns the rows as read back."""
    rng = random.Random(20261125)
    text = graduates_csv(KILL_ROWS, seed=11).decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    for number, row in enumerate(rows):
        if number % 10 == 0:
            row["code"] = str(rng.randrange(10**19, 10**20))
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return rows


def _import_command(directory: Path, source: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "sehat", "registry", "import", str(directory), str(source), "--codes-out", str(out)]


@pytest.mark.slow
def test_an_import_killed_again_and_again_ends_with_the_rows_of_one_clean_import(tmp_path: Path) -> None:
    directory = tmp_path / "registry"
    Registry.init(directory, "killtest", NOW, kdf=FAST_KDF, root_key_path=root_key_of(directory)).close()
    source, out = tmp_path / "graduates.csv", tmp_path / "codes.csv"
    rows = _kill_test_file(source)
    rng = random.Random(7)
    interrupted_at: list[int] = []
    for attempt in range(5):
        process = subprocess.Popen(_import_command(directory, source, out), stderr=subprocess.PIPE, text=True)
        assert process.stderr is not None
        if attempt == 0:  # while starting or checking: nothing committed yet
            time.sleep(rng.uniform(0.2, 1.2))
        else:  # while sealing: a random moment after a batch was committed
            for line in process.stderr:
                if line.startswith("Imported "):
                    break
            time.sleep(rng.uniform(0.0, 0.6))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
        process.stderr.close()
        with Registry.open(directory) as registry:
            interrupted_at.append(registry.store.count_records())
    assert any(0 < count < KILL_ROWS for count in interrupted_at), interrupted_at
    finished = subprocess.run(_import_command(directory, source, out), capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr

    codes = [line.split(",") for line in out.read_text().splitlines()[1:]]
    assert [int(line) for line, _ in codes] == list(range(2, KILL_ROWS + 2))
    assert len({code for _, code in codes}) == KILL_ROWS
    with Registry.open(directory) as registry:
        _assert_one_clean_import(registry, KILL_ROWS)
        catalogue = registry.catalogue()
        for line, code in codes:
            supplied = rows[int(line) - 2]["code"]
            assert code == supplied or not supplied
        for line, code in random.Random(3).sample(codes, 300):
            record = registry.lookup(code)
            keys = derive_record_keys(code, registry.issuer, FAST_KDF)
            assert keys.lookup_id == record.lookup_id
            payload = RecordPayload.from_bytes(unseal(record.box, keys, registry.issuer), catalogue)
            expected = rows[int(line) - 2]
            assert (payload.holder_name, payload.national_id) == (expected["full_name"], expected["national_id"])


# --- memory: the file is streamed, never held ---------------------------------------------------------

_MEASURE = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from registry.registry import Registry

def peak_kib():  # VmHWM is the process's own: unlike ru_maxrss, it does not start at the forking parent's size
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])

quarter = []

def note(progress):
    if progress.phase == "sealing" and progress.total and progress.rows >= progress.total // 4 and not quarter:
        quarter.append(peak_kib())

with Registry.open(Path(sys.argv[1])) as registry:
    registry.import_file(Path(sys.argv[2]), datetime(2026, 11, 23, tzinfo=UTC), on_progress=note)
    print(quarter[0], peak_kib())
"""


def _peak_rss_kib(tmp_path: Path, rows: int) -> tuple[int, int]:
    """Peak resident memory (KiB) of a fresh process importing ``rows`` rows: a quarter of the way, and at the end."""
    directory = tmp_path / f"registry-{rows}"
    Registry.init(directory, "memtest", NOW, kdf=FAST_KDF, root_key_path=root_key_of(directory)).close()
    source = tmp_path / f"graduates-{rows}.csv"
    with source.open("wb") as handle:
        for chunk in _graduate_chunks(rows):
            handle.write(chunk)
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(directory), str(source)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    quarter, end = result.stdout.split()
    return int(quarter), int(end)


def _graduate_chunks(rows: int, per_chunk: int = 2_000) -> Iterator[bytes]:
    for start in range(0, rows, per_chunk):
        chunk = graduates_csv(min(per_chunk, rows - start), seed=start)
        yield chunk if start == 0 else chunk.split(b"\n", 1)[1]  # one header


# SQLCipher's page cache (cache_size -8000: 8,000 KiB per connection) fills over the first ~10,000
# rows and then stays full: a bounded cost the 2,000-row import does not reach.
PAGE_CACHE_KIB = 8_000


@pytest.mark.slow
def test_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    _, small = _peak_rss_kib(tmp_path, 2_000)
    quarter, big = _peak_rss_kib(tmp_path, 40_000)
    assert big <= 1.3 * small + PAGE_CACHE_KIB, (small, big)
    # Sharper: the last 30,000 rows add nothing (as objects they would take tens of MiB).
    assert big - quarter <= 2_048, (quarter, big)
