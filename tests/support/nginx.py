"""Debian's nginx, run in the foreground by a test with one of the shipped site files.

The site files in ``systemd/`` are used as shipped: a test rewrites only their lines marked
``# test: …`` (listen addresses, the box's address, certificate paths), so what is tested is
what an operator installs. nginx is a system package (scripts/install-system-packages installs
it, as CI does); when it is missing the tests fail, saying so, rather than skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SYSTEMD = Path(__file__).resolve().parent.parent.parent / "systemd"


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        pytest.fail("nginx is not installed: run scripts/install-system-packages (it installs nginx-light)")
    return found


def rewrite_marked(site: Path, replacements: dict[str, str]) -> str:
    """``site`` with each line marked ``# test: MARK…`` replaced by ``replacements[MARK]``, indentation kept.

    Each mark must be on exactly one line, so a site file edited carelessly fails here rather
    than being tested with its production addresses.
    """
    rendered = []
    seen = dict.fromkeys(replacements, 0)
    for line in site.read_text(encoding="utf-8").splitlines():
        for mark, replacement in replacements.items():
            if f"# test: {mark}" in line:
                line = line[: len(line) - len(line.lstrip())] + replacement
                seen[mark] += 1
        rendered.append(line)
    assert set(seen.values()) == {1}, f"each test: line appears once in {site}: {seen}"
    return "\n".join(rendered) + "\n"


def nginx_command(directory: Path) -> list[str]:
    """nginx with the prefix, configuration and error log in ``directory`` (as ``running_nginx`` writes them)."""
    prefix, conf, log = str(directory), str(directory / "nginx.conf"), str(directory / "error.log")
    return [nginx_binary(), "-p", prefix, "-c", conf, "-e", log]


def write_nginx_conf(site_text: str, directory: Path) -> None:
    """An nginx.conf in ``directory`` holding ``site_text`` in its http block, every path inside ``directory``."""
    directory.mkdir()
    (directory / "sehat.conf").write_text(site_text, encoding="utf-8")
    temp = {name: directory / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    # As root, nginx's workers would run as nobody, who cannot enter pytest's 0700 temporary
    # folder to read a file it serves (the CA certificate).
    user = "user root;" if os.geteuid() == 0 else ""
    (directory / "nginx.conf").write_text(
        f"""
daemon off;
{user}
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{ worker_connections 512; }}
http {{
    access_log {directory}/access.log;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {directory}/sehat.conf;
}}
""",
        encoding="utf-8",
    )


@contextmanager
def running_nginx(site_text: str, directory: Path, ports: Iterable[int]) -> Iterator[list[str]]:
    """Run nginx with ``site_text`` in the foreground until every one of ``ports`` accepts; yields its command."""
    write_nginx_conf(site_text, directory)
    command = nginx_command(directory)
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    log = directory / "error.log"
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as process:
        try:
            deadline = time.monotonic() + 10
            for port in ports:
                while True:
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=1).close()
                        break
                    except OSError:
                        assert process.poll() is None, log.read_text(encoding="utf-8", errors="replace")
                        assert time.monotonic() < deadline, "nginx did not start listening"
                        time.sleep(0.05)
            yield command
        finally:
            process.terminate()
            process.wait(timeout=10)
