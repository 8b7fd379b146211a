"""The operator's documents keep up with the metrics: the Grafana dashboard charts only metrics
Parlay exports, and docs/operations.md describes every one of them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from parlay.lib.observability.metrics import Metrics

DOCS = Path(__file__).resolve().parents[2] / "docs"
SERIES_SUFFIXES = ("_bucket", "_count", "_sum")


def exported() -> set[str]:
    """Every metric family's name as Prometheus shows it (counters with ``_total``)."""
    names = set()
    for family in Metrics().registry.collect():
        names.add(f"{family.name}_total" if family.type == "counter" else family.name)
    return names


def family_of(series: str) -> str:
    for suffix in SERIES_SUFFIXES:
        if series.endswith(suffix):
            return series.removesuffix(suffix)
    return series


def test_the_dashboard_charts_only_metrics_parlay_exports() -> None:
    dashboard = json.loads((DOCS / "grafana" / "parlay.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    charted = {family_of(name) for expr in exprs for name in re.findall(r"parlay_\w+", expr)}
    assert charted, "the dashboard charts nothing"
    assert charted <= exported(), charted - exported()


def test_operations_md_describes_every_metric() -> None:
    text = (DOCS / "operations.md").read_text()
    missing = {name for name in exported() if f"`{name}" not in text}
    assert not missing, f"not described in docs/operations.md: {sorted(missing)}"
