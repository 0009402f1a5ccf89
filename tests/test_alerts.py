"""The alert rules: every metric an alert names is one a service really declares (alerts cannot silently
point at nothing), every alert has a severity, a runbook that exists in docs/operations.md and a unit test,
and `promtool check rules` / `promtool test rules` pass (promtool: Debian's `prometheus`, installed by
deploy/setup.sh)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .metric_names import exported_names, referenced

ROOT = Path(__file__).parents[1]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yml"
OPERATIONS = ROOT / "docs" / "operations.md"
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
    assert rule["labels"]["severity"] in {"page", "ticket"}


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("rule", RULES, ids=[r["alert"] for r in RULES])
def test_alert_runbook_exists(rule: dict) -> None:
    page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
    assert page == "docs/operations.md"
    assert anchor in anchors(OPERATIONS.read_text()), f"no heading for #{anchor} in {page}"


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    cases = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    fired = {case["alertname"] for test in cases for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert {r["alert"] for r in RULES} <= fired


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: run deploy/setup.sh (it installs Debian's prometheus package)"
    return found


def test_promtool_checks_the_rules() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_of_every_alert_pass() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", ALERT_TESTS.name],
        cwd=ALERT_TESTS.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
