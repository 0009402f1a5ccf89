"""The one place categorizer builds its clients and wires them together."""

from dataclasses import dataclass

import asyncpg
from bankstream_common.db import create_pool
from bankstream_common.metrics import create_registry
from bankstream_common.readiness import KafkaCheck, kafka_check, postgres_check
from bankstream_common.runtime import Service
from fastapi import FastAPI

from .config import Settings
from .entrypoints.http import create_app
from .metrics import Metrics

SCHEMA = "categorizer"


@dataclass
class Container:
    settings: Settings
    metrics: Metrics
    pool: asyncpg.Pool
    kafka: KafkaCheck
    app: FastAPI

    def service(self) -> Service:
        return Service(
            app=self.app,
            host=self.settings.http_host,
            port=self.settings.http_port,
            aclose=self.aclose,
            grace_seconds=self.settings.shutdown_grace_seconds,
        )

    async def aclose(self) -> None:
        await self.kafka.aclose()
        await self.pool.close()


async def bootstrap(settings: Settings) -> Container:
    metrics = Metrics(create_registry())
    # min_size=0: the process starts (and answers /healthz, and /readyz 503) while PostgreSQL is away
    pool = await create_pool(
        settings.database_url.get_secret_value(),
        schema=SCHEMA,
        application_name=settings.service_name,
        min_size=0,
    )
    kafka = kafka_check(settings.kafka_bootstrap_servers)
    app = create_app(settings, metrics, {"postgres": postgres_check(pool), "kafka": kafka})
    return Container(settings=settings, metrics=metrics, pool=pool, kafka=kafka, app=app)
