"""A real Prometheus for `make run`: scrapes every service, with the project's alert rules loaded.

    prom = Prometheus(targets={"link-svc": "127.0.0.1:8001", ...}, port=9090)
    prom.start(); prom.wait_ready()     # /-/ready, the rules loaded, every target scraped once
    prom.url                            # printed by `make run`
    prom.stop()

The binary is Debian's `prometheus` (deploy/setup.sh installs it). Its configuration and TSDB live under
`<state>/prometheus/` (two days of retention), never in the work tree. Job names are the service names,
so alerts and dashboards read `job="ledger-api"` the same here as anywhere else.
"""

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from . import processes
from .errors import DevstackError
from .paths import REPO_ROOT, state_dir

RULES = REPO_ROOT / "deploy" / "prometheus" / "alerts.yml"
SCRAPE_INTERVAL = "5s"


def config(targets: Mapping[str, str], rules: Path = RULES) -> dict[str, object]:
    """prometheus.yml as data: one job per service (`job` = the service's name), the alert rules loaded."""
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {"job_name": job, "metrics_path": "/metrics", "static_configs": [{"targets": [address]}]}
            for job, address in targets.items()
        ],
    }


class Prometheus:
    def __init__(self, targets: Mapping[str, str], *, port: int = 9090, home: Path | None = None) -> None:
        self.targets = dict(targets)
        self.port = port
        self.home = home or state_dir() / "prometheus"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.home / "prometheus.log"

    def summary(self) -> str:
        health = self.target_health()
        up = sorted(job for job, h in health.items() if h == "up")
        return f"scraping {len(up)}/{len(health)} services ({', '.join(up)}), {self.rule_count()} alert rules"

    def start(self) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            raise DevstackError("prometheus is not installed: run deploy/setup.sh (Debian's prometheus)")
        processes.require_free(self.port, "prometheus")
        self.home.mkdir(parents=True, exist_ok=True)
        config_file = self.home / "prometheus.yml"
        # JSON is YAML: no YAML writer needed
        config_file.write_text(json.dumps(config(self.targets), indent=2))
        self.proc = processes.spawn(
            [
                binary,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={self.home / 'data'}",
                "--storage.tsdb.retention.time=2d",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            self.log,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Ready, the rules loaded, and every target scraped at least once (healthy or not: said aloud)."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise DevstackError(
                    f"prometheus exited with code {self.proc.returncode}: "
                    f"{processes.last_line(self.log)} (log: {self.log})"
                )
            try:
                health = self.target_health()
                scraped = set(health) == set(self.targets) and "unknown" not in health.values()
                if scraped and self.rule_count():
                    return
                last = f"targets {health}"
            except (OSError, ValueError) as exc:
                last = type(exc).__name__
            time.sleep(0.5)
        raise DevstackError(f"prometheus not ready after {timeout:.0f}s: {last} (log: {self.log})")

    def rule_count(self) -> int:
        groups = self._api("/api/v1/rules")["groups"]
        return sum(len(g["rules"]) for g in groups)

    def target_health(self) -> dict[str, str]:
        """`job` -> `up`, `down` or `unknown` (not scraped yet)."""
        active = self._api("/api/v1/targets")["activeTargets"]
        return {t["labels"]["job"]: t["health"] for t in active}

    def query(self, promql: str) -> list[dict[str, Any]]:
        return list(self._api("/api/v1/query?" + urlencode({"query": promql}))["result"])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            processes.terminate(self.proc.pid, grace=10)

    def _api(self, path: str) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as response:  # noqa: S310 - our own
                body = json.loads(response.read())
        except urllib.error.URLError as exc:
            raise OSError(str(exc)) from exc
        if body.get("status") != "success":
            raise ValueError(f"prometheus answered {body}")
        return dict(body["data"])
