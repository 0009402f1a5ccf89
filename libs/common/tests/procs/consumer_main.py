"""A consumer process for the crash tests.

`consumer_main.py DSN SCHEMA BOOTSTRAP TOPIC GROUP KILL_AT` applies events by adding their `amount` to a
per-key total (an effect that is NOT idempotent by itself), and, when KILL_AT >= 0, SIGKILLs itself right
after the database transaction of its KILL_AT-th event committed and before any offset commit.
"""

import asyncio
import os
import signal
import sys

import asyncpg
from bankstream_common.db import create_pool
from bankstream_common.envelope import Envelope
from bankstream_common.kafka.consumer import ConsumerConfig, ConsumerRunner
from bankstream_common.kafka.producer import create_producer
from bankstream_common.pipeline_metrics import PipelineMetrics
from prometheus_client import CollectorRegistry


class KillingRunner(ConsumerRunner):
    kill_at = -1
    applied = 0

    async def _apply(self, event: Envelope) -> bool:
        result = await super()._apply(event)  # the transaction has committed when this returns
        self.applied += 1
        if self.applied == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return result


async def handler(conn: asyncpg.Connection, event: Envelope) -> None:
    await conn.execute(
        "INSERT INTO totals (key, total, n) VALUES ($1, $2, 1) "
        "ON CONFLICT (key) DO UPDATE SET total = totals.total + $2, n = totals.n + 1",
        event.subject,
        event.data["amount"],
    )


async def main(dsn: str, schema: str, bootstrap: str, topic: str, group: str, kill_at: int) -> None:
    pool = await create_pool(dsn, schema=schema)
    producer = create_producer(bootstrap, client_id=group)
    await producer.start()
    KillingRunner.kill_at = kill_at
    runner = KillingRunner(
        ConsumerConfig(
            name=group,
            topics=[topic],
            bootstrap_servers=bootstrap,
            max_records=50,
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
        ),
        pool=pool,
        handler=handler,
        producer=producer,
        metrics=PipelineMetrics("t", CollectorRegistry()),
    )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, runner.stop)
    await runner.run()
    await producer.stop()
    await pool.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6], int(sys.argv[6])))
