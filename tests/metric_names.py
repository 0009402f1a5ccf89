"""The metric names the services declare, and those a PromQL expression names: for the tests of the alert
rules and of the dashboard (neither may point at a metric nobody exports)."""

import re

from bankstream_common.metrics import create_registry
from categorizer.metrics import Metrics as CategorizerMetrics
from ledger_api.metrics import Metrics as LedgerMetrics
from link_svc.metrics import Metrics as LinkMetrics
from sync_worker.metrics import Metrics as SyncMetrics

SCRAPE_METRICS = {"up", "ALERTS"}  # written by Prometheus itself for every target
PROMQL_WORDS = {
    "histogram_quantile",
    "delta",
    "time",
    "clamp_min",
    "group",
    "partition",
    "since",
    "freshness",
    "endpoint",
    "instance",
    "vector",
    "route",
    "change",
    "source",
    "sum",
    "by",
    "rate",
    "increase",
    "max",
    "min",
    "avg",
    "count",
    "job",
    "topic",
    "outcome",
    "error_code",
    "reason",
    "status",
    "le",
    "without",
    "and",
    "or",
    "unless",
}


def exported_names() -> set[str]:
    names: set[str] = set(SCRAPE_METRICS)
    for metrics_cls in (LinkMetrics, SyncMetrics, CategorizerMetrics, LedgerMetrics):
        registry = create_registry(runtime_collectors=False)
        metrics_cls(registry)
        for family in registry.collect():
            if family.type == "counter":
                names.add(family.name + "_total")
            elif family.type == "histogram":
                names.update(family.name + s for s in ("_bucket", "_sum", "_count"))
            else:
                names.add(family.name)
    return names


def referenced(expr: str) -> tuple[set[str], set[str]]:
    """Plain metric names, and `__name__=~"..."` patterns, in a PromQL expression."""
    patterns = set(re.findall(r'__name__=~"([^"]+)"', expr))
    stripped = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", " ", expr)
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", stripped)) - PROMQL_WORDS
    return words, patterns
