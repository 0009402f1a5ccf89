"""How history is generated: the same data whether generated ahead or lazily, pinned per seed, and a large
Item answering NOT_READY while its history is generated ahead, then serving all of it."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

import orjson
from plaid_emulator.data.accounts import build_accounts
from plaid_emulator.data.generator import BLOCK, Generator, Profile
from plaid_emulator.ledger import Ledger
from plaid_emulator.testing import running_emulator

SEED = 42 * 1_000_003 + 1


def generator(count: int, days: int = 90) -> Generator:
    accounts = {a.kind: a.account_id for a in build_accounts(SEED)}
    return Generator(Profile("item", SEED, days, count, date(2026, 11, 21), accounts))


def test_data_does_not_depend_on_what_was_generated_ahead() -> None:
    count = 5 * BLOCK + 17
    lazy = Ledger(generator(count), prepared_limit=0)
    partly = Ledger(generator(count), prepared_limit=2 * BLOCK + 1)
    ahead = Ledger(generator(count), prepared_limit=10**6)
    assert lazy.prepare() and partly.prepare(seconds=0) is False and ahead.prepare()
    assert partly.prepare() and partly.prepared
    for i in reversed(range(count)):  # out of order, across blocks
        assert lazy.historical(i) == partly.historical(i) == ahead.historical(i)


def test_generated_data_is_pinned_per_seed() -> None:
    """The generator's output for one seed, as of this test: a change to it is a change to every Item's
    data (and to any recorded fixture). Update the digest only on purpose."""
    gen = generator(2 * BLOCK, days=30)
    digest = hashlib.sha256()
    for txn in gen.historical_block(0) + gen.historical_block(1):
        digest.update(orjson.dumps(txn))
    for serial in range(1, 6):
        digest.update(orjson.dumps(gen.new_pending(serial, date(2026, 11, 22))))
    digest.update(orjson.dumps(gen.custom(1, date(2026, 11, 20), date(2026, 11, 19), 12.5, "X", "USD")))
    assert digest.hexdigest() == PINNED


def test_a_large_item_is_not_ready_until_its_history_exists(receiver: Any) -> None:
    with running_emulator(
        not_ready_delay=0, historical_delay=0, tick_interval=0.05, webhook_time_scale=0.001
    ) as emu:
        volume = 30_000  # above what is generated at once, on the request that finds the Item due
        item = emu.create_item(transactions=volume, webhook=receiver.url)
        body = {"access_token": item["access_token"], "cursor": "", "count": 500}
        while True:
            page = emu.plaid("/transactions/sync", body).json()
            if page["transactions_update_status"] != "NOT_READY":
                break
            assert page["next_cursor"] == "" and page["added"] == [] and page["has_more"] is False
        assert page["transactions_update_status"] == "HISTORICAL_UPDATE_COMPLETE"
        receiver.wait_for("HISTORICAL_UPDATE")
        ids = {t["transaction_id"] for t in page["added"]}
        while page["has_more"]:
            page = emu.plaid("/transactions/sync", {**body, "cursor": page["next_cursor"]}).json()
            ids.update(t["transaction_id"] for t in page["added"])
        assert len(ids) == volume == len(emu.ground_truth(item["item_id"])["transactions"])


# The same as the generator before it was made table-driven produced (same draws, same values).
PINNED = "7917c07fff1fb758fedab100e4b3f01a1340b8b821a8e03a98683a5fccb39b51"
