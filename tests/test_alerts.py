"""Every metric an alert names is one a service really declares: alerts cannot silently point at nothing."""

import re
from pathlib import Path

import pytest
import yaml
from bankstream_common.metrics import create_registry
from categorizer.metrics import Metrics as CategorizerMetrics
from ledger_api.metrics import Metrics as LedgerMetrics
from link_svc.metrics import Metrics as LinkMetrics
from sync_worker.metrics import Metrics as SyncMetrics

ALERTS = Path(__file__).parents[1] / "deploy" / "prometheus" / "alerts.yml"
PROMQL_WORDS = {
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
    names: set[str] = set()
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
    words = set(re.findall(r"[a-z_][a-z0-9_]*", stripped)) - PROMQL_WORDS
    return words, patterns


RULES = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


@pytest.mark.parametrize("rule", RULES, ids=[r["alert"] for r in RULES])
def test_alert_names_declared_metrics(rule: dict) -> None:
    declared = exported_names()
    names, patterns = referenced(rule["expr"])
    assert names or patterns, "an alert must name a metric"
    assert names <= declared, f"undeclared metrics: {sorted(names - declared)}"
    for pattern in patterns:
        matching = {n for n in declared if re.fullmatch(pattern, n)}
        assert matching, f"no declared metric matches {pattern!r}"
    assert rule["annotations"]["runbook"].startswith("docs/operations.md#")
