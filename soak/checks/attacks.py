"""2. Attacks replayed while a probe, like the next person at the kiosk, verifies every 100 ms.

The probe opens a new connection for each verification (a new visitor does) from its own
address; each answer must be a 200 verdict within ``probe_limit`` seconds, throughout
every attack. The attacks, one after another, each with its own verdict:

- bulk flood: clients post large files at once, without a key (refused: 403, or 429) and
  with one (checked one file at a time: 200 whole, or 503 busy, or 429 over the key's rows);
- national-ID oracle: many ID guesses for one code through every channel that may carry
  one; the answers that compared the ID (``national_id_match`` not null) must be at most
  the box's per-code limit;
- slow and silent clients: idle TCP connections, slowloris headers, bulk requests whose
  answer is never read;
- lockout: a flood of wrong passwords for the admin from one address while the real admin,
  from another, must still log in.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from appliance.config import ApplianceConfig
from appliance.datadir import DataDir
from soak.box import OPERATOR, OPERATOR_PASSWORD, add_key, feed, new_box, publish, serving, sync
from soak.client import HttpClient, Reply, verdict_problem
from soak.result import CheckResult
from soak.settings import SoakSettings
from verifier.national_id import check_digit

# The box's own defaults, but for the anonymous limit per address: the probe, alone on its
# address, asks 10 times a second (600 a minute), more than the default allows one person.
ATTACK_SETTINGS = {"anonymous_rate_limit": "1200 per minute"}


@dataclass
class Probe:
    """Verifies one valid code every ``interval`` on a fresh connection; keeps what each phase saw."""

    base_url: str
    code: str
    interval: float
    limit: float
    phase: str = "warm-up"
    seen: dict[str, list[tuple[float, str | None]]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="probe", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        client = HttpClient(self.base_url, source="127.0.0.9", timeout=10, keep_alive=False)
        while not self._stop.is_set():
            phase = self.phase
            started = time.perf_counter()
            problem: str | None
            try:
                reply = client.request("GET", f"/api/v1/verify/{self.code}")
                problem = verdict_problem(reply)
            except OSError as error:
                problem = f"connection failed: {error}"
            seconds = time.perf_counter() - started
            if problem is None and seconds > self.limit:
                problem = f"answered in {seconds:.2f} s, over {self.limit:.1f} s"
            self.seen.setdefault(phase, []).append((seconds, problem))
            self._stop.wait(max(0.0, self.interval - seconds))

    def judge(self, phase: str, result: CheckResult) -> str:
        """Add the probe's cases and failures in ``phase`` to ``result``; return its worst figure."""
        seen = self.seen.get(phase, [])
        for _, problem in seen:
            result.cases += 1
            if problem is not None:
                result.fail(f"probe: {problem}")
        if not seen:
            result.fail(f"probe: no verification was answered during {phase}")
        worst = max((seconds for seconds, _ in seen), default=0.0)
        return f"probe max {worst * 1000:.0f} ms over {len(seen)} checks"


def run(settings: SoakSettings, workdir: Path) -> list[CheckResult]:
    simulator = feed(workdir / "attacks")
    try:
        codes = simulator.add_records(settings.attack_records)
        publish(simulator)
        datadir = new_box(workdir / "attacks" / "box", simulator)
        code, _, output = sync(datadir)
        if code != 0:
            failed = CheckResult("attacks")
            failed.fail(f"the box's sync failed: {output}")
            return [failed]
        target = codes[1]
        holder_id = simulator.registry.lookup(target).national_id
        with serving(datadir, workdir / "attacks" / "serve.log", ATTACK_SETTINGS) as base_url:
            probe = Probe(base_url, codes[0], settings.probe_interval, settings.probe_limit)
            thread = probe.start()
            time.sleep(1.0)
            try:
                attacks: list[tuple[str, Callable[[CheckResult], str]]] = [
                    ("attack_bulk_flood", lambda r: bulk_flood(base_url, datadir, codes, settings, r)),
                    ("attack_nid_oracle", lambda r: oracle(base_url, datadir, target, holder_id, settings, r)),
                    ("attack_slow_clients", lambda r: slow_clients(base_url, datadir, codes, settings, r)),
                    ("attack_lockout", lambda r: lockout(base_url, settings, r)),
                ]
                results = []
                for name, attack in attacks:
                    result = CheckResult(name)
                    probe.phase = name
                    figure = attack(result)
                    time.sleep(0.5)  # the box's recovery counts too
                    probe.phase = "between"
                    result.worst = f"{probe.judge(name, result)}; {figure}"
                    results.append(result)
            finally:
                probe.stop()
                thread.join(timeout=15)
        return results
    finally:
        simulator.close()


def _csv(codes: list[str], rows: int, national_ids: list[str] | None = None) -> bytes:
    if national_ids is not None:
        lines = ["code,national_id", *(f"{codes[i % len(codes)]},{national_ids[i]}" for i in range(rows))]
    else:
        lines = ["code", *(codes[i % len(codes)] for i in range(rows))]
    return ("\n".join(lines) + "\n").encode()


def bulk_flood(base_url: str, datadir: DataDir, codes: list[str], settings: SoakSettings, result: CheckResult) -> str:
    body = _csv(codes, settings.flood_rows)
    deadline = time.monotonic() + settings.flood_seconds
    lock = threading.Lock()
    statuses: dict[int, int] = {}

    def flooder(index: int) -> None:
        keyed = index % 2 == 1
        headers = {"Content-Type": "text/csv", **(add_key(datadir, f"flood {index}") if keyed else {})}
        allowed = {200, 429, 503} if keyed else {403, 429}
        client = HttpClient(base_url, source=f"127.0.2.{index + 1}", timeout=120)
        while time.monotonic() < deadline:
            problem = None
            try:
                reply = client.request("POST", "/api/v1/verify/bulk", body, headers)
            except OSError as error:
                problem, reply = f"flooder {index}: connection failed: {error}", None
            if reply is not None:
                if reply.status not in allowed:
                    problem = f"flooder {index} ({'keyed' if keyed else 'anonymous'}): HTTP {reply.status}"
                elif reply.status == 200 and (lines := reply.body.count(b"\n")) != settings.flood_rows + 1:
                    problem = f"flooder {index}: a bulk answer of {lines} lines, not whole"
            with lock:
                result.cases += 1
                if reply is not None:
                    statuses[reply.status] = statuses.get(reply.status, 0) + 1
                if problem:
                    result.fail(problem)
        client.close()

    _run_all(flooder, settings.flood_clients)
    answered = ", ".join(f"{status}×{count}" for status, count in sorted(statuses.items()))
    return f"{settings.flood_clients} flooders of {settings.flood_rows}-row files: {answered}"


def _national_ids(count: int, rng: random.Random, not_this: str) -> list[str]:
    found: list[str] = []
    while len(found) < count:
        first_nine = f"{rng.randrange(10**9):09d}"
        candidate = f"{first_nine}{check_digit(first_nine)}"
        if candidate != not_this and len(set(candidate)) > 1:
            found.append(candidate)
    return found


def oracle(
    base_url: str, datadir: DataDir, code: str, holder_id: str, settings: SoakSettings, result: CheckResult
) -> str:
    """Guess the holder's national ID through every channel; count the answers that compared it."""
    limit = ApplianceConfig.from_environment().national_id_checks_per_code
    guesses = _national_ids(settings.oracle_guesses, random.Random(5), holder_id)
    guesses[len(guesses) // 2] = holder_id  # the right guess, once the limit is long used up
    guesses[-1] = holder_id
    askers = [
        (HttpClient(base_url, source="127.0.4.1"), add_key(datadir, "oracle 1", national_id_checks=True)),
        (HttpClient(base_url, source="127.0.4.2"), add_key(datadir, "oracle 2", national_id_checks=True)),
        (HttpClient(base_url, source="127.0.4.3"), add_key(datadir, "oracle 3")),
        (HttpClient(base_url, source="127.0.4.4"), {}),
    ]
    compared = 0
    matched = 0
    for index, guess in enumerate(guesses):
        client, headers = askers[index % len(askers)]
        try:
            reply = client.verify(code, guess, headers)
        except OSError as error:
            result.cases += 1
            result.fail(f"oracle: connection failed: {error}")
            continue
        compared_now, problem = _compared(reply)
        result.cases += 1
        compared += compared_now
        matched += compared_now if guess == holder_id else 0
        if problem:
            result.fail(f"oracle guess {index}: {problem}")
    # And in files, where a national-ID column carries many guesses at once.
    bulk_client = HttpClient(base_url, source="127.0.4.5", timeout=60)
    bulk_headers = {"Content-Type": "text/csv", "Accept": "application/json"}
    bulk_headers.update(add_key(datadir, "oracle files", national_id_checks=True))
    file_guesses = [*_national_ids(49, random.Random(6), holder_id), holder_id]
    reply = bulk_client.request(
        "POST", "/api/v1/verify/bulk", _csv([code], len(file_guesses), file_guesses), bulk_headers
    )
    result.cases += 1
    if reply.status != 200:
        result.fail(f"oracle file: HTTP {reply.status}")
    else:
        for row in reply.json()["results"]:
            holder = row["verdict"].get("holder") or {}
            compared += holder.get("national_id_match") is not None
    for client, _ in askers:
        client.close()
    bulk_client.close()
    if compared > limit:
        result.fail(f"the attacker had {compared} national IDs compared for one code; the limit is {limit}")
    total = len(guesses) + len(file_guesses)
    return f"{compared} of {total} guesses compared (limit {limit}, the right one confirmed {matched}×)"


def _compared(reply: Reply) -> tuple[int, str | None]:
    if reply.status == 429:
        return 0, None  # refused outright: nothing compared
    problem = verdict_problem(reply)
    if problem:
        return 0, problem
    holder = reply.json().get("holder") or {}
    return int(holder.get("national_id_match") is not None), None


def slow_clients(base_url: str, datadir: DataDir, codes: list[str], settings: SoakSettings, result: CheckResult) -> str:
    """Hold idle, slowloris and non-reading connections open for ``slow_seconds``."""
    host, port = "127.0.0.1", int(base_url.rsplit(":", 1)[1])
    held: list[socket.socket] = []
    stop = threading.Event()

    def connect(source: str, receive_buffer: int | None = None) -> socket.socket | None:
        sock = socket.socket()
        if receive_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.settimeout(5)
        try:
            sock.bind((source, 0))
            sock.connect((host, port))
        except OSError as error:
            result.fail(f"could not open a connection from {source}: {error}")
            sock.close()
            return None
        held.append(sock)
        return sock

    for index in range(settings.idle_connections):
        result.cases += 1
        connect(f"127.0.5.{index % 250 + 1}")
    dribblers = []
    for index in range(settings.slowloris_connections):
        result.cases += 1
        sock = connect(f"127.0.6.{index % 250 + 1}")
        if sock is not None:
            dribblers.append(sock)
    for sock in dribblers:
        with suppress(OSError):
            sock.sendall(f"GET /api/v1/verify/{codes[0]} HTTP/1.1\r\nHost: {host}\r\n".encode())

    def dribble() -> None:
        while not stop.wait(1.0):
            for sock in dribblers:
                with suppress(OSError):
                    sock.sendall(b"X-Slow: a\r\n")

    dribbling = threading.Thread(target=dribble, daemon=True)
    dribbling.start()
    body = _csv(codes, settings.flood_rows)
    for index in range(settings.non_reading_clients):
        result.cases += 1
        headers = add_key(datadir, f"non-reader {index}")
        sock = connect(f"127.0.7.{index + 1}", receive_buffer=4096)
        if sock is None:
            continue
        request = (
            f"POST /api/v1/verify/bulk HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/csv\r\n"
            f"Accept: application/json\r\nAuthorization: {headers['Authorization']}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        with suppress(OSError):
            sock.sendall(request + body)
    time.sleep(settings.slow_seconds)
    stop.set()
    dribbling.join(timeout=5)
    for sock in held:
        sock.close()
    return (
        f"{settings.idle_connections} idle, {settings.slowloris_connections} slowloris, "
        f"{settings.non_reading_clients} non-reading held {settings.slow_seconds:.0f} s"
    )


def lockout(base_url: str, settings: SoakSettings, result: CheckResult) -> str:
    """Wrong passwords for the admin from one address; the real admin logs in from another, during and after."""
    attacker = HttpClient(base_url, source="127.0.8.1")
    statuses: dict[int, int] = {}
    admin_seconds: list[float] = []

    def real_admin(when: str) -> None:
        admin = HttpClient(base_url, source="127.0.8.2")
        result.cases += 1
        try:
            login = admin.log_in(OPERATOR, OPERATOR_PASSWORD)
            page = admin.request("GET", "/admin/")
        except OSError as error:
            result.fail(f"the real admin ({when}): connection failed: {error}")
            return
        finally:
            admin.close()
        admin_seconds.append(login.seconds)
        if login.status != 302 or page.status != 200:
            result.fail(f"the real admin was kept out {when}: login {login.status}, dashboard {page.status}")

    for attempt in range(settings.lockout_attempts):
        try:
            reply = attacker.log_in(OPERATOR, f"wrong password {attempt}")
        except OSError as error:
            result.cases += 1
            result.fail(f"attacker: connection failed: {error}")
            continue
        result.cases += 1
        statuses[reply.status] = statuses.get(reply.status, 0) + 1
        if reply.status not in (401, 429):
            result.fail(f"a wrong password answered {reply.status}")
        if attempt == settings.lockout_attempts // 2:
            real_admin("during the flood")
    real_admin("after the flood")
    attacker.close()
    answered = ", ".join(f"{status}×{count}" for status, count in sorted(statuses.items()))
    worst_admin = max(admin_seconds, default=0.0)
    attempts = settings.lockout_attempts
    return f"{attempts} wrong passwords ({answered}); real admin's slowest login {worst_admin * 1000:.0f} ms"


def _run_all(target: Callable[[int], None], count: int) -> None:
    threads = [threading.Thread(target=target, args=(index,), daemon=True) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
