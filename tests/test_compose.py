"""docker-compose.yml cannot run here (no Docker engine), so its shape is checked instead: every service is
declared, built from its own Dockerfile that exists, health-checked, started after what it needs, and given
an environment its Settings class accepts."""

import importlib
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
# compose service -> (member dir, package, port)
BUILT = {
    "link-svc": ("services/link-svc", "link_svc", 8001),
    "sync-worker": ("services/sync-worker", "sync_worker", 8002),
    "categorizer": ("services/categorizer", "categorizer", 8003),
    "ledger-api": ("services/ledger-api", "ledger_api", 8004),
    "plaid-emulator": ("tools/plaid-emulator", "plaid_emulator", 8900),
}
BANKSTREAM_SERVICES = [name for name in BUILT if name != "plaid-emulator"]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data["services"]


def dockerfile(service: str) -> str:
    return (ROOT / BUILT[service][0] / "Dockerfile").read_text()


def test_every_service_and_the_infrastructure_is_declared(compose: dict[str, Any]) -> None:
    assert set(compose) == {"kafka", "postgres", *BUILT, "prometheus", "grafana"}
    assert compose["kafka"]["image"] == "apache/kafka:4.1.1"
    assert (
        compose["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    )  # KRaft, no ZooKeeper
    assert compose["postgres"]["image"] == "postgres:16"
    assert "pg_isready" in compose["postgres"]["healthcheck"]["test"]


@pytest.mark.parametrize("service", ["kafka", "postgres", *BUILT, "prometheus", "grafana"])
def test_every_service_has_a_health_check(compose: dict[str, Any], service: str) -> None:
    check = compose[service]["healthcheck"]["test"]
    assert check[0] in ("CMD", "CMD-SHELL") and len(check) > 1


@pytest.mark.parametrize("service", list(BUILT))
def test_built_from_the_repo_root_with_its_own_dockerfile(compose: dict[str, Any], service: str) -> None:
    member, _, port = BUILT[service]
    build = compose[service]["build"]
    assert build["context"] == "."
    assert build["dockerfile"] == f"{member}/Dockerfile"
    assert (ROOT / build["dockerfile"]).is_file()
    assert f"127.0.0.1:{port}/" in " ".join(compose[service]["healthcheck"]["test"])
    assert compose[service]["ports"] == [f"{port}:{port}"]


@pytest.mark.parametrize("service", list(BUILT))
def test_dockerfile_copies_existing_paths_syncs_its_package_and_runs_unprivileged(service: str) -> None:
    member, package, port = BUILT[service]
    text = dockerfile(service)
    project = tomllib.loads((ROOT / member / "pyproject.toml").read_text())["project"]
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.MULTILINE):
        *sources, _dest = line.split()
        for source in sources:
            assert (ROOT / source).exists(), f"{service}: COPY {source} does not exist"
    assert f"uv sync --frozen --no-dev --no-editable --package {project['name']}" in text
    assert re.search(r"^USER (?!root)\w+", text, re.MULTILINE)
    assert f"EXPOSE {port}" in text
    assert re.search(rf"^HEALTHCHECK .*\n.*127\.0\.0\.1:{port}/", text, re.MULTILINE)
    cmd = re.search(r"^CMD \[(.+)\]$", text, re.MULTILINE)
    assert cmd is not None
    program = cmd.group(1).split(",")[0].strip().strip('"').rsplit("/", 1)[-1]
    if program == "python":
        assert f'"-m", "{package}"' in cmd.group(1)
        assert (ROOT / member / "src" / package / "__main__.py").is_file()
    else:
        assert program in project["scripts"]


@pytest.mark.parametrize("service", BANKSTREAM_SERVICES)
def test_waits_for_healthy_kafka_and_postgres(compose: dict[str, Any], service: str) -> None:
    depends = compose[service]["depends_on"]
    assert depends["kafka"] == depends["postgres"] == {"condition": "service_healthy"}
    assert all(d["condition"] == "service_healthy" for d in depends.values())


@pytest.mark.parametrize("service", BANKSTREAM_SERVICES)
def test_its_environment_satisfies_its_settings(
    compose: dict[str, Any], service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, package, port = BUILT[service]
    for var in list(os.environ):
        monkeypatch.delenv(var)
    env = {k: str(v) for k, v in compose[service]["environment"].items()}
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    settings_cls = importlib.import_module(f"{package}.config").Settings
    settings = settings_cls()
    assert settings.env == "dev"
    assert settings.http_port == port
    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert settings.database_url.get_secret_value().startswith("postgresql://postgres:")


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "**/__pycache__"} <= set(ignored)


def test_prometheus_scrapes_every_service_and_grafana_is_provisioned(compose: dict[str, Any]) -> None:
    mounts = {m.split(":")[0]: m.split(":")[1] for m in compose["prometheus"]["volumes"]}
    assert mounts["./deploy/prometheus/alerts.yml"] == "/etc/prometheus/alerts.yml"
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    scraped = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert scraped == {name: [f"{name}:{BUILT[name][2]}"] for name in BANKSTREAM_SERVICES}
    assert config["rule_files"] == ["alerts.yml"]
    grafana = {m.split(":")[0]: m.split(":")[1] for m in compose["grafana"]["volumes"]}
    assert grafana["./deploy/grafana/dashboards"] == "/var/lib/grafana/dashboards"
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/bankstream.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    source = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert source["datasources"][0]["url"] == "http://prometheus:9090"
