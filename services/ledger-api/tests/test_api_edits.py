"""PATCH /v1/transactions/{id} against the real database and broker: the edit, its ETag and If-Match,
its `changes` row, CategoryOverridden published through the outbox, and the pending/posted rule."""

from collections.abc import AsyncIterator

import pytest
from ledger_api.domain import events as ev

from .api_harness import (
    LedgerApi,
    add_transactions,
    bearer,
    read_events,
    running_ledger_api,
    seed_alice_and_bob,
    tx,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def api(database_url: str, kafka_bootstrap_servers: str) -> AsyncIterator[LedgerApi]:
    async with running_ledger_api(database_url, kafka_bootstrap_servers) as running:
        await seed_alice_and_bob(running.pool)
        yield running


async def test_a_category_edit_is_written_recorded_and_published_in_one_go(
    api: LedgerApi, kafka_bootstrap_servers: str
) -> None:
    await add_transactions(api.pool, [tx("t-1", amount=4.5)])
    read = await api.get("/v1/transactions/t-1")
    assert read.headers["etag"] == 'W/"1.0"'

    edited = await api.patch(
        "/v1/transactions/t-1",
        {"category": "FOOD_AND_DRINK_GROCERIES", "tags": ["food", "food", "home"], "hidden": True},
        headers={"If-Match": read.headers["etag"]},
    )
    assert edited.status_code == 200, edited.text
    assert edited.headers["etag"] == 'W/"1.1"'
    body = edited.json()
    assert body["category"] == {
        "primary": "FOOD_AND_DRINK",
        "detailed": "FOOD_AND_DRINK_GROCERIES",
        "source": "user",
        "confidence": 1.0,
        "decided_by": "user",
        "needs_review": False,
    }
    assert body["categorizer_category"]["detailed"] == "FOOD_AND_DRINK_COFFEE"
    assert body["user"]["tags"] == ["food", "home"]
    assert body["user"]["hidden"] is True

    notes = await api.patch("/v1/transactions/t-1", {"notes": "with the team"})
    assert notes.status_code == 200
    cleared = await api.patch("/v1/transactions/t-1", {"category": None}, headers={"If-Match": 'W/"1.2"'})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["category"]["source"] == "learned"
    assert cleared.json()["user"]["notes"] == "with the team"

    detail = (await api.get("/v1/transactions/t-1")).json()
    assert [h["op"] for h in detail["history"]] == ["edited", "edited", "edited"]
    assert detail["history"][0]["data"]["category"]["detailed"] == "FOOD_AND_DRINK_GROCERIES"

    # the category moved twice (set, cleared): two events, in order; the notes edit published nothing
    published = await read_events(kafka_bootstrap_servers, api.topic(ev.TOPIC_CATEGORY_OVERRIDES), at_least=2)
    assert [e.type for e in published] == [ev.CATEGORY_OVERRIDDEN] * 2
    first, second = published
    assert first.source == "bankstream/ledger-api"
    assert first.subject == "t-1"
    data = ev.CategoryOverridden.model_validate(first.data)
    assert data.user_id == "alice"
    assert data.category == ev.OverriddenCategory(
        primary="FOOD_AND_DRINK", detailed="FOOD_AND_DRINK_GROCERIES"
    )
    assert data.previous == ev.PreviousCategory(
        primary="FOOD_AND_DRINK", detailed="FOOD_AND_DRINK_COFFEE", source="learned"
    )
    assert (data.merchant_name, data.name, data.amount, data.account_id) == (
        "Starbucks",
        "STARBUCKS 1234",
        4.5,
        "acc-a1",
    )
    cleared_event = ev.CategoryOverridden.model_validate(second.data)
    assert cleared_event.category is None
    assert cleared_event.previous is not None and cleared_event.previous.source == "user"


async def test_overrides_of_one_transaction_are_stamped_in_edit_order_whatever_the_clocks(
    api: LedgerApi, kafka_bootstrap_servers: str
) -> None:
    """The categorizer keeps a transaction's override unless a later one arrives, by `overridden_at`. It was
    the clock of whichever replica took the PATCH: an edit after one stamped by a clock running ahead looked
    older and was dropped there. It is now the row's own edit time, strictly later than its last."""
    await add_transactions(api.pool, [tx("t-clock", amount=4.5)])
    ahead = await api.pool.fetchval(
        "UPDATE transactions SET user_edited_at = now() + interval '1 hour' WHERE transaction_id = 't-clock' "
        "RETURNING user_edited_at"
    )  # the last edit, stamped by a clock an hour ahead
    edited = await api.patch("/v1/transactions/t-clock", {"category": "FOOD_AND_DRINK_GROCERIES"})
    assert edited.status_code == 200, edited.text
    published = await read_events(kafka_bootstrap_servers, api.topic(ev.TOPIC_CATEGORY_OVERRIDES), at_least=1)
    mine = [ev.CategoryOverridden.model_validate(e.data) for e in published if e.subject == "t-clock"]
    assert len(mine) == 1 and mine[0].overridden_at > ahead


async def test_a_stale_if_match_is_refused_with_412_and_changes_nothing(api: LedgerApi) -> None:
    await add_transactions(api.pool, [tx("t-1")])
    tag = (await api.get("/v1/transactions/t-1")).headers["etag"]
    # the categorizer published a new version meanwhile
    await api.pool.execute("UPDATE transactions SET version = 2 WHERE transaction_id = 't-1'")
    stale = await api.patch("/v1/transactions/t-1", {"notes": "x"}, headers={"If-Match": tag})
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "precondition_failed"
    assert stale.headers["etag"] == 'W/"2.0"'
    assert (await api.get("/v1/transactions/t-1")).json()["user"]["notes"] is None
    fresh = await api.patch("/v1/transactions/t-1", {"notes": "x"}, headers={"If-Match": 'W/"2.0"'})
    assert fresh.status_code == 200


async def test_text_postgresql_cannot_store_is_a_422_naming_the_field(api: LedgerApi) -> None:
    await add_transactions(api.pool, [tx("t-1")])
    for body in ({"notes": "a\x00b"}, {"tags": ["ok", "b\x00"]}):
        answer = await api.patch("/v1/transactions/t-1", body)
        assert answer.status_code == 422, answer.text
        assert next(iter(body)) in str(answer.json()["error"]["details"])
    assert (await api.get("/v1/transactions/t-1")).json()["user"]["notes"] is None


async def test_pending_replaced_by_posted_answers_409_naming_the_successor(api: LedgerApi) -> None:
    await add_transactions(
        api.pool,
        [
            tx("t-pending", pending=True, removed=True),
            tx("t-posted", pending_transaction_id="t-pending"),
            tx("t-gone", removed=True),
            tx("t-pending-alone", pending=True, removed=True),
        ],
    )
    r = await api.patch("/v1/transactions/t-pending", {"notes": "lunch"})
    assert r.status_code == 409
    assert r.json()["error"] == {
        "code": "transaction_superseded",
        "message": r.json()["error"]["message"],
        "successor_id": "t-posted",
    }
    assert (await api.get("/v1/transactions/t-pending")).json()["successor_id"] == "t-posted"
    removed = await api.patch("/v1/transactions/t-gone", {"notes": "lunch"})
    assert (removed.status_code, removed.json()["error"]["code"]) == (409, "transaction_removed")
    # a removed pending one whose posted successor has not arrived yet keeps the edit for it to inherit
    assert (await api.patch("/v1/transactions/t-pending-alone", {"notes": "lunch"})).status_code == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid_parameter"),
        ({"category": "FOOD_AND_DRINK"}, "invalid_parameter"),  # a primary is not enough: detailed
        ({"category": "NOT_A_CATEGORY"}, "invalid_parameter"),
        ({"hidden": None}, "invalid_parameter"),
        ({"hidden": "yes please"}, "validation_error"),
        ({"hidden": "yes"}, "validation_error"),  # lax pydantic read these as true
        ({"hidden": 1}, "validation_error"),
        ({"notes": 12}, "validation_error"),
        ({"colour": "red"}, "validation_error"),
        ({"tags": ["x" * 51]}, "validation_error"),
    ],
)
async def test_bad_edits_are_422_with_a_reason(api: LedgerApi, body: dict, code: str) -> None:
    await add_transactions(api.pool, [tx("t-1")])
    r = await api.patch("/v1/transactions/t-1", body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
    assert (await api.get("/v1/transactions/t-1")).headers["etag"] == 'W/"1.0"'


async def test_a_read_only_token_cannot_edit(api: LedgerApi) -> None:
    await add_transactions(api.pool, [tx("t-1")])
    r = await api.http.patch(
        "/v1/transactions/t-1", json={"notes": "x"}, headers=bearer("alice", ["ledger:read"])
    )
    assert r.status_code == 403
