"""One sync run, pure: the pages a complete pagination loop collected, and the events they become.

The run's effects are decided here and written elsewhere (one transaction, through the outbox). Event ids
are deterministic, `uuid5(item_id, sync_sequence)`: a run redone after a crash, before its commit, mints the
same ids for the same changes, and a sequence number can be committed only once (the commit is fenced on
the cursor it started from), so an id never names two different changes.
"""

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pydantic_core
from bankstream_common.envelope import Envelope, describe
from pydantic import ValidationError

from . import events
from .event_check import compile_check
from .plaid_page import (
    Account,
    RemovedTransaction,
    SyncPage,
    Transaction,
    UnstorableText,
    parse_page,
    removed_transaction,
)

EVENT_ID_NAMESPACE = uuid.UUID("6f1c1d52-8a43-4a43-9d1e-3b9b2f7a5c10")

Outgoing = tuple[str, str, Envelope]  # (topic, key, event)
TRANSACTION_CHANGED_CHECK = compile_check(events.TransactionChanged)


@dataclass
class Collected:
    """One run: a pagination loop from `start_cursor` to has_more=false, turned into events page by page and
    committed page by page with its cursor (ADR 0011).

    Events are numbered from `first_sequence` on, without gaps, in the order they are committed. A loop
    carried on after a crash or a failed attempt (`resumed`) goes on from the last committed page, with the
    counts and numbering committed so far. A restart (MUTATION_DURING_PAGINATION) starts a new pass from
    `start_cursor`: what earlier passes committed stays published, the new pass's events are numbered after
    it (so they reach subscribers as newer versions of the same transactions), and the counts are the
    whole loop's. `committed_cursor` / `committed_sequence` are where the Item's row stands: every commit
    is fenced on them.
    """

    item_id: str
    run_id: str
    start_cursor: str
    first_sequence: int
    started_at: dt.datetime
    pages: int = 0
    restarts: int = 0
    added: int = 0
    modified: int = 0
    removed: int = 0
    next_cursor: str = ""
    update_status: str | None = None
    accounts: list[Account] = field(default_factory=list)
    fetched_at: dt.datetime | None = None
    not_ready: bool = False
    committed_cursor: str = ""
    committed_sequence: int = 0
    resumed: bool = False
    last_page: "PageSummary | None" = None
    last_batch: tuple[uuid.UUID, int] = (uuid.UUID(int=0), 0)  # the last page's staged batch, count

    def __post_init__(self) -> None:
        if not self.resumed:
            self.next_cursor = self.committed_cursor = self.start_cursor
            self.committed_sequence = self.first_sequence - 1

    @property
    def changes(self) -> int:
        return self.added + self.modified + self.removed

    @property
    def last_sequence(self) -> int:
        """The Item's last sequence number once what this run collected is committed."""
        return self.first_sequence - 1 + self.changes

    def add_page(self, page: "PageSummary", fetched_at: dt.datetime) -> "Checkpoint":
        """Count in a page whose events were built from sequence `first_sequence + changes` on; returns
        what committing it records."""
        self.pages += 1
        self.added += page.added
        self.modified += page.modified
        self.removed += page.removed
        self.next_cursor = page.next_cursor or self.start_cursor
        self.update_status = page.transactions_update_status
        self.accounts = page.accounts
        self.fetched_at = fetched_at
        self.last_page = page
        # NOT_READY with an empty cursor: nothing to publish, nothing to store; a webhook follows
        self.not_ready = page.not_ready and not page.next_cursor
        return Checkpoint(
            self.pages,
            self.restarts,
            self.next_cursor,
            self.last_sequence,
            (self.added, self.modified, self.removed),
            page.has_more and not self.not_ready,
            page,
        )

    def committed(self, checkpoint: "Checkpoint") -> None:
        self.committed_cursor, self.committed_sequence = checkpoint.cursor, checkpoint.last_sequence

    def restart(self) -> None:
        """A new pass from the start cursor (the data mutated under the loop); the committed pages stay."""
        self.next_cursor, self.update_status, self.accounts = self.start_cursor, None, []
        self.fetched_at, self.not_ready, self.last_page = None, False, None
        self.restarts += 1


@dataclass(frozen=True)
class Checkpoint:
    """A page of the loop as its commit records it: the loop's state after it, and the ids it touched."""

    page: int  # the loop's page count with it
    pass_: int  # the loop's restart count when it was fetched
    cursor: str  # the next page's cursor
    last_sequence: int
    counts: tuple[int, int, int]  # the loop's added, modified, removed with it
    has_more: bool  # False: the loop's last page, committed with the run
    summary: "PageSummary"


@dataclass(frozen=True)
class PageSummary:
    """What a page tells the run besides its events (small, crosses a process boundary)."""

    added: int
    modified: int
    removed: int
    next_cursor: str
    has_more: bool
    transactions_update_status: str
    accounts: list[Account]
    added_ids: tuple[tuple[str, str], ...] = ()  # (transaction_id, account_id) of the added
    mentioned: tuple[str, ...] = ()  # transaction ids of the modified and removed

    @property
    def not_ready(self) -> bool:
        return self.transactions_update_status == "NOT_READY"


@dataclass(frozen=True)
class BuiltPage:
    """One raw page, validated and turned into its TransactionChanged events; or why it was refused."""

    summary: PageSummary | None
    events: "list[StagedEvent]"
    error: str | None = None  # the page breaks Plaid's contract: what is wrong (field paths, no values)


def build_page(
    raw: bytes, item_id: str, run_id: str, first_sequence: int, first_position: int, now: dt.datetime
) -> BuiltPage:
    """Parse a raw /transactions/sync body and build its events: the CPU-heavy part of a run, pure, so it
    can run in a worker process (see adapters/page_builder.py). A contract breach is returned, not raised:
    Plaid's (the page) or ours (an event that is not a strict TransactionChanged)."""
    try:
        page = parse_page(raw)
    except ValidationError as exc:
        return BuiltPage(None, [], describe(exc))
    except UnstorableText as exc:
        return BuiltPage(None, [], str(exc))
    try:
        staged = transaction_events(item_id, run_id, page, first_sequence, first_position, now)
    except ValidationError as exc:
        return BuiltPage(None, [], "event contract: " + describe(exc))
    summary = PageSummary(
        len(page.added),
        len(page.modified),
        len(page.removed),
        page.next_cursor,
        page.has_more,
        page.transactions_update_status,
        page.accounts,
        tuple((t["transaction_id"], t["account_id"]) for t in page.added),
        tuple(t["transaction_id"] for t in page.modified) + tuple(r.transaction_id for r in page.removed),
    )
    return BuiltPage(summary, staged)


def vanished_events(
    collected: Collected, vanished: list[tuple[str, str]], now: dt.datetime
) -> "list[StagedEvent]":
    """A `removed` for each (transaction_id, account_id) an abandoned pass published as added and the
    final pass never mentioned, numbered after everything the run collected (and counted in it)."""
    page = SyncPage([], [], [RemovedTransaction(t, a) for t, a in vanished], [], "", False, "")
    staged = transaction_events(
        collected.item_id, collected.run_id, page, collected.last_sequence + 1, collected.changes, now
    )
    collected.removed += len(staged)
    return staged


def page_changes(page: SyncPage) -> Iterator[tuple[str, Transaction | None, str, str]]:
    """(change, transaction, transaction_id, account_id) in page order: added, modified, removed."""
    for t in page.added:
        yield "added", t, t["transaction_id"], t["account_id"]
    for t in page.modified:
        yield "modified", t, t["transaction_id"], t["account_id"]
    for r in page.removed:
        yield "removed", None, r.transaction_id, r.account_id


def event_id(item_id: str, sync_sequence: int) -> uuid.UUID:
    """`uuid5(EVENT_ID_NAMESPACE, f"{item_id}/{sync_sequence}")`."""
    return uuid.UUID(EventIds(item_id)(sync_sequence))


class EventIds:
    """uuid5 ids of one Item's events, as strings, with the SHA-1 of the common prefix computed once (hot
    path: no UUID object per event; a test holds it to `uuid.uuid5`)."""

    def __init__(self, item_id: str) -> None:
        self._prefix = hashlib.sha1(EVENT_ID_NAMESPACE.bytes + f"{item_id}/".encode(), usedforsecurity=False)

    def __call__(self, sync_sequence: int) -> str:
        digest = self._prefix.copy()
        digest.update(str(sync_sequence).encode())
        raw = bytearray(digest.digest()[:16])
        raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
        raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
        h = raw.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


StagedEvent = tuple[int, str, str, bytes]
"""One TransactionChanged, ready to stage: (sync_sequence, event_id, key = account id, envelope bytes).
A plain tuple: 500 of them cross from the page builder's process per page, and tuples pickle ~25x faster
than dataclass instances."""


def transaction_events(
    item_id: str, run_id: str, page: SyncPage, first_sequence: int, first_position: int, now: dt.datetime
) -> list[StagedEvent]:
    """One TransactionChanged per change of `page`, numbered `first_sequence`, `first_sequence + 1`, ...

    The hot path (~100,000 of them per large backfill): the data dicts come validated from `parse_page`,
    and each envelope is serialised straight from a dict by pydantic-core, in exactly the shape
    `Envelope` has (a test holds the two together). Every event's data, just before it is serialised, is
    checked strictly against `TransactionChanged` (`TRANSACTION_CHANGED_CHECK`; raises ValidationError),
    so a drift between parser and contract fails the page loudly instead of reaching subscribers. This
    runs in the page builder's processes, off the event loop.
    """
    out: list[StagedEvent] = []
    ids = EventIds(item_id)
    time = now.isoformat().replace("+00:00", "Z")
    for offset, (change, txn, transaction_id, account_id) in enumerate(page_changes(page)):
        sequence = first_sequence + offset
        data = dict(txn) if txn is not None else removed_transaction(transaction_id, account_id)
        data.update(
            change=change,
            item_id=item_id,
            sync_sequence=sequence,
            run_id=run_id,
            position=first_position + offset,
        )
        TRANSACTION_CHANGED_CHECK.validate_python(data, strict=True)
        event_id = ids(sequence)
        envelope = {
            "specversion": "1.0",
            "id": event_id,
            "source": events.SOURCE,
            "type": events.TRANSACTION_CHANGED,
            "time": time,
            "subject": account_id,
            "datacontenttype": "application/json",
            "data": data,
        }
        out.append((sequence, event_id, account_id, pydantic_core.to_json(envelope)))
    return out


def account_events(collected: Collected, now: dt.datetime) -> list[Outgoing]:
    """AccountUpdated for every account of the last page (the freshest balances)."""
    sent_at = collected.fetched_at or now
    return [_account_event(collected.item_id, collected.run_id, a, sent_at, now) for a in collected.accounts]


def _account_event(
    item_id: str, run_id: str, account: Account, sent_at: dt.datetime, now: dt.datetime
) -> Outgoing:
    payload = events.AccountUpdated(
        item_id=item_id,
        account_id=account.account_id,
        run_id=run_id,
        name=account.name,
        official_name=account.official_name,
        mask=account.mask,
        type=account.type,
        subtype=account.subtype,
        balances=account.balances,
        as_of=account.balances.last_updated_datetime or sent_at,
    )
    envelope = Envelope.new(
        source=events.SOURCE, type=events.ACCOUNT_UPDATED, subject=account.account_id, data=payload, time=now
    )
    return events.ACCOUNTS_TOPIC, account.account_id, envelope
