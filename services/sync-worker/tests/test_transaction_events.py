"""The hot path builds envelopes without the Envelope model: they must still be exactly Envelopes carrying
strict TransactionChanged data, with the deterministic ids and the order the contract promises."""

import datetime as dt
import json
import uuid

import pytest
from bankstream_common.envelope import Envelope
from pydantic import ValidationError
from sync_worker.domain import events
from sync_worker.domain.plaid_page import UnstorableText, parse_page, removed_transaction
from sync_worker.domain.run import (
    EVENT_ID_NAMESPACE,
    TRANSACTION_CHANGED_CHECK,
    page_changes,
    transaction_events,
)

TXN = {
    "transaction_id": "t-posted",
    "account_id": "acc-1",
    "pending": False,
    "pending_transaction_id": "t-pending",
    "amount": 12.5,
    "iso_currency_code": "USD",
    "unofficial_currency_code": None,
    "date": "2026-11-20",
    "authorized_date": "2026-11-19",
    "datetime": "2026-11-20T10:11:12Z",
    "name": "Coffee",
    "merchant_name": None,
    "personal_finance_category": {
        "primary": "FOOD_AND_DRINK",
        "detailed": "FOOD_AND_DRINK_COFFEE",
        "confidence_level": "HIGH",
        "version": "v2",
    },
    "location": {
        "address": None,
        "city": "Paris",
        "region": None,
        "postal_code": None,
        "country": "FR",
        "lat": None,
        "lon": None,
        "store_number": None,
    },
    "category": ["ignored by us"],
    "something_plaid_added_later": 1,
}


def page(**overrides: object) -> bytes:
    body = {
        "added": [TXN],
        "modified": [{**TXN, "transaction_id": "t-2", "amount": -3}],
        "removed": [{"transaction_id": "t-pending", "account_id": "acc-1"}],
        "accounts": [],
        "next_cursor": "c1",
        "has_more": False,
        "transactions_update_status": "HISTORICAL_UPDATE_COMPLETE",
        "request_id": "r",
    }
    return json.dumps({**body, **overrides}).encode()


def test_staged_events_are_envelopes_of_strict_transaction_changed_data() -> None:
    now = dt.datetime(2026, 11, 21, 15, 0, tzinfo=dt.UTC)
    staged = transaction_events("item-1", "run-1", parse_page(page()), 41, 0, now)
    assert [seq for seq, *_ in staged] == [41, 42, 43]
    envelopes = [Envelope.from_json(payload) for *_, payload in staged]
    assert [e.id for e in envelopes] == [uuid.uuid5(EVENT_ID_NAMESPACE, f"item-1/{n}") for n in (41, 42, 43)]
    assert all(e.type == events.TRANSACTION_CHANGED and e.subject == "acc-1" for e in envelopes)
    assert envelopes[0].time == now
    datas = [events.TransactionChanged.model_validate(e.data) for e in envelopes]
    assert [(d.change, d.transaction_id, d.position) for d in datas] == [
        ("added", "t-posted", 0),
        ("modified", "t-2", 1),
        ("removed", "t-pending", 2),
    ]
    assert datas[0].amount == 12.5 and datas[0].pending_transaction_id == "t-pending"
    assert (
        envelopes[0].data["date"] == "2026-11-20" and envelopes[0].data["datetime"] == "2026-11-20T10:11:12Z"
    )
    assert envelopes[0].data["location"]["city"] == "Paris"
    assert "category" not in envelopes[0].data, "fields outside the contract are dropped"
    assert datas[2].amount is None and datas[2].name is None


@pytest.mark.parametrize(
    "broken",
    [
        {**TXN, "amount": "12.50"},
        {**TXN, "amount": float("nan")},  # json.dumps writes NaN, Infinity: not JSON, but parsers accept them
        {**TXN, "amount": float("-inf")},
        {**TXN, "location": {**TXN["location"], "lat": float("inf")}},
        {**TXN, "date": "2026-13-45"},
        {**TXN, "name": None},
        {k: v for k, v in TXN.items() if k != "account_id"},
    ],
)
def test_a_page_that_breaks_plaids_contract_is_refused(broken: dict) -> None:
    with pytest.raises(ValidationError):
        parse_page(page(added=[broken]))


@pytest.mark.parametrize(
    "field", ["transaction_id", "account_id", "name", "pending_transaction_id", "merchant_name"]
)
def test_a_page_with_a_string_postgresql_cannot_store_is_refused(field: str) -> None:
    """NUL (JSON's \\u0000) cannot be stored in a PostgreSQL text (our Item's loop state, subscribers'
    tables): the page is refused at the boundary, with or without escaped backslashes before it."""
    for nul in ("\x00", "\\\x00"):
        with pytest.raises(UnstorableText):
            parse_page(page(added=[{**TXN, field: f"t{nul}1"}]))
    # an escaped backslash followed by the letters u0000 is text like any other
    assert parse_page(page(added=[{**TXN, field: "t\\u0000"}])).added[0][field] == "t\\u0000"


DRIFTS = {
    "a string where the contract has a boolean": {"pending": "yes"},
    "a field the contract does not have": {"category": ["FOOD"]},
    "a required field missing its value": {"transaction_id": None},
}


@pytest.mark.parametrize("drift", DRIFTS.values(), ids=DRIFTS.keys())
@pytest.mark.parametrize("position", [0, 1, 4])
def test_every_event_of_a_page_is_held_to_the_strict_contract(drift: dict, position: int) -> None:
    """Whatever lets a transaction through (a parser drifting from the contract), no event leaves the
    builder unless its published bytes are a strict TransactionChanged, wherever it sits in its page."""
    added = [{**TXN, "transaction_id": f"t-{n}"} for n in range(5)]
    parsed = parse_page(page(added=added, modified=[], removed=[]))
    parsed.added[position] = {**parsed.added[position], **drift}  # drifted after the parser's check
    now = dt.datetime(2026, 11, 21, 15, 0, tzinfo=dt.UTC)
    with pytest.raises(ValidationError):
        transaction_events("item-1", "run-1", parsed, 1, 0, now)


BROKEN = {
    **DRIFTS,
    "a sequence below 1": {"sync_sequence": 0},
    "an unknown change": {"change": "renamed"},
    "an amount as a string": {"amount": "12.50"},
    "an amount that is not a number": {"amount": float("nan")},
    "an infinite longitude": {"location": {"lon": float("inf")}},
    "a date as a string": {"date": "2026-11-20"},
    "a field a nested model does not have": {"location": {"city": "Paris", "mall": "Forum"}},
    "a counterparty without a name": {"counterparties": [{"type": "merchant"}]},
    "a category without its detail": {"personal_finance_category": {"primary": "FOOD_AND_DRINK"}},
}


def _verdict(check: object, data: dict) -> bool:
    try:
        check(data, strict=True)  # type: ignore[operator]
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("broken", [{}, *BROKEN.values()], ids=["as built", *BROKEN.keys()])
def test_the_compiled_check_refuses_exactly_what_the_model_refuses(broken: dict) -> None:
    """The check every event passes is compiled from the model: it must agree with the model itself."""
    parsed = parse_page(page())
    for offset, (change, txn, transaction_id, account_id) in enumerate(page_changes(parsed)):
        data = dict(txn) if txn is not None else removed_transaction(transaction_id, account_id)
        data.update(change=change, item_id="i", sync_sequence=offset + 1, run_id="r", position=offset)
        data.update(broken)
        by_model = _verdict(events.TransactionChanged.model_validate, data)
        assert by_model == (not broken), (change, by_model)
        assert _verdict(TRANSACTION_CHANGED_CHECK.validate_python, data) == by_model, change
