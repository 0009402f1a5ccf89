"""Convergence: the same events, delivered with the topics interleaved differently and with redeliveries,
leave the same ledger. Each ordering runs on its own ledger (schema, topics, group) through bootstrap();
a phase's events are all processed before the next phase is sent, so the cross-topic order is forced.
Within one Kafka key, order is the producer's, as Kafka keeps it."""

import datetime as dt
import random
from collections.abc import Sequence

import pytest
from bankstream_common.envelope import Envelope
from ledger_api.domain import consumed as ev

from .projection_harness import (
    BASE,
    Ledger,
    account_updated,
    categorized,
    item_linked,
    plaid_transaction,
    running_ledger,
    status_changed,
    sync_completed,
    sync_failed,
)

pytestmark = pytest.mark.integration
H = dt.timedelta(hours=1)
ITEM, USER, A1, A2 = "item-conv", "user-conv", "acct-conv-1", "acct-conv-2"

Stream = list[tuple[str, str, Envelope]]  # (topic, key, event), in the producer's order


def scenario() -> dict[str, Stream]:
    def tx(change: str, tid: str, acct: str, version: int, **kw: object) -> Envelope:
        t = None if change == "removed" else plaid_transaction(tid, acct, **kw)  # type: ignore[arg-type]
        return categorized(
            change, t, transaction_id=tid, account_id=acct, item_id=ITEM, user_id=None, version=version
        )

    items = [
        item_linked(ITEM, USER, [A1, A2], at=BASE),
        status_changed(ITEM, USER, "login_required", BASE + H, "ITEM_LOGIN_REQUIRED"),
        status_changed(ITEM, USER, "good", BASE + 2 * H, "LOGIN_REPAIRED"),
    ]
    accounts_1 = [account_updated(ITEM, A1, v, BASE + h * H) for v, h in ((100, 0), (120, 6), (90, 26))]
    accounts_2 = [account_updated(ITEM, A2, 500, BASE + H)]
    runs = [sync_failed(ITEM, BASE + H, "ITEM_LOGIN_REQUIRED"), sync_completed(ITEM, BASE + 3 * H)]
    txs_1 = [
        tx("added", "t1", A1, 1, amount=4.33),
        tx("modified", "t1", A1, 2, amount=4.83),
        tx("recategorized", "t1", A1, 3, amount=4.83),
        tx("added", "p1", A1, 1, pending=True, amount=20.0),
        tx("removed", "p1", A1, 2),
        tx("added", "q1", A1, 1, pending_transaction_id="p1", amount=21.5),
    ]
    txs_2 = [tx("added", "t2", A2, 1, amount=-1500.0), tx("removed", "t2", A2, 2)]
    return {
        "items": [(ev.TOPIC_ITEMS, ITEM, e) for e in items],
        "accounts": [(ev.TOPIC_ACCOUNTS, e.subject, e) for e in accounts_1 + accounts_2],
        "runs": [(ev.TOPIC_SYNC_RUNS, ITEM, e) for e in runs],
        "transactions": [(ev.TOPIC_CATEGORIZED, e.data["account_id"], e) for e in txs_1 + txs_2],
    }


async def deliver(ledger: Ledger, phases: Sequence[Stream]) -> None:
    """Send each phase and wait until the consumer has taken all of it: new events until the inbox holds
    them, redelivered ones until the consumer has counted them as duplicates."""
    seen: set[object] = set()
    for phase in phases:
        repeats = sum(1 for _, _, e in phase if e.id in seen)
        duplicates_before = ledger.consumed("duplicate")
        for topic, key, event in phase:
            await ledger.send(topic, key, event)
        await ledger.processed(*(e for _, _, e in phase))
        wanted = duplicates_before + repeats
        await ledger.until(lambda: _async(ledger.consumed("duplicate")), lambda n, w=wanted: n >= w)
        seen.update(e.id for _, _, e in phase)


async def _async(value: float) -> float:
    return value


async def snapshot(ledger: Ledger) -> dict[str, list[dict]]:
    queries = {
        "items": "SELECT * FROM items ORDER BY item_id",
        "accounts": "SELECT * FROM accounts ORDER BY account_id",
        "balance_history": "SELECT * FROM balance_history ORDER BY account_id, day",
        "transactions": "SELECT * FROM transactions ORDER BY transaction_id",
    }
    volatile = {"updated_at", "created_at"}
    out = {}
    for name, sql in queries.items():
        out[name] = [{k: v for k, v in r.items() if k not in volatile} for r in await ledger.pool.fetch(sql)]
    return out


def interleaved(streams: dict[str, Stream], seed: int) -> Stream:
    """One random interleaving of the streams that keeps each Kafka key's order."""
    rng = random.Random(seed)
    queues = [list(s) for s in streams.values()]
    out: Stream = []
    while any(queues):
        q = rng.choice([q for q in queues if q])
        out.append(q.pop(0))
    return out


async def _converged(database_url: str, kafka: str, phases: Sequence[Stream]) -> dict[str, list[dict]]:
    async with running_ledger(database_url, kafka) as ledger:
        await deliver(ledger, phases)
        unowned = await ledger.pool.fetchval(
            "SELECT (SELECT count(*) FROM transactions WHERE user_id IS NULL)"
            " + (SELECT count(*) FROM accounts WHERE user_id IS NULL)"
            " + (SELECT count(*) FROM changes WHERE user_id IS NULL)"
        )
        assert unowned == 0, "every row gets the Item's user, whenever ItemLinked arrives"
        return await snapshot(ledger)


async def test_every_interleaving_and_redelivery_converges_to_the_same_ledger(
    database_url: str, kafka_bootstrap_servers: str
) -> None:
    s = scenario()
    natural = [s["items"], s["accounts"], s["runs"], s["transactions"]]
    # the Item last: transactions and balances arrive for an Item the ledger does not know yet
    item_last = [s["transactions"], s["runs"], s["accounts"], s["items"]]
    # everything twice (the second time a redelivery the inbox absorbs), in a random interleaving
    shuffled = interleaved(s, seed=7)
    redelivered = [shuffled, interleaved(s, seed=11)]

    expected = await _converged(database_url, kafka_bootstrap_servers, natural)
    for phases in (item_last, redelivered):
        assert await _converged(database_url, kafka_bootstrap_servers, phases) == expected

    # and what they converge to is the right ledger
    item = expected["items"][0]
    assert (item["status"], item["needs_repair"], item["user_id"]) == ("good", False, USER)
    assert item["last_synced_at"] == BASE + 3 * H and item["last_sync_error_code"] == "ITEM_LOGIN_REQUIRED"
    acct1 = next(a for a in expected["accounts"] if a["account_id"] == A1)
    assert (float(acct1["balance_current"]), acct1["balance_as_of"]) == (90.0, BASE + 26 * H)
    assert [float(h["balance_current"]) for h in expected["balance_history"] if h["account_id"] == A1] == [
        120.0,
        90.0,
    ]
    txs = {t["transaction_id"]: t for t in expected["transactions"]}
    assert (txs["t1"]["version"], float(txs["t1"]["amount"]), txs["t1"]["removed"]) == (3, 4.83, False)
    assert txs["p1"]["removed"] and txs["t2"]["removed"] and not txs["q1"]["removed"]
    assert {t["user_id"] for t in txs.values()} == {USER}
