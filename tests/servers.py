"""Real ``parlay api`` processes for the tests that need a live server: started on a free
loopback port with a clean ``PARLAY_*`` environment, waited for, and stopped."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRET_KEY

PARLAY = Path(sys.executable).with_name("parlay")
STARTUP_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


def start_api(
    name: str,
    tmp: Path,
    database_url: str,
    *,
    command: str = "api",
    **settings: object,
) -> Server:
    """``parlay api`` (or ``command``: ``serve`` runs the dispatcher too, ``serve --demo`` the
    demo) with the test secret key and ``PARLAY_<NAME>`` set from ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLAY_")}
    env["PARLAY_DATABASE_URL"] = database_url
    env["PARLAY_SECRET_KEY"] = TEST_SECRET_KEY
    for key, value in settings.items():
        env[f"PARLAY_{key.upper()}"] = str(value)
    port = free_port()
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(PARLAY), *command.split(), "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Server(name, process, port, log)


def wait_ready(servers: list[Server]) -> None:
    """Until each answers ``/readyz``; fails the test with the log of any that exits or lags."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    waiting = list(servers)
    with httpx.Client(timeout=1.0) as client:
        while waiting:
            for server in list(waiting):
                if server.process.poll() is not None:
                    pytest.fail(f"{server.name} exited at start:\n{server.log_tail()}")
                try:
                    if client.get(f"{server.url}/readyz").status_code == 200:
                        waiting.remove(server)
                except httpx.TransportError:
                    pass
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {s.name}\n{s.log_tail()}" for s in waiting)
                pytest.fail(f"not ready after {STARTUP_TIMEOUT}s:\n{tails}")
            if waiting:
                time.sleep(0.1)


def stop(servers: list[Server]) -> None:
    for server in servers:
        if server.process.poll() is None:
            server.process.terminate()
    for server in servers:
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
