"""The Kubernetes manifests under deploy/k8s/ are validated offline, as no cluster runs here.

Built-in kinds are checked against the Kubernetes JSON schemas kubernetes-validate ships (strict: an
unknown field fails); the operators' kinds (Strimzi, CloudNativePG, KEDA) against the subsets of their
CRDs' openAPIV3Schema vendored in deploy/k8s/crds/. Then what the schemas cannot see: every resource
kustomization.yaml lists exists; every Deployment has both probes and requests/limits, a Service, a
PodDisruptionBudget and a NetworkPolicy; its environment is one its Settings class accepts, with every
secret from a Secret; every topic a service names has a KafkaTopic; the consumers scale on their own group.
"""

import importlib
import ipaddress
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from bankstream_common.kafka.topics import TopicSpec, dlq_topic
from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33.0"  # the schemas of the oldest Kubernetes the manifests target

# Deployment -> (package, consumes Kafka and scales on lag)
SERVICES = {
    "link-svc": ("link_svc", False),
    "sync-worker": ("sync_worker", True),
    "categorizer": ("categorizer", True),
    "ledger-api": ("ledger_api", True),
}
PLAID_CALLERS = {"link-svc", "sync-worker"}
Doc = dict[str, Any]


def load_docs(paths: list[Path]) -> list[tuple[Path, Doc]]:
    return [(p, d) for p in paths for d in yaml.safe_load_all(p.read_text()) if d is not None]


@pytest.fixture(scope="module")
def kustomization() -> Doc:
    data: Doc = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return data


@pytest.fixture(scope="module")
def docs(kustomization: Doc) -> list[tuple[Path, Doc]]:
    return load_docs([K8S / r for r in kustomization["resources"]])


@pytest.fixture(scope="module")
def crd_schemas() -> dict[tuple[str, str], Doc]:
    schemas: dict[tuple[str, str], Doc] = {}
    for path in sorted((K8S / "crds").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        assert data.get("source"), f"{path.name}: name the operator version the subset was written from"
        for entry in data["schemas"]:
            schemas[(entry["apiVersion"], entry["kind"])] = entry["openAPIV3Schema"]
    return schemas


def of_kind(docs: list[tuple[Path, Doc]], kind: str) -> list[Doc]:
    return [d for _, d in docs if d["kind"] == kind]


def by_name(docs: list[tuple[Path, Doc]], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in of_kind(docs, kind)}


def is_builtin(api_version: str) -> bool:
    group = api_version.rpartition("/")[0]
    return group == "" or "." not in group or group.endswith(".k8s.io")


def schema_errors(doc: Doc, crd_schemas: dict[tuple[str, str], Doc]) -> list[str]:
    """A manifest's schema violations: built-in kinds by kubernetes-validate, CRD kinds by jsonschema."""
    if is_builtin(doc["apiVersion"]):
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            return [f"{'.'.join(map(str, exc.path))}: {exc.message}"]
        return []
    schema = crd_schemas.get((doc["apiVersion"], doc["kind"]))
    if schema is None:
        return [f"no schema for {doc['apiVersion']} {doc['kind']}: add its CRD subset under deploy/k8s/crds/"]
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


# --- files and schemas ---------------------------------------------------------------------------


def test_every_resource_listed_exists_and_every_manifest_is_listed(kustomization: Doc) -> None:
    listed = kustomization["resources"]
    assert listed, "kustomization.yaml lists no resources"
    assert len(set(listed)) == len(listed), "a resource is listed twice"
    missing = [r for r in listed if not (K8S / r).is_file()]
    assert not missing, f"kustomization.yaml lists files that do not exist: {missing}"
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert on_disk == set(listed), f"manifests not listed: {sorted(on_disk - set(listed))}"


def test_every_manifest_is_valid_against_its_schema(
    docs: list[tuple[Path, Doc]], crd_schemas: dict[tuple[str, str], Doc]
) -> None:
    assert KUBERNETES_VERSION in kubernetes_validate.utils.all_versions()
    errors = [
        f"{path.name} {doc['kind']}/{doc.get('metadata', {}).get('name')}: {e}"
        for path, doc in docs
        for e in schema_errors(doc, crd_schemas)
    ]
    assert not errors, "\n".join(errors)
    kinds = {d["kind"] for _, d in docs}
    assert {"Kafka", "KafkaNodePool", "KafkaTopic", "Cluster", "ScaledObject"} <= kinds


@pytest.mark.parametrize(
    ("kind", "change", "complaint"),
    [
        ("Deployment", lambda d: d["spec"]["template"]["spec"]["containers"][0].update(prots=[]), "prots"),
        ("Deployment", lambda d: d["spec"].update(replicas="two"), "replicas"),
        ("PodDisruptionBudget", lambda d: d["spec"].update(minAvailabel=1), "minAvailabel"),
        ("KafkaTopic", lambda d: d["spec"].update(partitions=0), "partitions"),
        ("KafkaTopic", lambda d: d["spec"].update(partition=3), "partition"),
        ("Kafka", lambda d: d["spec"]["kafka"]["listeners"][0].update(type="public"), "type"),
        ("Cluster", lambda d: d["spec"]["postgresql"]["parameters"].update(max_connections=400), "400"),
        ("Cluster", lambda d: d["spec"].pop("instances"), "instances"),
        ("ScaledObject", lambda d: d["spec"]["triggers"][0]["metadata"].update(lagThreshold=10), "10"),
        ("ScaledObject", lambda d: d["spec"]["scaleTargetRef"].pop("name"), "name"),
    ],
)
def test_the_schemas_catch_a_broken_manifest(
    docs: list[tuple[Path, Doc]],
    crd_schemas: dict[tuple[str, str], Doc],
    kind: str,
    change: Any,
    complaint: str,
) -> None:
    doc = yaml.safe_load(yaml.safe_dump(of_kind(docs, kind)[0]))  # a deep copy
    assert not schema_errors(doc, crd_schemas)
    change(doc)
    errors = schema_errors(doc, crd_schemas)
    assert errors and any(complaint in e for e in errors), errors


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (its built-in kustomize) not installed")
def test_kustomize_builds_into_the_namespace() -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    built = [d for d in yaml.safe_load_all(out) if d]
    namespaced = [d for d in built if d["kind"] != "Namespace"]
    assert {d["metadata"].get("namespace") for d in namespaced} == {"bankstream"}
    images = {
        c["image"]
        for d in built
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {f"bankstream/{s}:0.1.0" for s in SERVICES}


# --- Deployments -----------------------------------------------------------------------------------


def containers(deployment: Doc) -> list[Doc]:
    c: list[Doc] = deployment["spec"]["template"]["spec"]["containers"]
    return c


def selects(selector: Doc, labels: Doc) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def test_each_service_has_a_deployment_service_pdb_and_network_policy(docs: list[tuple[Path, Doc]]) -> None:
    deployments = by_name(docs, "Deployment")
    assert set(deployments) == set(SERVICES)
    for name, dep in deployments.items():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert selects(dep["spec"]["selector"], labels), name
        assert labels.get("app.kubernetes.io/part-of") == "bankstream", (
            f"{name}: the default-deny must select it"
        )
        assert any(
            selects({"matchLabels": s["spec"]["selector"]}, labels) for s in of_kind(docs, "Service")
        ), name
        pdbs = [p for p in of_kind(docs, "PodDisruptionBudget") if selects(p["spec"]["selector"], labels)]
        assert len(pdbs) == 1, f"{name}: {len(pdbs)} PodDisruptionBudgets"
        assert pdbs[0]["spec"].get("minAvailable", 0) < dep["spec"]["replicas"], (
            f"{name}: a PDB no drain can meet"
        )
        own = [
            p
            for p in of_kind(docs, "NetworkPolicy")
            if p["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": name}
        ]
        assert len(own) == 1, f"{name}: {len(own)} NetworkPolicies of its own"


def test_every_container_is_probed_and_sized(docs: list[tuple[Path, Doc]]) -> None:
    for dep in of_kind(docs, "Deployment"):
        for c in containers(dep):
            where = f"{dep['metadata']['name']}/{c['name']}"
            ports = {p["name"]: p["containerPort"] for p in c["ports"]}
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                get = c.get(probe, {}).get("httpGet")
                assert get, f"{where}: no {probe}"
                assert get["path"] == path, f"{where}: {probe} on {get['path']}, not {path}"
                assert get["port"] in ports or get["port"] in ports.values(), f"{where}: {probe} on no port"
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c.get("resources", {}).get(bound, {})), f"{where}: {bound}"


def shared_config(docs: list[tuple[Path, Doc]]) -> dict[str, str]:
    data: dict[str, str] = by_name(docs, "ConfigMap")["bankstream-shared"]["data"]
    return data


def environment(docs: list[tuple[Path, Doc]], container: Doc) -> dict[str, Doc]:
    """Each variable a container gets -> its source: {"value"}, {"secretKeyRef"} or {"configMapKeyRef"}."""
    env: dict[str, Doc] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        assert name == "bankstream-shared", f"envFrom {name}: only the shared ConfigMap is read whole"
        env.update({k: {"value": v} for k, v in shared_config(docs).items()})
    for var in container.get("env", []):
        env[var["name"]] = {"value": var["value"]} if "value" in var else var["valueFrom"]
    return env


def settings_class(package: str) -> Any:
    return importlib.import_module(f"{package}.config").Settings


def test_each_environment_is_one_its_settings_accept_with_secrets_from_secrets(
    docs: list[tuple[Path, Doc]], monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = {t["spec"]["topicName"]: t for t in of_kind(docs, "KafkaTopic")}
    for name, dep in by_name(docs, "Deployment").items():
        cls = settings_class(SERVICES[name][0])
        prefix = cls.model_config["env_prefix"]
        env = environment(docs, containers(dep)[0])
        known = {f"{prefix}{f}".upper(): f for f in cls.model_fields} | {
            v: f for f, v in cls.shared_env.items()
        }
        unknown = sorted(set(env) - set(known))
        assert not unknown, f"{name}: variables no setting reads (misspelt?): {unknown}"
        given = {known[v] for v in env}
        required = {f for f, info in cls.model_fields.items() if info.is_required()}
        assert required <= given, f"{name}: required settings not given: {sorted(required - given)}"
        for var, source in env.items():
            field = cls.model_fields[known[var]]
            if field.annotation is SecretStr or var == "DATABASE_URL":
                assert "secretKeyRef" in source, f"{name}: {var} is a secret and must come from a Secret"
        value = {known[v]: s["value"] for v, s in env.items() if "value" in s}
        port = containers(dep)[0]["ports"][0]["containerPort"]
        assert value.get("http_host") == "0.0.0.0", f"{name}: listens on loopback only"
        assert int(value.get("http_port", cls.model_fields["http_port"].default)) == port, name
        assert value.get("env") == "prod", f"{name}: not env=prod"
        partitions = int(value.get("topic_partitions", cls.model_fields["topic_partitions"].default))
        assert partitions == topics["bankstream.items"]["spec"]["partitions"], (
            f"{name}: TOPIC_PARTITIONS differs from the KafkaTopics"
        )
        # the Settings class itself, validators and all (a field required only outside env=dev is required
        # by a validator, not by its type), with what Secrets and operator ConfigMaps will hold stood in for
        provided = {
            known[v]: _provided(known[v], cls.model_fields[known[v]])
            for v, s in env.items()
            if "value" not in s
        }
        for var in os.environ:  # the manifest alone: nothing from the shell that runs the tests
            if var.startswith(prefix) or var in cls.shared_env.values():
                monkeypatch.delenv(var)
        try:
            cls(**value, **provided)
        except ValidationError as exc:
            raise AssertionError(f"{name}: its Settings refuse this environment: {exc}") from None


def _provided(field: str, info: FieldInfo) -> object:
    """A stand-in of the right shape for a value a Secret or an operator's ConfigMap holds."""
    if info.annotation is not None and getattr(info.annotation, "__origin__", info.annotation) is dict:
        return {"operator-provided": "-----BEGIN PUBLIC KEY-----"}
    return "postgresql://operator-provided/app" if field == "database_url" else "operator-provided"


def test_no_secret_is_written_into_a_manifest(docs: list[tuple[Path, Doc]]) -> None:
    assert not of_kind(docs, "Secret"), "Secrets are created apart (docs/scaling.md), never committed"
    for dep in of_kind(docs, "Deployment"):
        for var in containers(dep)[0].get("env", []):
            assert (
                not any(w in var["name"] for w in ("SECRET", "KEYS", "TOKEN", "PASSWORD"))
                or "valueFrom" in var
            )


# --- Kafka topics and autoscaling --------------------------------------------------------------------


def service_topics(package: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    bootstrap = importlib.import_module(f"{package}.bootstrap")
    return tuple(bootstrap.PRODUCED_TOPICS), tuple(bootstrap.CONSUMED_TOPICS)


def asyncapi_topics() -> set[str]:
    spec = yaml.safe_load((ROOT / "docs" / "events" / "asyncapi.yaml").read_text())
    return {c["address"] for c in spec["channels"].values()}


def test_every_topic_a_service_names_has_a_kafka_topic(docs: list[tuple[Path, Doc]]) -> None:
    kafka = of_kind(docs, "Kafka")
    assert len(kafka) == 1
    topics = {t["spec"]["topicName"]: t for t in of_kind(docs, "KafkaTopic")}
    named = set(asyncapi_topics())
    for package, _ in SERVICES.values():
        produced, consumed = service_topics(package)
        named |= {*produced, *consumed}
    for topic in sorted(named):
        for spec in TopicSpec(topic).all_specs():
            assert spec.name in topics, f"no KafkaTopic for {spec.name}"
            kt = topics[spec.name]
            assert kt["metadata"]["labels"]["strimzi.io/cluster"] == kafka[0]["metadata"]["name"], spec.name
            assert kt["spec"]["replicas"] >= 3 and "retention.ms" in kt["spec"]["config"], spec.name
            for key, value in spec.config.items():  # the DLQ's settings, as libs/common declares them
                assert str(kt["spec"]["config"][key]) == value, f"{spec.name}: {key}"
            if spec.name == dlq_topic(topic):
                assert kt["spec"]["partitions"] == spec.partitions, spec.name
    assert set(topics) == {s.name for t in named for s in TopicSpec(t).all_specs()}, (
        "a KafkaTopic no one uses"
    )


def test_consumers_scale_on_their_own_groups_lag_up_to_their_partitions(docs: list[tuple[Path, Doc]]) -> None:
    topics = {t["spec"]["topicName"]: t["spec"]["partitions"] for t in of_kind(docs, "KafkaTopic")}
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s for s in of_kind(docs, "ScaledObject")}
    consumers = {n for n, (_, scales) in SERVICES.items() if scales}
    assert set(scaled) == consumers
    bootstrap = shared_config(docs)["KAFKA_BOOTSTRAP_SERVERS"]
    for name in consumers:
        package = SERVICES[name][0]
        spec = scaled[name]["spec"]
        kafka = [t for t in spec["triggers"] if t["type"] == "kafka"]
        assert len(kafka) == 1, name
        meta = kafka[0]["metadata"]
        assert meta["consumerGroup"] == settings_class(package).model_fields["consumer_group"].default, name
        assert meta["bootstrapServers"] == bootstrap, name
        assert int(meta["lagThreshold"]) > 0
        parallelism = max(topics[t] for t in service_topics(package)[1])
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= parallelism, (
            f"{name}: more replicas than partitions would sit idle"
        )
        pdb = next(p for p in of_kind(docs, "PodDisruptionBudget") if p["metadata"]["name"] == name)
        assert pdb["spec"]["minAvailable"] < spec["minReplicaCount"], (
            f"{name}: the PDB would block every drain"
        )


# --- NetworkPolicies -----------------------------------------------------------------------------------


def egress_rules(docs: list[tuple[Path, Doc]], name: str) -> list[Doc]:
    policy = by_name(docs, "NetworkPolicy")[name]
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}, name
    rules: list[Doc] = policy["spec"].get("egress", [])
    return rules


def reaches(rules: list[Doc], port: int) -> Iterator[Doc]:
    for rule in rules:
        if any(p["port"] == port for p in rule.get("ports", [])):
            yield from rule["to"]


def test_network_policies_let_each_service_reach_only_what_it_uses(docs: list[tuple[Path, Doc]]) -> None:
    deny = by_name(docs, "NetworkPolicy")["bankstream-default-deny"]["spec"]
    assert deny["podSelector"] == {"matchLabels": {"app.kubernetes.io/part-of": "bankstream"}}
    assert (
        set(deny["policyTypes"]) == {"Ingress", "Egress"} and "ingress" not in deny and "egress" not in deny
    )
    pg = by_name(docs, "Cluster")
    kafka = of_kind(docs, "Kafka")[0]["metadata"]["name"]
    for name in SERVICES:
        rules = egress_rules(docs, name)
        assert all(r.get("to") and r.get("ports") for r in rules), f"{name}: an egress rule open to all"
        assert [p["podSelector"]["matchLabels"]["strimzi.io/cluster"] for p in reaches(rules, 9092)] == [
            kafka
        ]
        assert [p["podSelector"]["matchLabels"]["cnpg.io/cluster"] for p in reaches(rules, 5432)] == list(pg)
        public = [p for p in reaches(rules, 443) if "ipBlock" in p]
        if name in PLAID_CALLERS:
            assert len(public) == 1, f"{name}: calls Plaid"
            block = public[0]["ipBlock"]
            excepted = [ipaddress.ip_network(c) for c in block["except"]]
            for private in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"):
                assert ipaddress.ip_network(private) in excepted, f"{name}: Plaid egress also opens {private}"
        else:
            assert not public, f"{name} never calls Plaid: no public egress"
        ports = {p["port"] for r in rules for p in r["ports"]}
        allowed = (
            {53, 9092, 5432}
            | ({443} if name in PLAID_CALLERS else set())
            | ({8001} if name == "sync-worker" else set())
        )
        assert ports == allowed, f"{name}: egress to ports {sorted(ports - allowed)} it does not use"


PLAID_CLIENT_SYNC_CALLS_PER_MINUTE = 2_500  # Plaid's default per-client limit on /transactions/sync
SECONDS_PER_SYNC_CALL = 1.0  # the assumption of docs/scaling.md's back-of-envelope


def test_sync_worker_cannot_scale_past_plaids_per_client_limit(docs: list[tuple[Path, Doc]]) -> None:
    scaled = next(
        s for s in of_kind(docs, "ScaledObject") if s["spec"]["scaleTargetRef"]["name"] == "sync-worker"
    )
    dep = by_name(docs, "Deployment")["sync-worker"]
    env = {k: v.get("value") for k, v in environment(docs, containers(dep)[0]).items()}
    cls = settings_class("sync_worker")
    concurrent = int(
        env.get("SYNC_WORKER_MAX_CONCURRENT_SYNCS") or cls.model_fields["max_concurrent_syncs"].default
    )
    calls_per_minute = scaled["spec"]["maxReplicaCount"] * concurrent * 60 / SECONDS_PER_SYNC_CALL
    assert calls_per_minute <= PLAID_CLIENT_SYNC_CALLS_PER_MINUTE, (
        f"sync-worker at its most replicas makes ~{calls_per_minute:.0f} calls a minute: only 429s past "
        f"{PLAID_CLIENT_SYNC_CALLS_PER_MINUTE} (docs/scaling.md)"
    )
