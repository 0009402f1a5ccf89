"""An optional snapshot file: the Items (tokens, accounts, change logs, life so far) and what mints new ids,
so that a restarted emulator still knows the access tokens its clients hold and serves the same cursors.

Written atomically (a temporary file renamed over it) every `snapshot_interval` seconds and on shutdown;
read once at start. Generated history is not stored: it is regenerated
from each Item's seed (the ledger keeps only which ranges are visible and every change appended since).
Tokens that live minutes (link, public) and webhook keys are not kept: clients fetch a key by its id.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from .data.accounts import Account
from .data.generator import Generator, Profile
from .errors import PlaidApiError
from .items import Item
from .ledger import Ledger
from .state import Emulator

VERSION = 1
_PLAIN = (
    "item_id access_token institution_id institution_name products webhook seed days_requested dynamic "
    "volume currency status sync_called serial refreshes generation recent_posted consent_expiration_time"
).split()


def save(emu: Emulator, path: Path) -> None:
    doc = {
        "version": VERSION,
        "mint": emu.mint.state(),
        "items_created": emu.items_created,
        "now": emu.clock.now().isoformat(),
        "skew": (emu.clock.now() - datetime.now(UTC)).total_seconds(),
        "items": [_item(i) for i in emu.items.values()],
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(orjson.dumps(doc))
    os.replace(tmp, path)


def load(emu: Emulator, path: Path) -> int:
    """Restore what `save` wrote, if the file exists; returns how many Items."""
    if not path.exists():
        return 0
    doc = orjson.loads(path.read_bytes())
    if doc.get("version") != VERSION:
        raise ValueError(f"{path}: snapshot version {doc.get('version')} is not {VERSION}")
    emu.mint.restore(doc["mint"])
    emu.items_created = int(doc["items_created"])
    behind = (
        timedelta(seconds=doc["skew"])
        if emu.config.realtime
        else datetime.fromisoformat(doc["now"]) - emu.clock.now()
    )
    if behind > timedelta():
        emu.clock.advance(behind)  # the simulated clock never goes back
    for data in doc["items"]:
        item = _restore_item(emu, data)
        emu.items[item.item_id] = item
        emu.by_access_token[item.access_token] = item.item_id
    return len(doc["items"])


def _item(item: Item) -> dict[str, Any]:
    out: dict[str, Any] = {name: getattr(item, name) for name in _PLAIN}
    out.update(
        created_at=item.created_at.isoformat(),
        pulling_since=item.pulling_since.isoformat() if item.pulling_since else None,
        last_update=item.last_update.isoformat() if item.last_update else None,
        last_day=item.last_day.isoformat() if item.last_day else None,
        last_webhook=[item.last_webhook[0], item.last_webhook[1].isoformat()] if item.last_webhook else None,
        refreshes_due=[d.isoformat() for d in item.refreshes_due],
        error=item.error.code if item.error else None,
        pending=list(item.pending),
        accounts=[dataclasses.asdict(a) for a in item.accounts],
        new_accounts=[dataclasses.asdict(a) for a in item.new_accounts],
        ledger=_ledger(item.ledger) if item.ledger is not None else None,
    )
    if item.ledger is None:  # not ready yet: its history is generated again when due
        out["status"] = "NOT_READY"
    return out


def _restore_item(emu: Emulator, data: dict[str, Any]) -> Item:
    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    item = Item(
        **{name: data[name] for name in _PLAIN},
        created_at=datetime.fromisoformat(data["created_at"]),
        accounts=[Account(**a) for a in data["accounts"]],
    )
    item.new_accounts = [Account(**a) for a in data["new_accounts"]]
    item.pulling_since = when(data["pulling_since"])
    item.last_update = when(data["last_update"])
    item.last_day = date.fromisoformat(data["last_day"]) if data["last_day"] else None
    item.last_webhook = (
        (data["last_webhook"][0], datetime.fromisoformat(data["last_webhook"][1]))
        if data["last_webhook"]
        else None
    )
    item.refreshes_due = [datetime.fromisoformat(d) for d in data["refreshes_due"]]
    item.error = PlaidApiError(data["error"]) if data["error"] else None
    item.pending = dict.fromkeys(data["pending"])
    if data["ledger"] is not None:
        item.ledger = _restore_ledger(emu, data["ledger"])
    return item


def _ledger(ledger: Ledger) -> dict[str, Any]:
    profile = dataclasses.asdict(ledger.gen.p)
    profile.pop("home")  # derived from the seed
    profile["anchor"] = ledger.gen.p.anchor.isoformat()
    return {"profile": profile, **ledger.dump()}


def _restore_ledger(emu: Emulator, data: dict[str, Any]) -> Ledger:
    profile = Profile(**{**data["profile"], "anchor": date.fromisoformat(data["profile"]["anchor"])})
    ledger = Ledger(Generator(profile), emu.config.prepared_transactions, emu.config.gc_freeze)
    ledger.restore(data)
    return ledger
