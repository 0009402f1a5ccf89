"""ensure_topics: a consumer subscribing right after it returns gets every partition of what it created."""

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from bankstream_common.kafka.topics import TopicSpec, ensure_topics

pytestmark = pytest.mark.integration


async def test_a_consumer_subscribing_right_after_creation_sees_every_created_partition(
    kafka_bootstrap_servers: str, uid: str
) -> None:
    # several topics at once, as a service's start-up creates them: the broker's metadata lags behind
    names = [f"test.visible.{uid}.{n}" for n in range(20)]
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap_servers)
    await admin.start()
    try:  # the broker's metadata has them, each partition with a leader, the moment ensure_topics returns
        created = await ensure_topics(kafka_bootstrap_servers, [TopicSpec(n, partitions=6) for n in names])
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    assert {t["topic"]: t["error_code"] for t in described} == dict.fromkeys(names, 0)
    assert all(len([p for p in t["partitions"] if p["leader"] >= 0]) == 6 for t in described)
    consumer = AIOKafkaConsumer(
        *names,
        bootstrap_servers=kafka_bootstrap_servers,
        group_id=f"test-visible-{uid}",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        for _ in range(300):
            if consumer.assignment():
                break
            await asyncio.sleep(0.05)
        assert {tp.topic for tp in consumer.assignment()} == set(names)
        assert len(consumer.assignment()) == 6 * len(names)
    finally:
        await consumer.stop()
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap_servers)
        await admin.start()
        try:
            await admin.delete_topics(created)
        finally:
            await admin.close()
