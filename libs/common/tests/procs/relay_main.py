"""A relay process for the crash tests: `relay_main.py DSN SCHEMA BOOTSTRAP BATCH` runs until killed."""

import asyncio
import sys

from bankstream_common.db import create_pool
from bankstream_common.kafka.producer import create_producer
from bankstream_common.outbox_relay import OutboxRelay, RelayConfig
from bankstream_common.pipeline_metrics import PipelineMetrics
from prometheus_client import CollectorRegistry


async def main(dsn: str, schema: str, bootstrap: str, batch: int) -> None:
    pool = await create_pool(dsn, schema=schema)
    producer = create_producer(bootstrap, client_id="relay-crash-test")
    await producer.start()
    relay = OutboxRelay(
        RelayConfig(schema=schema, batch_size=batch, poll_interval=0.05),
        pool=pool,
        producer=producer,
        metrics=PipelineMetrics("t", CollectorRegistry()),
    )
    print("relay started", flush=True)
    await relay.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
