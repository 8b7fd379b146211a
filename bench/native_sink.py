"""Dispatch in-app pushes against a native HTTP/2 sink standing in for APNs: ≥ 5,000/s,
printed beside ``h2load`` against the same sink in the same run (the box's HTTP/2 limit).

The sink is ``nghttpd`` (Debian's ``nghttp2-server``; written in C, one thread) over TLS. It
serves files, and it answers a ``POST`` to a file's path with 200 and the file: so its document
root holds one empty file per device token at APNs' path, ``/3/device/<token>``. (Its
``--echo-upload`` would answer any path, but it stores each upload in a temporary file first and
ran at a thirtieth of the rate; a path without a file gets 404.) The certificate is issued by a
throw-away CA (``trustme``), which the worker trusts through ``PARLAY_PROVIDER_CA_BUNDLE``; the
app's APNs ``endpoint`` is the sink's address.

Parlay's figure is ``inapp_dispatch.py``'s: real ``parlay worker`` processes dispatching an
N-consumer in-app campaign through their APNs client, from the campaign's commit until the
database holds SENT for every recipient. Two rows: the embedded deployment (SQLite, one worker)
and, with ``--postgres``, the scaled-out one (PostgreSQL, one worker per core: each has its own
HTTP/2 connection to the sink). Baseline, same run: ``h2load`` (``nghttp2-client``) sending the
same number of ``POST``s with an APNs-sized body to the same sink, one connection, the same
number of streams in flight.

Nothing is installed here: without ``nghttpd`` or ``h2load`` the row says how to install them
and is reported as not measured. Runnable: ``python bench/native_sink.py --n 20000 --postgres URL``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Figure, free_port, not_measured, postgres_admin_url, print_figures
from inapp_dispatch import CONCURRENCY, TARGET_RATE, apns_token, parlay_rate

N = 100_000
INSTALL = "apt-get install -y nghttp2-server nghttp2-client"
# What Parlay's APNs client sends for a bench push, near enough: h2load sends this body.
BODY = {"aps": {"alert": {"body": "Your order has shipped"}}, "pushMessageId": "x" * 36}
WHAT = "dispatch {n:,} in-app to a native HTTP/2 sink (nghttpd), {where}"
TARGET = f"≥ {TARGET_RATE:,}/s"


def tools() -> tuple[str, str] | None:
    nghttpd, h2load = shutil.which("nghttpd"), shutil.which("h2load")
    return (nghttpd, h2load) if nghttpd and h2load else None


class Sink:
    """``nghttpd`` on loopback with TLS, a document root answering ``/3/device/<token>``."""

    def __init__(self, workdir: Path, n: int) -> None:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.key_path = workdir / "sink.key"
        self.cert_path = workdir / "sink.pem"
        self.ca_bundle = workdir / "ca.pem"
        cert.private_key_pem.write_to_path(str(self.key_path))
        cert.cert_chain_pems[0].write_to_path(str(self.cert_path))
        ca.cert_pem.write_to_path(str(self.ca_bundle))
        devices = workdir / "docroot" / "3" / "device"
        devices.mkdir(parents=True)
        for i in range(n):
            (devices / apns_token(i)).touch()
        self.docroot = workdir / "docroot"
        self.body = workdir / "body.json"
        self.body.write_text(json.dumps(BODY))
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Sink:
        nghttpd = shutil.which("nghttpd")
        assert nghttpd
        self.process = subprocess.Popen(
            [
                nghttpd,
                "-d",
                str(self.docroot),
                str(self.port),
                str(self.key_path),
                str(self.cert_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("nghttpd exited at start")
            try:
                self.h2load(1, 1)
                return self
            except RuntimeError:
                time.sleep(0.1)
        raise RuntimeError("nghttpd did not answer within 10 s")

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def h2load(self, n: int, streams: int) -> float:
        """Requests/s of ``h2load``: n POSTs of ``BODY``, one connection, ``streams`` in flight."""
        h2load = shutil.which("h2load")
        assert h2load
        out = subprocess.run(
            [
                h2load,
                "-n",
                str(n),
                "-c",
                "1",
                "-m",
                str(streams),
                "-d",
                str(self.body),
                f"{self.url}/3/device/{apns_token(0)}",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        ).stdout
        done = re.search(r"(\d+) succeeded", out)
        rate = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
        if not done or not rate or int(done.group(1)) != n:
            raise RuntimeError(f"h2load did not complete {n} requests:\n{out[-500:]}")
        return float(rate.group(1))


def credentials(endpoint: str) -> dict[str, str]:
    """An APNs app pointing at the sink; the sink checks no provider token, so any key signs."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "service": "apns",
        "teamId": "BENCHTEAM1",
        "keyId": "BENCHKEY01",
        "privateKeyPem": pem,
        "environment": "production",
        "endpoint": endpoint,
    }


def run(n: int = N, concurrency: int = CONCURRENCY, postgres: str | None = None) -> list[Figure]:
    admin_url = postgres_admin_url(postgres)
    workers = os.cpu_count() or 1
    setups: list[tuple[str, int, str | None]] = [("sqlite", 1, None)]
    if admin_url:
        setups.append((f"postgresql, {workers} workers", workers, admin_url))
    if tools() is None:
        return [
            not_measured(
                WHAT.format(n=n, where=where), TARGET, f"nghttpd or h2load missing: {INSTALL}"
            )
            for where, _, _ in setups
        ]
    figures = []
    with tempfile.TemporaryDirectory(prefix="h2-sink-") as tmp, Sink(Path(tmp), n) as sink:
        rates = [
            parlay_rate(
                "apns",
                credentials(sink.url),
                str(sink.ca_bundle),
                n,
                workers=count,
                concurrency=concurrency,
                admin_url=url,
            )[:2]
            for _, count, url in setups
        ]
        bare = sink.h2load(n, concurrency)
    for (where, _, _), (rate, seconds) in zip(setups, rates, strict=True):
        figures.append(
            Figure(
                what=WHAT.format(n=n, where=where),
                value=f"{rate:,.0f}/s ({seconds:.1f} s) = {rate / bare:.1%} of h2load",
                baseline=f"h2load: {bare:,.0f} req/s (1 connection, {concurrency} streams)",
                target=TARGET,
                ok=rate >= TARGET_RATE,
                number=round(rate),
                unit="pushes/s",
                base=round(bare),
            )
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=N, help="pushes (default 100,000)")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="streams in flight")
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="also measure on PostgreSQL")
    args = parser.parse_args()
    print_figures(
        "in-app dispatch to a native HTTP/2 sink", run(args.n, args.concurrency, args.postgres)
    )


if __name__ == "__main__":
    main()
