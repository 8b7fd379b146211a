"""The log lines a process writes: one JSON object per line on stderr."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import logging
from parlay.lib.observability.logging import configure_logging, get_logger
configure_logging("INFO")
log = get_logger("parlay.test")
log.info("delivery outcome", delivery_id=7, text="déjà ✓", none=None)
log.info("huge", n=2**70)
log.debug("hidden")
logging.getLogger("library").warning("from the standard library")
"""


def test_every_line_is_one_json_object_whatever_it_holds() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )

    lines = [json.loads(line) for line in done.stderr.splitlines()]

    assert [line["event"] for line in lines] == [
        "delivery outcome",
        "huge",
        "from the standard library",
    ]
    first = lines[0]
    assert (first["delivery_id"], first["text"], first["none"]) == (7, "déjà ✓", None)
    assert (first["level"], first["timestamp"][-1]) == ("info", "Z")
    assert lines[1]["n"] == 2**70  # beyond orjson's 64 bits: written by the standard library's
    assert lines[2]["level"] == "warning"
