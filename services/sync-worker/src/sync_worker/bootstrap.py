"""The one place sync-worker builds its clients and wires them together.

consumer runner (items, webhooks, sync requests) --trigger--> sync_items
scheduler --claims--> ItemSyncer --Plaid--> one transaction: outbox + cursor + history
outbox relay --> bankstream.transactions / .accounts / .sync-runs
"""

import contextlib
import os
import socket
import uuid
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaProducer
from bankstream_common.backoff import Backoff
from bankstream_common.db import service_pool
from bankstream_common.kafka.consumer import ConsumerConfig, ConsumerRunner
from bankstream_common.kafka.producer import create_producer
from bankstream_common.kafka.topics import TopicSpec, ensure_topics
from bankstream_common.metrics import create_registry
from bankstream_common.migrations import migrate_service
from bankstream_common.outbox_relay import OutboxRelay, RelayConfig
from bankstream_common.readiness import (
    KafkaCheck,
    ReadinessCheck,
    kafka_check,
    postgres_check,
    workers_check,
)
from bankstream_common.runtime import Periodic, Service, Supervisor, Worker
from fastapi import FastAPI

from .adapters.item_health import sample_item_health
from .adapters.pacing import SyncCallPacer
from .adapters.page_builder import PageBuilder
from .adapters.plaid_sync import PLAID_HOSTS, PlaidSyncClient
from .adapters.repository import SyncRepository
from .adapters.token_provider import HttpTokenProvider, TokenProvider
from .config import Settings
from .domain import events
from .domain.policy import RetryPolicy
from .domain.triggers import CONSUMED_TOPICS
from .entrypoints.http import create_app
from .handlers.owners import with_owners
from .handlers.scheduler import SchedulerConfig, SyncScheduler
from .handlers.sync_run import ItemSyncer
from .handlers.triggers import trigger_handler
from .metrics import Metrics

PRODUCED_TOPICS = (events.TRANSACTIONS_TOPIC, events.ACCOUNTS_TOPIC, events.SYNC_RUNS_TOPIC)


@dataclass
class Container:
    settings: Settings
    metrics: Metrics
    pool: asyncpg.Pool
    kafka: KafkaCheck
    app: FastAPI
    producer: AIOKafkaProducer
    plaid: PlaidSyncClient
    pages: PageBuilder
    tokens: TokenProvider
    repo: SyncRepository
    scheduler: SyncScheduler
    consumer: ConsumerRunner
    relay: OutboxRelay

    supervisor: Supervisor

    @property
    def workers(self) -> list[Worker]:
        return [self.supervisor]

    def service(self) -> Service:
        return Service.of(self.settings, self.app, self.workers, self.aclose)

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self.producer.stop()
        await self.tokens.aclose()
        self.plaid.close()
        self.pages.close()
        await self.kafka.aclose()
        await self.pool.close()


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        call_backoff=Backoff(base=0.5, cap=20.0, max_attempts=settings.call_attempts),
        rate_limit_backoff=Backoff(base=2.0, cap=60.0, max_attempts=settings.rate_limit_attempts, floor=2.0),
        max_restarts=settings.max_pagination_restarts,
        run_backoff=Backoff(
            base=settings.run_retry_base_seconds, cap=1800.0, max_attempts=settings.run_attempts
        ),
    )


async def bootstrap(
    settings: Settings, *, tokens: TokenProvider | None = None, policy: RetryPolicy | None = None
) -> Container:
    """Wire the service. `tokens`/`policy` replace the link-svc client and the retry timings (tests)."""
    metrics = Metrics(create_registry())
    dsn, schema, prefix = (
        settings.database_url.get_secret_value(),
        settings.schema_name,
        settings.topic_prefix,
    )
    topics = [TopicSpec(prefix + t, settings.topic_partitions) for t in (*PRODUCED_TOPICS, *CONSUMED_TOPICS)]
    pool = await service_pool(settings, max_size=settings.max_concurrent_syncs + 6)
    producer = create_producer(settings.kafka_bootstrap_servers, client_id=settings.service_name)
    plaid = PlaidSyncClient(
        host=settings.plaid_base_url or PLAID_HOSTS.get(settings.plaid_env, ""),
        client_id=settings.plaid_client_id,
        secret=settings.plaid_secret.get_secret_value(),
        timeout_seconds=settings.plaid_timeout_seconds,
        max_threads=settings.max_concurrent_syncs,
        initial_days_requested=settings.plaid_initial_days_requested,
    )
    tokens = tokens or HttpTokenProvider(settings.link_svc_url, settings.link_svc_token.get_secret_value())
    worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    repo = SyncRepository(pool, worker=worker, lease_seconds=settings.lease_seconds, topic_prefix=prefix)
    pages = PageBuilder(settings.page_processes if settings.role != "relay" else 0)
    policy = policy or retry_policy(settings)
    syncer = ItemSyncer(
        repo,
        plaid,
        tokens,
        metrics,
        policy,
        pages=pages,
        pacer=SyncCallPacer(
            pool,
            per_item=settings.plaid_sync_calls_per_window,
            per_client=settings.plaid_client_sync_calls_per_window,
            window=settings.plaid_sync_window_seconds,
            call_timeout=settings.plaid_timeout_seconds,
        ),
        not_ready_retry_seconds=settings.not_ready_retry_seconds,
    )
    scheduler = SyncScheduler(
        SchedulerConfig(
            channel=f"{schema}_sync_wanted",
            max_concurrent=settings.max_concurrent_syncs,
            poll_interval=settings.poll_interval_seconds,
            quiet_after_seconds=settings.quiet_after_seconds,
            quiet_check_interval=settings.quiet_check_interval_seconds,
        ),
        repo=repo,
        syncer=syncer,
        metrics=metrics,
        policy=policy,
        lease_seconds=settings.lease_seconds,
    )
    consumer = ConsumerRunner(
        ConsumerConfig(
            name=settings.consumer_group,
            topics=[prefix + t for t in CONSUMED_TOPICS],
            bootstrap_servers=settings.kafka_bootstrap_servers,
        ),
        pool=pool,
        handler=with_owners(trigger_handler(metrics)),
        producer=producer,
        metrics=metrics.pipeline,
    )
    relay = OutboxRelay(
        RelayConfig(schema=schema, batch_size=settings.relay_batch_size),
        pool=pool,
        producer=producer,
        metrics=metrics.pipeline,
    )

    item_health = Periodic(
        "item-health",
        lambda: sample_item_health(pool, metrics),
        settings.item_health_interval_seconds,
        retry_on=(OSError, asyncpg.PostgresError, asyncpg.InterfaceError),
    )
    roles: dict[str, list[Worker]] = {
        "all": [consumer, scheduler, relay, item_health],
        "sync": [consumer, scheduler, item_health],
        "relay": [relay],
    }

    async def prepare() -> list[Worker]:
        await migrate_service(dsn, schema, "sync_worker")
        await ensure_topics(settings.kafka_bootstrap_servers, topics)
        await producer.start()
        await pages.start()
        return roles[settings.role]

    kafka = kafka_check(settings.kafka_bootstrap_servers)
    supervisor = Supervisor(prepare)
    readiness: dict[str, ReadinessCheck] = {
        "postgres": postgres_check(pool),
        "kafka": kafka,
        "workers": workers_check(supervisor),
    }
    app = create_app(settings, metrics, readiness, pool)
    return Container(
        settings=settings,
        metrics=metrics,
        pool=pool,
        kafka=kafka,
        app=app,
        producer=producer,
        plaid=plaid,
        pages=pages,
        tokens=tokens,
        repo=repo,
        scheduler=scheduler,
        consumer=consumer,
        relay=relay,
        supervisor=supervisor,
    )
