"""Every target of docs/operations.md#targets that ``bench/`` measures, in one run (``make bench``).

SQLite always; PostgreSQL too with ``--postgres ADMIN_URL`` or ``PARLAY_BENCH_POSTGRES_URL``
(an account that may create and drop databases, e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``).
Each figure is printed beside a baseline measured in the same run and its target. The
machine's other load skews every figure: the load average is printed first.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import campaign_accept
import dispatch
import inapp_dispatch
import invite_latency
import sms
import web
from _common import Figure, postgres_admin_url, print_figures


def inapp_run(n: int) -> list[Figure]:
    """The in-app dispatch target against the APNs and FCM fakes; nothing when ``--inapp-n 0``."""
    return inapp_dispatch.run(n) if n > 0 else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="also measure on PostgreSQL")
    parser.add_argument(
        "--delay-ms",
        type=float,
        default=10.0,
        help="the sandbox's simulated provider latency (dispatch and invite benchmarks)",
    )
    parser.add_argument(
        "--inapp-n",
        type=int,
        default=inapp_dispatch.N,
        help="in-app deliveries per provider fake (APNs, FCM); 0 skips that benchmark",
    )
    parser.add_argument(
        "--sms-n",
        type=int,
        default=5_000,
        help="SMS through the Twilio fake, callbacks processed; 0 skips that benchmark",
    )
    args = parser.parse_args()
    admin_url = postgres_admin_url(args.postgres)
    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"databases: sqlite{' + postgresql' if admin_url else ''}"
    )
    started = time.monotonic()
    figures: list[Figure] = []
    steps: list[tuple[str, Callable[[], list[Figure]]]] = [
        ("campaign accept", lambda: campaign_accept.run(admin_url)),
        ("dispatch", lambda: dispatch.run(admin_url, args.delay_ms)),
        ("invite latency", lambda: invite_latency.run(admin_url, args.delay_ms)),
        ("in-app dispatch to provider fakes", lambda: inapp_run(args.inapp_n)),
        (
            "SMS through the Twilio fake",
            lambda: sms.run(admin_url, args.sms_n) if args.sms_n else [],
        ),
        ("web tool pages", lambda: web.run(admin_url)),
    ]
    for title, run in steps:
        results = run()
        print_figures(title, results)
        figures += results
    print_figures(f"summary ({time.monotonic() - started:.0f} s)", figures)
    missed = [f.what for f in figures if f.ok is False]
    if missed:
        print(f"\n{len(missed)} target(s) missed: " + "; ".join(missed))


if __name__ == "__main__":
    main()
