"""The one place categorizer builds its clients and wires them together.

    bankstream.transactions, bankstream.items, bankstream.category-overrides,
    bankstream.imported-transactions (CSV imports, TransactionChanged from ledger-api)
        ──consumer (inbox)──► handlers.stream / corrections ──► PostgreSQL + outbox
    rules API ──► rules + a job;  JobRunner ──batches──► PostgreSQL + outbox
    outbox ──relay──► bankstream.categorized-transactions

The process answers /healthz at once; its `Supervisor` prepares what needs PostgreSQL and Kafka (migrations,
topics, the producer), retrying while they are away, then runs the relay, the consumer and the job runner
(which resumes, after a restart, the jobs a crash interrupted).
"""

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaProducer
from bankstream_common.auth import authenticator_from
from bankstream_common.db import service_pool
from bankstream_common.envelope import Envelope
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
from .domain import events as ev
from .domain.model import MODEL_NAME, default_model
from .entrypoints.http import create_app
from .handlers import stream
from .handlers.jobs import JobRunner
from .metrics import Metrics

PRODUCED_TOPICS = (ev.TOPIC_CATEGORIZED,)
CONSUMED_TOPICS = (ev.TOPIC_TRANSACTIONS, ev.TOPIC_ITEMS, ev.TOPIC_OVERRIDES, ev.TOPIC_IMPORTED)


def background(settings: Settings, deps: handlers.Deps, producer: AIOKafkaProducer) -> Supervisor:
    s = settings

    async def on_events(conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        await stream.on_events(deps, conn, events)

    async def prepare() -> list[Worker]:
        await migrate_service(s.database_url.get_secret_value(), s.schema_name, "categorizer")
        await ensure_topics(
            s.kafka_bootstrap_servers,
            [
                TopicSpec(s.topic_prefix + t, partitions=s.topic_partitions)
                for t in (*PRODUCED_TOPICS, *CONSUMED_TOPICS)
            ],
        )
        await producer.start()
        relay = OutboxRelay(
            RelayConfig(schema=s.schema_name),
            pool=deps.pool,
            producer=producer,
            metrics=deps.metrics.pipeline,
        )
        consumer = BatchConsumerRunner(
            ConsumerConfig(
                name=s.consumer_group,
                topics=[s.topic_prefix + t for t in CONSUMED_TOPICS],
                bootstrap_servers=s.kafka_bootstrap_servers,
                max_records=s.consumer_max_records,
            ),
            pool=deps.pool,
            handler=on_events,
            producer=producer,
            metrics=deps.metrics.pipeline,
            decode=stream.decode,
        )
        return [relay, consumer, JobRunner(deps)]

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
    producer: AIOKafkaProducer

    def service(self) -> Service:
        return Service.of(self.settings, self.app, [self.background], self.aclose)

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
        model=default_model(),  # the same instance normalize_description uses: loaded once
        metrics=metrics,
        model_name=MODEL_NAME,
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
        producer=producer,
    )
