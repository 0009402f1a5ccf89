"""The local infrastructure really starts, answers and stops, and says so in one line when it cannot."""

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from bankstream_devstack import processes
from bankstream_devstack.errors import DevstackError
from bankstream_devstack.kafka import KafkaBroker, new_cluster_id

pytestmark = pytest.mark.integration


async def test_broker_round_trip(kafka_bootstrap_servers: str) -> None:
    topic = f"devstack.roundtrip.{uuid.uuid4().hex[:8]}"  # a reused broker keeps earlier runs' records
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers, enable_idempotence=True)
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, b"hello", key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=f"devstack-test-{topic}",
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 20)
    finally:
        await consumer.stop()
    assert (record.value, record.partition, record.offset) == (b"hello", meta.partition, meta.offset)


async def test_postgres_round_trip(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("select 40 + 2") == 42
        assert (await conn.fetchval("show server_version")).split(".")[0] in {"15", "16", "17"}
    finally:
        await conn.close()


def test_cluster_ids_are_valid() -> None:
    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


def test_taken_port_is_one_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        broker = KafkaBroker(tmp_path, port, processes.free_port())
        with pytest.raises(DevstackError, match=f"port {port} for Kafka is already taken"):
            broker.start()


def test_missing_java_is_one_line_and_nonzero(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": str(tmp_path),
        "BANKSTREAM_STATE_DIR": str(tmp_path / "state"),
        "BANKSTREAM_CACHE_DIR": str(tmp_path / "cache"),
        "DATABASE_URL": "postgresql://x@127.0.0.1:1/x",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bankstream_devstack", "up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "java not found" in done.stderr
