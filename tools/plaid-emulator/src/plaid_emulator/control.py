"""The control API under /emulator: not Plaid's, for tests and demos. No client credentials needed; it
binds to loopback like the rest of the emulator. See docs/plaid-emulator.md."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException

from .errors import PlaidApiError, is_known
from .item_config import ItemConfig, ItemConfigError
from .items import Item
from .routes.base import iso
from .routes.sandbox import fire
from .state import Emulator

Json = dict[str, Any]
OptionalBody = Annotated[Json | None, Body()]
RequiredBody = Annotated[Json, Body()]


def router(emu: Emulator) -> APIRouter:
    api = APIRouter(prefix="/emulator", tags=["emulator control"])

    def item_of(item_id: str) -> Item:
        item = emu.items.get(item_id)
        if item is None:
            raise HTTPException(404, f"no item {item_id}")
        return item

    @api.get("/health")
    async def health() -> Json:
        return {"ok": True, "items": len(emu.items), "now": iso(emu.clock.now())}

    @api.get("/clock")
    async def clock() -> Json:
        return {"now": iso(emu.clock.now())}

    @api.post("/clock/advance")
    async def advance(body: OptionalBody = None) -> Json:
        body = body or {}
        delta = timedelta(
            days=body.get("days", 0), hours=body.get("hours", 0), seconds=body.get("seconds", 0)
        )
        try:
            emu.clock.advance(delta)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        emu.housekeep_all(wait=True)
        return {"now": iso(emu.clock.now())}

    @api.post("/items")
    async def create_item(body: OptionalBody = None) -> Json:
        """Create an Item without Link: returns its access_token directly (and a public_token)."""
        body = body or {}
        try:
            ItemConfig.parse(body)  # a bad size is refused before an Item exists
        except ItemConfigError as exc:
            raise HTTPException(400, str(exc)) from None
        try:
            item = emu.create_item(
                body.get("institution_id", "ins_109508"),
                body.get("products", ["transactions"]),
                body.get("webhook"),
                int(body.get("days_requested", 90)),
                body.get("username", "user_good"),
                body.get("password", "pass_good"),
            )
        except PlaidApiError as exc:
            raise HTTPException(400, exc.body()) from None
        configure_item(item, body)
        return {
            "item_id": item.item_id,
            "access_token": item.access_token,
            "public_token": emu.issue_public_token(item),
        }

    def configure_item(item: Item, body: Json) -> None:
        try:
            ItemConfig.parse(body).apply(emu, item)
        except ItemConfigError as exc:
            raise HTTPException(409 if exc.conflict else 400, str(exc)) from None

    @api.get("/items")
    async def list_items() -> list[Json]:
        return [
            {
                "item_id": i.item_id,
                "institution_id": i.institution_id,
                "status": i.status,
                "error": i.error.code if i.error else None,
                "webhook": i.webhook,
            }
            for i in emu.items.values()
        ]

    @api.post("/items/{item_id}/config")
    async def config_item(item_id: str, body: OptionalBody = None) -> Json:
        """{"transactions": n, "currency": "USD", "days_requested": d, "ready": true} (before data exists)."""
        body = body or {}
        item = item_of(item_id)
        configure_item(item, body)
        return {"item_id": item_id, "status": item.status}

    @api.post("/items/{item_id}/ready")
    async def make_ready(item_id: str) -> Json:
        item = item_of(item_id)
        configure_item(item, {"ready": True})
        return {"item_id": item_id, "status": item.status}

    @api.post("/items/{item_id}/error")
    async def set_error(item_id: str, body: OptionalBody = None) -> Json:
        """{"error_code": "ITEM_LOGIN_REQUIRED"} puts the Item in that state (ITEM ERROR webhook);
        {"error_code": null} clears it (LOGIN_REPAIRED if it was a login error)."""
        body = body or {}
        item = item_of(item_id)
        code = body.get("error_code")
        if code is None:  # the bank recovered by itself, outside the app's update mode
            emu.life.repair(item, in_update_mode=False)
            item.error = None
        elif not is_known(code):
            raise HTTPException(400, f"unknown error_code {code}")
        else:
            emu.life.set_error(item, code)
        return {"item_id": item_id, "error": item.error.code if item.error else None}

    @api.post("/items/{item_id}/refresh")
    async def refresh(item_id: str) -> Json:
        """What /transactions/refresh finds, landed at once (no refresh_delay, no rate limit)."""
        emu.life.refresh(item_of(item_id), at_once=True)
        return {"item_id": item_id}

    @api.post("/items/{item_id}/mutate")
    async def mutate(item_id: str, body: OptionalBody = None) -> Json:
        """{"during_pagination": n}: the next n pagination runs see a change between two pages.
        {} : one new pending transaction now."""
        body = body or {}
        item = item_of(item_id)
        if "during_pagination" in body:
            item.forced_mutations = int(body["during_pagination"])
        else:
            emu.life.mutate(item)
        return {"item_id": item_id, "forced_mutations": item.forced_mutations}

    @api.post("/items/{item_id}/webhook")
    async def fire_item_webhook(item_id: str, body: RequiredBody) -> Json:
        """{"webhook_code": "PENDING_EXPIRATION"}: rehearse any TRANSACTIONS or ITEM webhook (see `fire`)."""
        try:
            fire(emu, item_of(item_id), body["webhook_code"])
        except PlaidApiError as exc:
            raise HTTPException(400, exc.body()) from None
        return {"webhook_fired": True}

    @api.api_route("/items/{item_id}/ground_truth", methods=["GET", "POST"])
    async def ground_truth(item_id: str) -> Json:
        """What a correct sync must converge to: every current transaction and the balances."""
        item = item_of(item_id)
        emu.life.housekeep(item)
        txns = (
            []
            if item.ledger is None
            else sorted(item.ledger.current(), key=lambda t: (t["date"], t["transaction_id"]), reverse=True)
        )
        return {
            "item_id": item_id,
            "transactions_update_status": item.status,
            "error": item.error.code if item.error else None,
            "accounts": [a.to_dict() for a in item.accounts],
            "transactions": txns,
            "log_head": item.ledger.head if item.ledger else 0,
            "now": iso(emu.clock.now()),
        }

    @api.get("/faults")
    async def list_faults() -> list[Json]:
        return emu.faults.describe()

    @api.post("/faults")
    async def add_fault(body: RequiredBody) -> Json:
        """{"error_code", "endpoint", "item_id", "count" (null = until cleared), "probability",
        "latency_ms"}."""
        try:
            return emu.faults.describe_one(emu.faults.add(body))
        except (TypeError, ValueError) as exc:
            raise HTTPException(400, str(exc)) from None

    @api.delete("/faults")
    async def clear_faults() -> Json:
        emu.faults.clear()
        return {"cleared": True}

    @api.post("/rate_limits")
    async def rate_limits(body: OptionalBody = None) -> Json:
        """{"enabled": bool, "reset": bool, "limits": {"/transactions/sync": [per_item, per_client]},
        "window_seconds": float (60 by default, as Plaid's)}."""
        body = body or {}
        if "enabled" in body:
            emu.faults.rate_limits_enabled = bool(body["enabled"])
        if "window_seconds" in body:
            window = float(body["window_seconds"])
            if not window > 0:
                raise HTTPException(400, "window_seconds must be positive")
            emu.faults.window = window
        for path, (per_item, per_client) in (body.get("limits") or {}).items():
            code = emu.faults.limits.get(path, (0, 0, "RATE_LIMIT"))[2]
            emu.faults.limits[path] = (int(per_item), int(per_client), code)
        if body.get("reset"):
            emu.faults.reset_rate_limits()
        return {
            "enabled": emu.faults.rate_limits_enabled,
            "window_seconds": emu.faults.window,
            "limits": {p: list(v) for p, v in emu.faults.limits.items()},
        }

    @api.post("/webhooks/mode")
    async def webhook_mode(body: OptionalBody = None) -> Json:
        """{"duplicate": bool, "out_of_order": bool, "time_scale": float}."""
        body = body or {}
        hooks = emu.webhooks
        hooks.duplicate = bool(body.get("duplicate", hooks.duplicate))
        hooks.out_of_order = bool(body.get("out_of_order", hooks.out_of_order))
        hooks.time_scale = float(body.get("time_scale", hooks.time_scale))
        if not hooks.out_of_order:
            hooks.flush()
        return {
            "duplicate": hooks.duplicate,
            "out_of_order": hooks.out_of_order,
            "time_scale": hooks.time_scale,
        }

    @api.post("/webhooks/flush")
    async def webhook_flush() -> Json:
        return {"released": emu.webhooks.flush()}

    @api.get("/webhooks")
    async def webhook_attempts() -> Json:
        return {"attempts": emu.webhooks.attempts, "in_flight": emu.webhooks.pending_deliveries()}

    @api.post("/webhooks/sign")
    async def sign_webhook(body: RequiredBody) -> Json:
        """{"body": "<exact bytes as text>", "iat": <unix seconds, default now>}: the `Plaid-Verification`
        header the current key would send with that body, for tests that post deliveries themselves
        (the same delivery twice, or two deliveries of one body with distinct `iat`)."""
        raw, iat = body.get("body"), body.get("iat")
        if not isinstance(raw, str) or not (iat is None or isinstance(iat, int)):
            raise HTTPException(400, "body must be a string and iat an integer")
        return {"plaid_verification": emu.keys.sign(raw.encode(), iat=iat)}

    @api.post("/webhook_keys/rotate")
    async def rotate_key() -> Json:
        old = emu.keys.current
        new = emu.keys.rotate()
        return {"kid": new.kid, "expired_kid": old.kid}

    return api
