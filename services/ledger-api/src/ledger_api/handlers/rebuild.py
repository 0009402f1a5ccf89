"""The ledger rebuilt from its topics into a fresh schema, then the live one corrected from it
(`bankstream ledger rebuild` and `bankstream ledger swap`; docs/operations.md, "Rebuild the ledger").

    rebuild   the projections, as the service runs them (handlers.projections), under a consumer group of
              their own, from each topic's first offset into `<schema>_rebuild`, up to the ends the topics
              had when it started. The live ledger keeps serving meanwhile. Crash-safe and resumable: the
              rebuild is a consumer like any other (inbox, offsets after commit); run it again to go on.
    swap      with the ledger-api stopped (its group, and the rebuild's, must be empty): the rebuild
              catches up with the topics' ends (past every offset the live group committed), then ONE
              PostgreSQL transaction corrects the live schema from the rebuilt one, in place
              (adapters.rebuild_store.swap: its cost follows the differences), then the live group's
              offsets move to where the rebuild stopped, so the restarted service goes on from there. A
              crash between the two leaves the group behind: the restarted service re-reads what the
              rebuild applied, and the inbox (which took the rebuild's entries) skips it.

What retention deleted cannot be rebuilt: the rebuild reports, per topic, how many events are gone, and
the swap refuses then unless the operator accepts the gaps (what only those events told is then kept
from the live rows). ADR 0019.
"""

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import asyncpg
import structlog
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from bankstream_common.db import SCHEMA_NAME, check_schema, create_pool
from bankstream_common.kafka.batch_consumer import BatchConsumerRunner
from bankstream_common.kafka.consumer import ConsumerConfig
from bankstream_common.kafka.groups import Groups, TopicRetention
from bankstream_common.kafka.producer import create_producer
from bankstream_common.metrics import create_registry
from bankstream_common.migrations import migrate_service

from ..adapters import rebuild_store as store
from ..domain.consumed import CONSUMED_TOPICS
from ..metrics import Metrics
from .projections import Projections, decode

log = structlog.get_logger(__name__)

Progress = Callable[[int, int], None]  # (events done, events to do)
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Ledger:
    """Where the live ledger is, and how its projections consume."""

    database_url: str
    kafka: str
    schema: str = "ledger_api"
    group: str = "ledger-api"
    topic_prefix: str = ""
    max_records: int = 2000

    @property
    def target(self) -> str:
        return check_schema(f"{self.schema}_rebuild")

    @property
    def topics(self) -> list[str]:
        return [self.topic_prefix + t for t in CONSUMED_TOPICS]


@dataclass(frozen=True)
class Gap:
    topic: str
    deleted: int  # events before the partitions' first offsets: gone, by retention or deletion
    retention: TopicRetention


@dataclass(frozen=True)
class RebuildReport:
    schema: str
    consumer_group: str
    resumed: bool
    events: int  # offsets the rebuild went through in this run
    dead_lettered: int  # events its projections refused (to `<topic>.dlq`, consumer = its group)
    gaps: list[Gap]
    rows: dict[str, int]  # rows of each projected table in the rebuilt schema


@dataclass(frozen=True)
class SwapReport:
    rebuild: RebuildReport  # the catch-up made before the swap
    swap: store.SwapReport
    offsets_moved: int  # partitions of the live group moved forward to the rebuild's offsets
    offsets_note: str | None  # why they were not, when they could not be (the swap itself went through)


Refused = store.Refused  # what was asked cannot be done, and why (nothing was changed)


async def rebuild(
    ledger: Ledger, *, fresh: bool = False, on_progress: Progress | None = None
) -> RebuildReport:
    """Rebuild into `<schema>_rebuild` up to the topics' ends now (see the module's docstring)."""
    conn = await asyncpg.connect(ledger.database_url)
    try:
        origin, resumed = await _prepare(conn, ledger, fresh)
    finally:
        await conn.close()
    async with Groups(ledger.kafka, client_id=f"{origin.consumer_group}-admin") as kafka:
        if members := await kafka.members(origin.consumer_group):
            raise Refused(
                f"consumer group {origin.consumer_group} has {members} members: the rebuild runs already"
            )
        partitions = await kafka.partitions(ledger.topics)
        return await _run(ledger, origin, kafka, await kafka.end_offsets(partitions), resumed, on_progress)


async def swap(
    ledger: Ledger, *, accept_gaps: bool = False, on_progress: Progress | None = None
) -> SwapReport:
    """Swap the rebuilt schema in (see the module's docstring); the ledger-api must be stopped."""
    kept_as = f"{ledger.schema}_rebuilt_{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}"
    if not SCHEMA_NAME.match(kept_as):
        raise Refused(f"schema {ledger.schema!r} is too long to keep as {kept_as!r}: rename it first")
    conn = await asyncpg.connect(ledger.database_url)
    try:
        origin = await _origin(conn, ledger)
        await store.check_migrations(conn, ledger.schema, ledger.target)
    finally:
        await conn.close()
    async with Groups(ledger.kafka, client_id=f"{origin.consumer_group}-admin") as kafka:
        await _standing_still(kafka, ledger, origin)
        partitions = await kafka.partitions(ledger.topics)
        gaps = await _gaps(kafka, ledger.topics, await kafka.start_offsets(partitions))
        if gaps and not accept_gaps:
            raise Refused(
                "events are gone from "
                + ", ".join(f"{g.topic} ({g.deleted})" for g in gaps)
                + ": what only they told cannot be rebuilt. --accept-gaps swaps anyway, keeping the live "
                "rows' values for it (and the rows only the live ledger has)"
            )
        live = await kafka.committed(ledger.group, partitions)
        # Everything the live ledger applied must be in the rebuilt one before it takes its place: the
        # topics' ends now are at or past the live group's offsets (they stand still: it is stopped).
        caught_up = await _run(ledger, origin, kafka, await kafka.end_offsets(partitions), True, on_progress)
        done = await kafka.committed(origin.consumer_group, partitions)
        await _standing_still(kafka, ledger, origin)  # again: the catch-up may have taken a while
        conn = await asyncpg.connect(ledger.database_url)
        try:
            async with conn.transaction():
                swapped = await store.swap(
                    conn, source=ledger.schema, target=ledger.target, kept_as=kept_as,
                    live_group=ledger.group, origin=origin, gaps=bool(gaps),
                    live_offsets=[(tp.topic, tp.partition, live[tp]) for tp in partitions],
                )  # fmt: skip
        finally:
            await conn.close()
        log.info("ledger swapped", schema=ledger.schema, kept_as=kept_as)
        forward = {tp: o for tp, o in done.items() if o is not None and o > (live[tp] or 0)}
        try:
            if forward:
                await kafka.move(ledger.group, forward)
        except KafkaError as exc:
            note = (
                f"the consumer group's offsets were not moved ({type(exc).__name__}): safe, the restarted "
                "service re-reads what the rebuild applied and its inbox skips it"
            )
            return SwapReport(caught_up, swapped, 0, note)
        return SwapReport(caught_up, swapped, len(forward), None)


async def _origin(conn: asyncpg.Connection, ledger: Ledger) -> store.Origin:
    origin = await store.read_origin(conn, ledger.target)
    if origin is None:
        raise Refused(
            f"no rebuild in {ledger.target} (a swap that went through leaves none): "
            "`bankstream ledger rebuild` makes one"
        )
    return origin


async def _standing_still(kafka: Groups, ledger: Ledger, origin: store.Origin) -> None:
    """Nobody consumes with the live group (the ledger-api is stopped) nor with the rebuild's (no other
    `bankstream ledger` runs it)."""
    for group, who in (
        (ledger.group, "stop the ledger-api (every replica)"),
        (origin.consumer_group, "another `bankstream ledger` command runs this rebuild"),
    ):
        members = await kafka.members(group)
        if members:
            raise Refused(f"consumer group {group} has {members} members: {who} first")


@dataclass(frozen=True)
class Status:
    """A rebuild as `ledger swap --dry-run` shows it: what a swap now would do, or why it would refuse."""

    schema: str
    consumer_group: str
    behind_live: int  # events the live group applied that the rebuild has not (the swap catches up)
    behind_end: int  # events on the topics the rebuild has not read yet
    rows: dict[str, int]  # rows of each projected table, rebuilt
    live_rows: dict[str, int]  # and live
    gaps: list[Gap]
    refusal: str | None  # why a swap now would refuse (gaps apart: --accept-gaps)


async def status(ledger: Ledger) -> Status:
    refusal = None
    conn = await asyncpg.connect(ledger.database_url)
    try:
        origin = await _origin(conn, ledger)
        rows = await store.row_counts(conn, ledger.target)
        live_rows = await store.row_counts(conn, ledger.schema)
        try:
            await store.check_migrations(conn, ledger.schema, ledger.target)
        except Refused as exc:
            refusal = str(exc)
    finally:
        await conn.close()
    async with Groups(ledger.kafka, client_id=f"{origin.consumer_group}-admin") as kafka:
        try:
            await _standing_still(kafka, ledger, origin)
        except Refused as exc:
            refusal = refusal or str(exc)
        partitions = await kafka.partitions(ledger.topics)
        live = await kafka.committed(ledger.group, partitions)
        mine = await kafka.committed(origin.consumer_group, partitions)
        ends = await kafka.end_offsets(partitions)
        starts = await kafka.start_offsets(partitions)
        at = {tp: max(mine[tp] or 0, starts[tp]) for tp in partitions}
        return Status(
            schema=ledger.target,
            consumer_group=origin.consumer_group,
            behind_live=sum(max((live[tp] or 0) - at[tp], 0) for tp in partitions),
            behind_end=sum(max(ends[tp] - at[tp], 0) for tp in partitions),
            rows=rows,
            live_rows=live_rows,
            gaps=await _gaps(kafka, ledger.topics, starts),
            refusal=refusal,
        )


async def _prepare(conn: asyncpg.Connection, ledger: Ledger, fresh: bool) -> tuple[store.Origin, bool]:
    """The rebuild to go on with, or a new one in a fresh schema; migrated as the service's either way (a
    crash may have stopped a migration half-way)."""
    if not await store.schema_exists(conn, ledger.schema):
        raise Refused(f"no live ledger in schema {ledger.schema}")
    origin = await store.read_origin(conn, ledger.target)
    resumed = origin is not None and not fresh
    if not resumed:
        if origin is None and await store.schema_exists(conn, ledger.target):
            raise Refused(
                f"schema {ledger.target} exists and is not a rebuild: drop it or choose another schema"
            )
        await store.drop_schema(conn, ledger.target)
        # The origin first: whatever happens next, the schema says it is a rebuild (and whose group).
        # A group of its own each time: a fresh rebuild never inherits an abandoned one's offsets.
        origin = store.Origin(f"{ledger.group}-rebuild-{int(time.time())}", ledger.schema)
        await conn.execute(f"CREATE SCHEMA {ledger.target}")
        await store.create_origin(conn, ledger.target, origin)
    assert origin is not None
    await migrate_service(conn, ledger.target, "ledger_api")
    return origin, resumed


async def _run(
    ledger: Ledger,
    origin: store.Origin,
    kafka: Groups,
    until: Mapping[TopicPartition, int],
    resumed: bool,
    on_progress: Progress | None,
) -> RebuildReport:
    """Run the projections under the rebuild's group into its schema until its committed offsets reach
    `until` on every partition."""
    partitions = list(until)
    starts = await kafka.start_offsets(partitions)
    first = await kafka.committed(origin.consumer_group, partitions)
    begun = {tp: max(first[tp] or 0, starts[tp]) for tp in partitions}
    total = sum(max(until[tp] - begun[tp], 0) for tp in partitions)
    metrics = Metrics(create_registry())
    pool = await create_pool(
        ledger.database_url, schema=ledger.target, application_name=origin.consumer_group
    )
    producer = create_producer(ledger.kafka, client_id=origin.consumer_group)  # dead letters only
    runner = BatchConsumerRunner(
        ConsumerConfig(
            name=origin.consumer_group,
            topics=ledger.topics,
            bootstrap_servers=ledger.kafka,
            max_records=ledger.max_records,
        ),
        pool=pool,
        handler=Projections(metrics),
        producer=producer,
        metrics=metrics.pipeline,
        decode=decode,
    )
    done = 0
    try:
        await producer.start()
        running = asyncio.create_task(runner.run(), name="ledger-rebuild")
        try:
            while True:
                now = await kafka.committed(origin.consumer_group, partitions)
                done = sum(min(max((now[tp] or 0) - begun[tp], 0), until[tp] - begun[tp]) for tp in partitions
                           if until[tp] > begun[tp])  # fmt: skip
                if on_progress:
                    on_progress(done, total)
                if all((now[tp] or 0) >= until[tp] or until[tp] <= starts[tp] for tp in partitions):
                    break
                if running.done():
                    running.result()  # raises what stopped it
                    raise RuntimeError("the rebuild's consumer stopped")
                await asyncio.sleep(POLL_SECONDS)
        finally:
            runner.stop()
            await running
        async with pool.acquire() as conn:
            rows = await store.row_counts(conn, ledger.target)
        return RebuildReport(
            schema=ledger.target,
            consumer_group=origin.consumer_group,
            resumed=resumed,
            events=done,
            dead_lettered=_dead_lettered(metrics),
            gaps=await _gaps(kafka, ledger.topics, starts),
            rows=rows,
        )
    finally:
        await producer.stop()
        await pool.close()


async def _gaps(kafka: Groups, topics: list[str], starts: Mapping[TopicPartition, int]) -> list[Gap]:
    retention = {r.topic: r for r in await kafka.retention(topics)}
    deleted = {t: sum(o for tp, o in starts.items() if tp.topic == t) for t in topics}
    return [Gap(t, deleted[t], retention[t]) for t in topics if deleted[t]]


def _dead_lettered(metrics: Metrics) -> int:
    return int(
        sum(
            s.value
            for m in metrics.pipeline.consumed.collect()
            for s in m.samples
            if s.name.endswith("_total") and s.labels.get("outcome") == "dead_lettered"
        )
    )
