"""Every target of docs/operations.md#targets that ``bench/`` measures, in one run (``make bench``).

SQLite always; PostgreSQL too with ``--postgres ADMIN_URL`` or ``PARLAY_BENCH_POSTGRES_URL``
(an account that may create and drop databases, e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``).
Each figure is printed beside a baseline measured in the same run and its target. The
machine's other load skews every figure: the load average is printed first.

``--only accept,invite`` picks benchmarks (names below); ``--quick`` runs each at a fifth to a
tenth of its size (a few minutes in all: the rates and percentiles compare, the accept's target
is scaled to its size); ``--json FILE`` also writes every row as
``{"what", "value", "unit", "baseline", "target", "met"}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import campaign_accept
import dispatch
import eligibility
import inapp_dispatch
import invite_latency
import native_sink
import reporting
import sms
import web
import webhooks
from _common import Figure, postgres_admin_url, print_figures

# name -> what it measures (the order they run in)
BENCHMARKS = {
    "accept": "campaign accept",
    "dispatch": "dispatch through the sandbox, and the worker's peak memory",
    "invite": "invite latency under a campaign",
    "eligibility": "eligibility at 200 requests/s",
    "sink": "in-app dispatch to a native HTTP/2 sink (nghttpd), beside h2load",
    "inapp": "in-app dispatch to the APNs and FCM fakes",
    "reporting": "reporting: analytics, campaign report page, CSV",
    "webhooks": "status webhooks",
    "sms": "SMS through the Twilio fake",
    "web": "web tool pages: server time with the reporting deliveries stored",
}


def quick_sizes() -> dict[str, int]:
    """Smaller sizes for ``--quick``, set on the benchmark modules; the sizes used per name."""
    campaign_accept.TARGET_SECONDS = round(campaign_accept.TARGET_SECONDS / 5, 3)
    campaign_accept.N = dispatch.N = invite_latency.N = 20_000
    reporting.N, reporting.CAMPAIGN = 100_000, 10_000
    return {"inapp": 10_000, "sink": 20_000, "webhooks": 10_000, "sms": 500, "runs": 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="also measure on PostgreSQL")
    parser.add_argument(
        "--only",
        metavar="NAMES",
        help="comma-separated, of: " + ", ".join(BENCHMARKS) + " (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes: minutes, not an hour")
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write the rows as JSON")
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
        help="in-app deliveries per provider fake (APNs, FCM) and to the native sink",
    )
    parser.add_argument(
        "--sms-n", type=int, default=5_000, help="SMS through the Twilio fake, callbacks processed"
    )
    args = parser.parse_args()
    chosen = [n.strip() for n in (args.only or ",".join(BENCHMARKS)).split(",") if n.strip()]
    unknown = [n for n in chosen if n not in BENCHMARKS]
    if unknown:
        parser.error(
            f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}"
        )
    admin_url = postgres_admin_url(args.postgres)
    sizes = {"inapp": args.inapp_n, "sink": args.inapp_n, "webhooks": webhooks.EVENTS}
    sizes |= {"sms": args.sms_n, "runs": 3}
    if args.quick:
        sizes |= quick_sizes()
    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"databases: sqlite{' + postgresql' if admin_url else ''}"
        f"{'; quick sizes' if args.quick else ''}"
    )
    steps: dict[str, Callable[[], list[Figure]]] = {
        "accept": lambda: campaign_accept.run(admin_url, sizes["runs"]),
        "dispatch": lambda: dispatch.run(admin_url, args.delay_ms),
        "invite": lambda: invite_latency.run(admin_url, args.delay_ms),
        "eligibility": lambda: eligibility.run(admin_url, 5.0 if args.quick else 15.0),
        "sink": lambda: native_sink.run(sizes["sink"], postgres=admin_url),
        "inapp": lambda: inapp_dispatch.run(sizes["inapp"]),
        "reporting": lambda: reporting.run(admin_url),
        "webhooks": lambda: webhooks.run(admin_url, sizes["webhooks"], sizes["webhooks"]),
        "sms": lambda: sms.run(admin_url, sizes["sms"]),
        "web": lambda: web.run(admin_url),
    }
    started = time.monotonic()
    figures: list[Figure] = []
    for name in BENCHMARKS:
        if name not in chosen:
            continue
        results = steps[name]()
        print_figures(BENCHMARKS[name], results)
        figures += results
        if args.json:  # written after each benchmark: a run cut short keeps what it measured
            args.json.write_text(json.dumps([f.to_json() for f in figures], indent=2) + "\n")
    print_figures(f"summary ({time.monotonic() - started:.0f} s)", figures)
    missed = [f.what for f in figures if f.ok is False]
    if missed:
        print(f"\n{len(missed)} target(s) missed: " + "; ".join(missed))


if __name__ == "__main__":
    main()
