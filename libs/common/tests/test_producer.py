"""The memoised partitioner chooses exactly the partition Kafka's default partitioner does."""

import os

from aiokafka.partitioner import DefaultPartitioner
from bankstream_common.kafka.producer import partition_for


def test_same_partition_as_the_default_partitioner() -> None:
    partitions = list(range(6))
    keys = [os.urandom(n) for n in range(1, 60)] + [f"acct-{i}".encode() for i in range(500)]
    for key in keys * 2:  # the second pass is served from the memo
        assert partition_for(key, partitions, partitions) == DefaultPartitioner()(key, partitions, partitions)


def test_keyless_records_go_to_an_available_partition() -> None:
    assert partition_for(None, [0, 1, 2], [1]) == 1
