"""The one place link-svc builds its clients and wires them together.

    HTTP API, Plaid webhooks ──handlers──► PostgreSQL (items, vault, audit) + outbox
    outbox ──relay──► bankstream.items, bankstream.plaid-webhooks, bankstream.sync-requests
    bankstream.sync-runs ──consumer──► on_sync_failed (state machine)
    item_setups ──periodic──► finish exchanged Items that Plaid's transient failures held up

The process answers /healthz at once; its `Supervisor` prepares what needs PostgreSQL and Kafka (migrations,
topics, the vault key check, the producer), retrying while they are away, then runs the relay and the
consumer. A vault key that rows need but the configuration lacks stops the process with that message.
"""

import asyncio
import contextlib
import json
from dataclasses import dataclass

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from bankstream_common.auth import authenticator_from
from bankstream_common.db import check_schema, service_pool
from bankstream_common.envelope import Envelope
from bankstream_common.kafka.consumer import ConsumerConfig, ConsumerRunner
from bankstream_common.kafka.producer import create_producer
from bankstream_common.kafka.topics import TopicSpec, ensure_topics
from bankstream_common.metrics import create_registry
from bankstream_common.migrations import migrate_service
from bankstream_common.outbox_relay import OutboxRelay, RelayConfig
from bankstream_common.readiness import KafkaCheck, kafka_check, postgres_check, workers_check
from bankstream_common.runtime import Periodic, Service, Supervisor, Worker
from fastapi import FastAPI

from . import handlers
from .adapters import repository as repo
from .adapters import vault
from .adapters.item_health import sample_item_health
from .adapters.plaid_client import PlaidCall, PlaidClient, build_api
from .adapters.webhook_verifier import WebhookVerifier
from .adapters.webhook_writer import WebhookWriter
from .config import Settings
from .domain import events as ev
from .domain.errors import VaultKeyMissing
from .entrypoints.http import create_app
from .handlers import ingress, item_setup
from .metrics import Metrics

log = structlog.get_logger(__name__)

PRODUCED_TOPICS = (ev.TOPIC_ITEMS, ev.TOPIC_PLAID_WEBHOOKS, ev.TOPIC_SYNC_REQUESTS)
CONSUMED_TOPICS = (ev.TOPIC_SYNC_RUNS,)
TRANSIENT = (OSError, KafkaError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


def keyring_from(settings: Settings) -> vault.Keyring:
    try:
        encoded = json.loads(settings.vault_keys.get_secret_value())
    except ValueError:
        raise VaultKeyMissing('LINK_SVC_VAULT_KEYS is not JSON ({"<key id>": "<base64 key>"})') from None
    if not isinstance(encoded, dict) or not encoded:
        raise VaultKeyMissing("LINK_SVC_VAULT_KEYS must be a non-empty JSON object")
    return vault.Keyring.from_encoded(encoded, settings.vault_active_key_id)


async def _nothing_to_reset(_: asyncpg.Connection) -> None:
    """Webhook ingress runs single statements and changes no session state: no reset round trip."""


async def create_webhook_pool(settings: Settings) -> asyncpg.Pool:
    """Webhook ingress's own connections: the hot path neither waits behind API calls nor pays the
    reset query asyncpg runs when a connection goes back to a pool (one round trip per webhook)."""
    pool = await asyncpg.create_pool(
        settings.database_url.get_secret_value(),
        min_size=0,
        max_size=settings.webhook_pool_size,
        reset=_nothing_to_reset,
        server_settings={
            "search_path": f"{check_schema(settings.schema_name)}, public",
            "application_name": f"{settings.service_name}-webhooks",
        },
    )
    assert pool is not None
    return pool


def background(settings: Settings, deps: handlers.Deps, producer: AIOKafkaProducer) -> Supervisor:
    """Prepare (retrying while PostgreSQL or Kafka are away), then run the relay, the consumer and the
    webhook pruning. A vault key that rows need but the configuration lacks stops the process."""
    s = settings
    pipeline = deps.metrics.pipeline

    async def on_event(conn: asyncpg.Connection, event: Envelope) -> None:
        await ingress.on_sync_failed(deps, conn, event)

    async def prune_webhook_deliveries() -> None:
        """Forget webhook deliveries once a replay of them could no longer verify (stale `iat`)."""
        await repo.prune_webhook_deliveries(deps.pool, s.webhook_replay_retention_seconds)

    async def prune_plaid_calls() -> None:
        """The audit of Plaid calls is kept `plaid_calls_retention_days` (a flood of them stays bounded)."""
        await repo.prune_plaid_calls(deps.pool, s.plaid_calls_retention_days * 86400)

    async def finish_item_setups() -> None:
        """Exchanged Items whose set-up Plaid's transient failures held up (handlers/item_setup.py)."""
        await item_setup.finish_due(deps)

    async def prepare() -> list[Worker]:
        await migrate_service(s.database_url.get_secret_value(), s.schema_name, "link_svc")
        missing = await vault.unusable_key_ids(deps.pool, deps.keyring)
        if missing:
            raise VaultKeyMissing(
                f"access tokens are sealed with vault key ids {sorted(missing)} that LINK_SVC_VAULT_KEYS "
                "lacks or holds with the wrong key material"
            )
        await ensure_topics(
            s.kafka_bootstrap_servers,
            [
                TopicSpec(s.topic_prefix + t, partitions=s.topic_partitions)
                for t in (*PRODUCED_TOPICS, *CONSUMED_TOPICS)
            ],
        )
        await producer.start()
        relay = OutboxRelay(
            RelayConfig(schema=s.schema_name), pool=deps.pool, producer=producer, metrics=pipeline
        )
        consumer = ConsumerRunner(
            ConsumerConfig(
                name=s.consumer_group,
                topics=[s.topic_prefix + t for t in CONSUMED_TOPICS],
                bootstrap_servers=s.kafka_bootstrap_servers,
            ),
            pool=deps.pool,
            handler=on_event,
            producer=producer,
            metrics=pipeline,
        )
        return [
            relay,
            consumer,
            Periodic(
                "webhook-prune",
                prune_webhook_deliveries,
                s.webhook_prune_interval_seconds,
                retry_on=TRANSIENT,
            ),
            Periodic("item-setups", finish_item_setups, s.item_setup_interval_seconds, retry_on=TRANSIENT),
            Periodic("audit-prune", prune_plaid_calls, s.audit_prune_interval_seconds, retry_on=TRANSIENT),
            Periodic(
                "item-health",
                lambda: sample_item_health(deps.pool, deps.metrics),
                s.item_health_interval_seconds,
                retry_on=TRANSIENT,
            ),
        ]

    return Supervisor(prepare, fatal=(VaultKeyMissing,))


@dataclass
class Container:
    settings: Settings
    metrics: Metrics
    pool: asyncpg.Pool
    kafka: KafkaCheck
    app: FastAPI
    deps: handlers.Deps
    background: Supervisor
    webhook_pool: asyncpg.Pool
    producer: AIOKafkaProducer

    def service(self) -> Service:
        return Service.of(self.settings, self.app, [self.background], self.aclose)

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):  # never started when PostgreSQL or Kafka never answered
            await self.producer.stop()
        self.deps.plaid.close()
        await self.kafka.aclose()
        await self.webhook_pool.close()
        await self.pool.close()


async def bootstrap(settings: Settings) -> Container:
    metrics = Metrics(create_registry())
    keyring = keyring_from(settings)  # a broken key configuration stops the process here, clearly
    authenticator = authenticator_from(settings)
    pool = await service_pool(settings, max_size=settings.db_pool_size)

    webhook_pool = await create_webhook_pool(settings)

    async def audit(call: PlaidCall) -> None:
        outcome = "ok" if call.http_status == 200 else "error"
        metrics.plaid_calls.labels(call.endpoint, outcome, call.error_code or "").inc()
        metrics.plaid_call_duration.labels(call.endpoint).observe(call.latency_s)
        await repo.record_plaid_call(pool, call)

    api = build_api(
        settings.plaid_env,
        client_id=settings.plaid_client_id,
        secret=settings.plaid_secret.get_secret_value(),
        emulator_url=settings.plaid_base_url,
    )
    plaid = PlaidClient(
        api, audit=audit, max_workers=settings.plaid_max_concurrency, timeout=settings.plaid_timeout_seconds
    )
    verifier = WebhookVerifier(
        plaid.get_webhook_key,
        max_age=settings.webhook_max_age_seconds,
        leeway=settings.webhook_iat_leeway_seconds,
        refresh_after=settings.webhook_key_refresh_seconds,
        fetch_burst=settings.webhook_key_fetch_burst,
        fetch_interval=settings.webhook_key_fetch_interval_seconds,
    )
    deps = handlers.Deps(
        settings=settings,
        pool=pool,
        plaid=plaid,
        keyring=keyring,
        verifier=verifier,
        metrics=metrics,
        topic_prefix=settings.topic_prefix,
        webhook_writer=WebhookWriter(webhook_pool),
        exchange_slots=asyncio.Semaphore(max(1, settings.db_pool_size // 2)),
    )
    kafka = kafka_check(settings.kafka_bootstrap_servers)
    producer = create_producer(settings.kafka_bootstrap_servers, client_id=settings.service_name)
    supervisor = background(settings, deps, producer)
    app = create_app(
        settings,
        metrics,
        {"postgres": postgres_check(pool), "kafka": kafka, "workers": workers_check(supervisor)},
        deps=deps,
        authenticator=authenticator,
    )
    return Container(
        settings=settings,
        metrics=metrics,
        pool=pool,
        kafka=kafka,
        app=app,
        deps=deps,
        background=supervisor,
        webhook_pool=webhook_pool,
        producer=producer,
    )
