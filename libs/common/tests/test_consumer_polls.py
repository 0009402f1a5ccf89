"""How the consumer runner chains a partition's batches when polls overlap (kafka/consumer.py): the rules
alone, without a broker. The runner's batch work (`_process_partition`) is replaced by a recorder; the
scheduling around it (`_schedule`, `_after`, the rebalance generation) is the runner's own. The same
rules under a real broker and rebalances: test_consumer_runner.py and test_batch_consumer.py."""

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiokafka import TopicPartition
from bankstream_common.kafka.consumer import ConsumerConfig, ConsumerRunner, Record
from bankstream_common.pipeline_metrics import PipelineMetrics

TP = TopicPartition("t", 0)


class Recorder(ConsumerRunner):
    """Each batch is a list of names; a batch named "early" ends early (as a stop or a revoke does), a
    batch named "wait" waits for `gate`."""

    def __init__(self, metrics: PipelineMetrics) -> None:
        config = ConsumerConfig(name="g", topics=["t"], bootstrap_servers="127.0.0.1:1")
        super().__init__(config, pool=None, handler=None, producer=None, metrics=metrics)  # type: ignore[arg-type]
        self.log: list[str] = []
        self.gate = asyncio.Event()

    async def _process_partition(self, tp: TopicPartition, records: list[Record]) -> bool:
        name = str(records[0])
        self.log.append(f"start {name}")
        if name == "wait":
            await self.gate.wait()
        self.log.append(f"end {name}")
        return name != "early"


@pytest.fixture
async def runner(metrics: PipelineMetrics) -> AsyncIterator[Recorder]:
    r = Recorder(metrics)
    yield r
    await r._consumer.stop()  # never started: only its client is closed


async def test_a_partitions_batches_run_one_after_the_other_in_poll_order(runner: Recorder) -> None:
    first = runner._schedule(TP, ["wait"])  # type: ignore[list-item]
    second = runner._schedule(TP, ["next"])  # type: ignore[list-item]
    other = runner._schedule(TopicPartition("t", 1), ["other"])  # type: ignore[list-item]
    await other  # another partition does not wait for this one
    assert runner.log == ["start wait", "start other", "end other"]
    runner.gate.set()
    assert await asyncio.gather(first, second) == [True, True]
    assert runner.log[3:] == ["end wait", "start next", "end next"]


async def test_a_batch_never_follows_one_that_ended_early_in_the_same_generation(runner: Recorder) -> None:
    early = runner._schedule(TP, ["early"])  # type: ignore[list-item]
    gap = runner._schedule(TP, ["gap"])  # type: ignore[list-item]
    assert await asyncio.gather(early, gap) == [False, False]
    assert runner.log == ["start early", "end early"]  # "gap" would have left records behind the offset


async def test_after_a_rebalance_batches_fetched_before_it_are_skipped_and_those_fetched_after_run(
    runner: Recorder,
) -> None:
    held = runner._schedule(TP, ["wait"])  # type: ignore[list-item]
    stale = runner._schedule(TP, ["stale"])  # type: ignore[list-item]
    await asyncio.sleep(0)  # "wait" is being applied
    runner._generation += 1  # a rebalance: the consumer fetches again from the committed offset
    fresh = runner._schedule(TP, ["fresh"])  # type: ignore[list-item]
    runner.gate.set()
    assert await asyncio.gather(held, stale, fresh) == [True, False, True]
    assert runner.log == ["start wait", "end wait", "start fresh", "end fresh"]


async def test_a_batch_fetched_before_a_rebalance_is_skipped_even_with_nothing_ahead_of_it(
    runner: Recorder,
) -> None:
    stale = runner._schedule(TP, ["stale"])  # type: ignore[list-item]
    runner._generation += 1  # before the batch started
    assert await stale is False
    assert runner.log == []


async def test_a_batch_after_one_that_failed_or_was_cancelled_runs_only_in_a_new_generation(
    runner: Recorder,
) -> None:
    failing = runner._schedule(TP, ["wait"])  # type: ignore[list-item]
    follower = runner._schedule(TP, ["follower"])  # type: ignore[list-item]
    await asyncio.sleep(0)
    failing.cancel()
    assert await follower is False
    runner._generation += 1
    assert await runner._schedule(TP, ["fresh"]) is True  # type: ignore[list-item]
    assert runner.log == ["start wait", "start fresh", "end fresh"]


async def test_a_poll_waiting_behind_the_one_before_it_is_not_counted_as_held_for_that_time(
    runner: Recorder,
) -> None:
    """A backlog where each batch takes less than stall_seconds is consuming: the poll read right after
    another is in hand only from when that one ended (its batches waited for the other's)."""
    now = time.monotonic()
    runner.started.set()
    runner._last_poll = now
    stall = runner.config.stall_seconds
    waiting: asyncio.Future[list[bool]] = asyncio.get_running_loop().create_future()
    runner._in_flight.append((now - 1.5 * stall, waiting))  # read 1.5 stalls ago, behind a poll ...
    runner._poll_ended = now - 0.5 * stall  # ... that ended half a stall ago
    assert runner.health() is None
    runner._poll_ended = now - 1.2 * stall  # a batch of its own longer than stall_seconds
    assert runner.health() == f"consumer g: a poll has been in hand for {1.2 * stall:.0f} s"
    waiting.cancel()


async def test_cancelling_the_batches_reaches_those_a_later_batch_waits_behind(runner: Recorder) -> None:
    """When `run` ends by a failure, every batch still running is cancelled: the partition's latest one,
    and the earlier one it is chained behind (a batch waiting for another does not cancel it)."""
    first = runner._schedule(TP, ["wait"])  # type: ignore[list-item]
    second = runner._schedule(TP, ["next"])  # type: ignore[list-item]
    await asyncio.sleep(0)
    await runner._cancel_batches()
    assert first.cancelled() and second.cancelled()
    assert runner.log == ["start wait"]
    assert not runner._batches
