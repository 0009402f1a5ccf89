"""The Item status contract between link-svc (producer) and sync-worker (consumer), read from the schema
link-svc publishes (sync-worker never imports link-svc): the statuses sync-worker acts on are exactly the
ones `bankstream.item.status_changed.v1` can carry, so a status added, renamed or removed on either side
fails here before an Item is left syncing when it should pause, or paused for good."""

import json
from pathlib import Path
from typing import Any

import pytest
from sync_worker.domain import triggers

SCHEMA = (
    Path(__file__).resolve().parents[3] / "docs" / "events" / f"{triggers.ITEM_STATUS_CHANGED}.schema.json"
)


def published_statuses(field: str) -> set[str]:
    """The enum of `field` in the published schema (following its local $ref)."""
    schema: dict[str, Any] = json.loads(SCHEMA.read_text())
    prop = schema["properties"][field]
    if "$ref" in prop:
        prop = schema["$defs"][prop["$ref"].removeprefix("#/$defs/")]
    assert "enum" in prop, f"{field} is not published as an enum: the contract cannot be checked"
    return set(prop["enum"])


@pytest.mark.parametrize("field", ["status", "previous_status"])
def test_sync_worker_handles_exactly_the_statuses_link_svc_publishes(field: str) -> None:
    published = published_statuses(field)
    handled = set(triggers.STATUS_EFFECTS)
    assert handled - published == set(), "sync-worker acts on statuses link-svc never publishes"
    assert published - handled == set(), "link-svc publishes statuses sync-worker does not handle"


@pytest.mark.parametrize(
    ("status", "effect"),
    [
        ("good", "resume"),
        ("pending_expiration", None),
        ("login_required", "pause"),
        ("permission_revoked", "pause"),
        ("error", "pause"),
        ("removed", "stop"),
    ],
)
def test_each_published_status_has_its_effect(status: str, effect: str | None) -> None:
    assert status in published_statuses("status")
    action = triggers.action_for(triggers.ITEM_STATUS_CHANGED, {"item_id": "item-1", "status": status})
    assert (action.effect if action else None) == effect


def test_a_status_outside_the_contract_means_nothing() -> None:
    assert triggers.action_for(triggers.ITEM_STATUS_CHANGED, {"item_id": "i", "status": "healthy"}) is None
