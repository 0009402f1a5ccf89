"""The Grafana dashboard kept as JSON (deploy/grafana/dashboards): every panel's expression parses (promtool
checks them as recording rules) and names only metrics the services declare; panels do not overlap and read
the data source docker-compose.yml provisions."""

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from .metric_names import exported_names, referenced
from .test_alerts import promtool

ROOT = Path(__file__).parents[1]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "bankstream.json"
DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"

BOARD = json.loads(DASHBOARD.read_text())
PANELS = [p for p in BOARD["panels"] if p["type"] != "row"]
TARGETS = [(p["title"], t) for p in PANELS for t in p["targets"]]


def test_panels_cover_what_an_operator_looks_at() -> None:
    rows = [p["title"] for p in BOARD["panels"] if p["type"] == "row"]
    assert rows == [
        "At a glance",
        "Pipeline throughput and lag",
        "Freshness",
        "Errors",
        "Dead letters",
        "API latency",
    ]
    assert all(p["targets"] for p in PANELS)


def test_every_expression_parses(tmp_path: Path) -> None:
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:panel_{i}", "expr": t["expr"]} for i, (_, t) in enumerate(TARGETS)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(TARGETS)} rules found" in result.stdout


@pytest.mark.parametrize(
    "target", [t for _, t in TARGETS], ids=[f"{title}/{t['refId']}" for title, t in TARGETS]
)
def test_every_expression_names_declared_metrics(target: dict) -> None:
    declared = exported_names()
    names, patterns = referenced(target["expr"])
    assert names or patterns
    assert names <= declared, f"undeclared metrics: {sorted(names - declared)}"
    for pattern in patterns:
        assert any(re.fullmatch(pattern, n) for n in declared), f"no declared metric matches {pattern!r}"


def test_panels_do_not_overlap_and_read_the_provisioned_source() -> None:
    cells: set[tuple[int, int]] = set()
    for panel in BOARD["panels"]:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine
    assert len({p["id"] for p in BOARD["panels"]}) == len(BOARD["panels"])
    uid = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]["uid"]
    assert {p["datasource"]["uid"] for p in PANELS} == {uid}
