"""The projections' pure rules: the public view of a transaction, rounds, needs_repair, the readers."""

import datetime as dt
from decimal import Decimal

import msgspec
import pytest
from ledger_api.domain.consumed import TransactionCategorized
from ledger_api.domain.item_status import needs_repair
from ledger_api.domain.versions import rounds
from ledger_api.domain.views import transaction_view

from .projection_harness import categorized, plaid_transaction


def _row(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "transaction_id": "t1", "account_id": "a1", "item_id": "i1", "user_id": "u1",
        "amount": Decimal("4.33"),
        "iso_currency_code": "USD", "date": dt.date(2026, 11, 2), "authorized_date": None,
        "datetime": dt.datetime(2026, 11, 2, 8, 30, tzinfo=dt.UTC), "name": "Starbucks",
        "merchant_name": "Starbucks", "pending": False, "pending_transaction_id": None, "removed": False,
        "category_primary": "FOOD_AND_DRINK", "category_detailed": "FOOD_AND_DRINK_COFFEE",
        "category_source": "model", "category_confidence": 0.8700000047683716,
        "category_decided_by": "model:tfidf-v1", "category_needs_review": False,
        "user_category_primary": None, "user_category_detailed": None, "user_notes": None, "user_tags": [],
        "user_hidden": False, "version": 3, "updated_at": dt.datetime(2026, 11, 3, tzinfo=dt.UTC),
    }  # fmt: skip
    row.update(over)
    return row


def test_the_view_shows_the_categorizers_category_when_the_user_has_none() -> None:
    view = transaction_view(_row())
    assert view["amount"] == 4.33 and view["date"] == "2026-11-02"
    assert view["datetime"] == "2026-11-02T08:30:00.000000+00:00"  # instants: UTC, always microseconds
    assert view["category"] == {
        "primary": "FOOD_AND_DRINK",
        "detailed": "FOOD_AND_DRINK_COFFEE",
        "source": "model",
        "confidence": 0.87,
        "decided_by": "model:tfidf-v1",
        "needs_review": False,
    }
    assert view["categorizer_category"] == view["category"]
    assert view["user"] == {"notes": None, "tags": [], "hidden": False, "category": None}
    assert "user_id" not in view


def test_the_view_shows_the_users_category_as_the_effective_one() -> None:
    view = transaction_view(
        _row(user_category_primary="TRAVEL", user_category_detailed="TRAVEL_FLIGHTS", user_tags=["x"])
    )
    assert view["category"]["source"] == "user" and view["category"]["detailed"] == "TRAVEL_FLIGHTS"
    assert view["categorizer_category"]["primary"] == "FOOD_AND_DRINK"
    assert view["user"]["category"] == {"primary": "TRAVEL", "detailed": "TRAVEL_FLIGHTS"}


def test_a_tombstone_without_any_state_has_no_category() -> None:
    view = transaction_view(
        _row(category_primary=None, category_detailed=None, amount=None, date=None, removed=True)
    )
    assert view["category"] is None and view["categorizer_category"] is None and view["removed"] is True


def test_rounds_hold_each_key_once_and_keep_each_keys_order() -> None:
    items = [("a", 1), ("b", 1), ("a", 2), ("a", 3), ("c", 1), ("b", 2)]
    assert rounds(items, key=lambda x: x[0]) == [
        [("a", 1), ("b", 1), ("c", 1)],
        [("a", 2), ("b", 2)],
        [("a", 3)],
    ]
    assert rounds([], key=lambda x: x) == []


@pytest.mark.parametrize(
    ("status", "repair"),
    [
        ("good", False),
        ("pending_expiration", True),
        ("login_required", True),
        ("permission_revoked", True),
        ("error", True),
        ("removed", False),
        ("something_new", False),
    ],
)
def test_needs_repair(status: str, repair: bool) -> None:
    assert needs_repair(status) is repair


def test_the_reader_refuses_contract_breaking_data_and_ignores_extra_fields() -> None:
    good = categorized("added", plaid_transaction("t1", "a1"), item_id="i1", user_id=None, version=1).data
    read = msgspec.convert({**good, "a_field_from_the_future": 1}, TransactionCategorized)
    assert read.transaction is not None and read.transaction.date == dt.date(2026, 11, 2)
    for broken in (
        {**good, "version": 0},
        {**good, "change": "deleted"},
        {**good, "category": None},
        {**good, "transaction": {**good["transaction"], "transaction_id": "other"}},
        {**good, "change": "removed"},  # a removal with a transaction
        {**good, "transaction": {**good["transaction"], "date": "yesterday"}},
    ):
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(broken, TransactionCategorized)
