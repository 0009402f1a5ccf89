"""The Item state machine: what moves an Item, what does not, and that removed is final."""

import pytest
from link_svc.domain import item_state as sm
from link_svc.domain.item_state import ItemStatus as S


def test_login_required_webhook_breaks_a_good_item_and_update_mode_repairs_it() -> None:
    broke = sm.decide(S.GOOD, sm.webhook_trigger("ITEM", "ERROR", "ITEM_LOGIN_REQUIRED"))  # type: ignore[arg-type]
    assert broke is not None and broke.to_status is S.LOGIN_REQUIRED
    repaired = sm.decide(S.LOGIN_REQUIRED, sm.UPDATE_MODE_COMPLETED)
    assert repaired is not None and repaired.to_status is S.GOOD
    assert repaired.trigger.kind is sm.TriggerKind.UPDATE_MODE


@pytest.mark.parametrize(
    ("code", "error_code", "target"),
    [
        ("PENDING_EXPIRATION", None, S.PENDING_EXPIRATION),
        ("PENDING_DISCONNECT", None, S.PENDING_EXPIRATION),
        ("USER_PERMISSION_REVOKED", None, S.PERMISSION_REVOKED),
        ("ERROR", "ITEM_LOGIN_REQUIRED", S.LOGIN_REQUIRED),
        ("ERROR", "ITEM_NOT_FOUND", S.ERROR),
    ],
)
def test_item_webhooks_lead_where_plaid_says(code: str, error_code: str | None, target: S) -> None:
    trigger = sm.webhook_trigger("ITEM", code, error_code)
    assert trigger is not None and trigger.target is target
    transition = sm.decide(S.GOOD, trigger)
    assert transition is not None and transition.to_status is target


@pytest.mark.parametrize(
    ("webhook_type", "code", "error_code"),
    [
        ("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE", None),
        ("ITEM", "NEW_ACCOUNTS_AVAILABLE", None),
        ("ITEM", "WEBHOOK_UPDATE_ACKNOWLEDGED", None),
        ("ITEM", "ERROR", "INSTITUTION_DOWN"),
        ("ITEM", "ERROR", None),
    ],
)
def test_webhooks_that_say_nothing_about_health_move_nothing(
    webhook_type: str, code: str, error_code: str | None
) -> None:
    assert sm.webhook_trigger(webhook_type, code, error_code) is None


@pytest.mark.parametrize(
    "code", ["INSTITUTION_DOWN", "RATE_LIMIT_EXCEEDED", "INTERNAL_SERVER_ERROR", "TRANSACTIONS_SYNC_LIMIT"]
)
def test_transient_sync_failures_never_move_an_item(code: str) -> None:
    assert sm.sync_failure_trigger(code) is None


@pytest.mark.parametrize(
    ("code", "target"),
    [
        ("ITEM_LOGIN_REQUIRED", S.LOGIN_REQUIRED),
        ("INVALID_ACCESS_TOKEN", S.ERROR),
        ("ITEM_NOT_FOUND", S.ERROR),
    ],
)
def test_sync_failures_that_break_the_connection_move_it(code: str, target: S) -> None:
    transition = sm.decide(S.GOOD, sm.sync_failure_trigger(code))  # type: ignore[arg-type]
    assert transition is not None and transition.to_status is target


def test_removed_is_terminal() -> None:
    for trigger in [sm.UPDATE_MODE_COMPLETED, sm.REMOVAL, sm.sync_failure_trigger("ITEM_LOGIN_REQUIRED")]:
        assert sm.decide(S.REMOVED, trigger) is None  # type: ignore[arg-type]
    for status in S:
        if status is not S.REMOVED:
            assert sm.decide(status, sm.REMOVAL) is not None


def test_same_status_or_a_late_milder_signal_is_no_transition() -> None:
    login = sm.sync_failure_trigger("ITEM_LOGIN_REQUIRED")
    assert sm.decide(S.LOGIN_REQUIRED, login) is None  # type: ignore[arg-type]
    late_expiry = sm.webhook_trigger("ITEM", "PENDING_EXPIRATION", None)
    assert sm.decide(S.LOGIN_REQUIRED, late_expiry) is None  # type: ignore[arg-type]
    assert sm.decide(S.PERMISSION_REVOKED, login) is None  # type: ignore[arg-type]


def test_every_status_has_a_row_and_only_removed_is_a_dead_end() -> None:
    assert set(sm.ALLOWED) == set(S)
    assert [s for s, targets in sm.ALLOWED.items() if not targets] == [S.REMOVED]
    assert all(S.GOOD in targets for s, targets in sm.ALLOWED.items() if s not in (S.GOOD, S.REMOVED))
