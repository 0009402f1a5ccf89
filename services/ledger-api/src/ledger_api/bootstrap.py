"""The one place ledger-api builds its clients and wires them together.

    bankstream.items, .accounts, .sync-runs, .categorized-transactions
        ──BatchConsumerRunner (group `ledger-api`)──► handlers.projections ──► PostgreSQL (the ledger)
    HTTP API (reads; edits and refreshes) ──handlers──► PostgreSQL (ledger tables, changes) + outbox
    POST /v1/imports ──ImportRunner (batches)──► import_rows + outbox
    outbox ──relay──► bankstream.category-overrides, bankstream.sync-requests,
                      bankstream.imported-transactions (the categorizer enriches them, ADR 0013)

The process answers /healthz at once; its `Supervisor` prepares what needs PostgreSQL and Kafka
(migrations, topics, the producer), retrying while they are away, then runs the projections and the relay.
"""

import asyncio
import contextlib
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaProducer
from bankstream_common.auth import authenticator_from
from bankstream_common.db import service_pool
from bankstream_common.kafka.batch_consumer import BatchConsumerRunner
from bankstream_common.kafka.consumer import ConsumerConfig
from bankstream_common.kafka.producer import create_producer
from bankstream_common.kafka.topics import TopicSpec, ensure_topics
from bankstream_common.metrics import create_registry
from bankstream_common.migrations import migrate_service
from bankstream_common.outbox_relay import OutboxRelay, RelayConfig
from bankstream_common.readiness import KafkaCheck, kafka_check, postgres_check, workers_check
from bankstream_common.runtime import Service, Supervisor, Worker
from fastapi import FastAPI

from . import handlers
from .config import Settings
from .domain import categories, imported
from .domain import events as ev
from .domain.consumed import CONSUMED_TOPICS
from .entrypoints.http import create_app
from .handlers.imports import ImportRunner
from .handlers.projections import Projections, decode
from .metrics import Metrics

# What ledger-api publishes (through its outbox): user edits for the categorizer, on-demand syncs.
PRODUCED_TOPICS = (ev.TOPIC_CATEGORY_OVERRIDES, ev.TOPIC_SYNC_REQUESTS, imported.TOPIC_IMPORTED)


class Streams:
    """A worker that does nothing but end the open SSE streams when the process stops (uvicorn waits for
    open connections before its own shutdown, so the streams must be told first)."""

    def __init__(self, stopping: asyncio.Event) -> None:
        self._stopping = stopping

    async def run(self) -> None:
        await self._stopping.wait()

    def stop(self) -> None:
        self._stopping.set()


def background(settings: Settings, deps: handlers.Deps, producer: AIOKafkaProducer) -> Supervisor:
    """Prepare (retrying while PostgreSQL or Kafka are away), then run the projections and the relay."""
    s, metrics = settings, deps.metrics

    async def prepare() -> list[Worker]:
        await migrate_service(s.database_url.get_secret_value(), s.schema_name, "ledger_api")
        await ensure_topics(
            s.kafka_bootstrap_servers,
            [
                TopicSpec(s.topic_prefix + t, partitions=s.topic_partitions)
                for t in (*PRODUCED_TOPICS, *CONSUMED_TOPICS)
            ],
        )
        await producer.start()
        projections = BatchConsumerRunner(
            ConsumerConfig(
                name=s.consumer_group,
                topics=[s.topic_prefix + t for t in CONSUMED_TOPICS],
                bootstrap_servers=s.kafka_bootstrap_servers,
                max_records=s.projection_max_records,
            ),
            pool=deps.pool,
            handler=Projections(metrics),
            producer=producer,
            metrics=metrics.pipeline,
            decode=decode,
        )
        relay = OutboxRelay(
            RelayConfig(schema=s.schema_name), pool=deps.pool, producer=producer, metrics=metrics.pipeline
        )
        return [projections, relay, ImportRunner(deps)]

    return Supervisor(prepare)


@dataclass
class Container:
    settings: Settings
    metrics: Metrics
    pool: asyncpg.Pool
    kafka: KafkaCheck
    app: FastAPI
    deps: handlers.Deps
    background: Supervisor
    streams: Streams
    producer: AIOKafkaProducer

    def service(self) -> Service:
        return Service.of(self.settings, self.app, [self.background, self.streams], self.aclose)

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):  # never started when PostgreSQL or Kafka never answered
            await self.producer.stop()
        await self.kafka.aclose()
        await self.pool.close()


async def bootstrap(settings: Settings) -> Container:
    metrics = Metrics(create_registry())
    authenticator = authenticator_from(settings)
    pool = await service_pool(settings, max_size=settings.db_pool_size)
    deps = handlers.Deps(
        settings=settings,
        pool=pool,
        metrics=metrics,
        taxonomy=categories.load(),
        topic_prefix=settings.topic_prefix,
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
        streams=Streams(deps.stopping),
        producer=producer,
    )
