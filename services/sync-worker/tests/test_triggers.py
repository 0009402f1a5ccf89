"""Which incoming events ask for a sync, pause it, resume it or stop it (pure rules)."""

from datetime import UTC, datetime

import pytest
from sync_worker.domain.triggers import (
    ITEM_LINKED,
    ITEM_REMOVED,
    ITEM_STATUS_CHANGED,
    SYNC_REQUESTED,
    WEBHOOK_RECEIVED,
    action_for,
)


@pytest.mark.parametrize(
    ("event_type", "data", "effect", "trigger", "refresh"),
    [
        (ITEM_LINKED, {"item_id": "i", "user_id": "u", "accounts": []}, "link", "item_linked", False),
        (ITEM_REMOVED, {"item_id": "i"}, "stop", "", False),
        (ITEM_STATUS_CHANGED, {"item_id": "i", "status": "good"}, "resume", "login_repaired", False),
        (ITEM_STATUS_CHANGED, {"item_id": "i", "status": "login_required"}, "pause", "", False),
        (SYNC_REQUESTED, {"item_id": "i", "refresh": True}, "want", "requested", True),
        (SYNC_REQUESTED, {"item_id": "i"}, "want", "requested", True),
        (SYNC_REQUESTED, {"item_id": "i", "refresh": False}, "want", "requested", False),
        (
            WEBHOOK_RECEIVED,
            {"item_id": "i", "webhook_type": "TRANSACTIONS", "webhook_code": "SYNC_UPDATES_AVAILABLE"},
            "want",
            "webhook:SYNC_UPDATES_AVAILABLE",
            False,
        ),
        (
            WEBHOOK_RECEIVED,
            {"item_id": "i", "webhook_type": "TRANSACTIONS", "webhook_code": "TRANSACTIONS_REMOVED"},
            "want",
            "webhook:TRANSACTIONS_REMOVED",
            False,
        ),
        (
            WEBHOOK_RECEIVED,
            {"item_id": "i", "webhook_type": "ITEM", "webhook_code": "LOGIN_REPAIRED"},
            "resume",
            "login_repaired",
            False,
        ),
        (
            WEBHOOK_RECEIVED,
            {"item_id": "i", "webhook_type": "ITEM", "webhook_code": "NEW_ACCOUNTS_AVAILABLE"},
            "want",
            "new_accounts",
            False,
        ),
    ],
)
def test_each_trigger_has_its_effect(
    event_type: str, data: dict, effect: str, trigger: str, refresh: bool
) -> None:
    action = action_for(event_type, data)
    assert action is not None
    assert (action.item_id, action.effect, action.trigger, action.refresh) == ("i", effect, trigger, refresh)


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        ("bankstream.something.else.v1", {"item_id": "i"}),
        (WEBHOOK_RECEIVED, {"item_id": "i", "webhook_type": "ITEM", "webhook_code": "PENDING_EXPIRATION"}),
        (WEBHOOK_RECEIVED, {"item_id": "i", "webhook_type": "AUTH", "webhook_code": "DEFAULT_UPDATE"}),
        (ITEM_STATUS_CHANGED, {"item_id": "i", "status": "something_new"}),
        (SYNC_REQUESTED, {"refresh": True}),
        (SYNC_REQUESTED, {"item_id": 42}),
    ],
)
def test_everything_else_is_ignored(event_type: str, data: dict) -> None:
    assert action_for(event_type, data) is None


@pytest.mark.parametrize(
    ("data", "from_scratch"),
    [
        ({"item_id": "i"}, False),  # a producer that does not know the field: from the cursor
        ({"item_id": "i", "from_scratch": False}, False),
        ({"item_id": "i", "from_scratch": True}, True),
        ({"item_id": "i", "from_scratch": "yes"}, False),  # only a real true forgets the cursor
    ],
)
def test_a_sync_request_asks_for_a_resync_from_scratch_only_when_it_says_so(
    data: dict, from_scratch: bool
) -> None:
    action = action_for(SYNC_REQUESTED, data)
    assert action is not None and (action.effect, action.from_scratch) == ("want", from_scratch)


def test_a_status_change_carries_its_time_and_a_webhook_none() -> None:
    data = {"item_id": "i", "status": "login_required", "changed_at": "2026-12-01T00:00:10+00:00"}
    action = action_for(ITEM_STATUS_CHANGED, data)
    assert action is not None
    assert action.status_changed_at == datetime(2026, 12, 1, 0, 0, 10, tzinfo=UTC)
    for odd in ("yesterday", "2026-12-01T00:00:10", 12):  # not a time, or no zone: applies as it comes
        odd_action = action_for(ITEM_STATUS_CHANGED, {**data, "changed_at": odd})
        assert odd_action is not None and odd_action.status_changed_at is None
    webhook = {"item_id": "i", "webhook_type": "ITEM", "webhook_code": "LOGIN_REPAIRED"}
    repaired = action_for(WEBHOOK_RECEIVED, webhook)
    assert repaired is not None and repaired.status_changed_at is None


def test_another_version_of_a_type_read_is_not_among_the_ignored() -> None:
    """The handler dead-letters it (envelope.refuse_other_version) instead of ignoring it."""
    from bankstream_common.envelope import other_version
    from sync_worker.domain.triggers import CONSUMED_TYPES

    assert action_for("bankstream.item.status_changed.v2", {"item_id": "i", "status": "good"}) is None
    assert other_version("bankstream.item.status_changed.v2", CONSUMED_TYPES) == ITEM_STATUS_CHANGED
    assert other_version("bankstream.something.else.v1", CONSUMED_TYPES) is None
