"""Plaid through `plaid-python`, kept off the event loop, every call audited, every failure translated.

The SDK is synchronous (urllib3): each call runs in a small dedicated thread pool. Each call produces one
`PlaidCall` record (endpoint, Plaid request_id, Item, HTTP status, error type/code, latency) handed to the
audit sink, which writes the `plaid_calls` row and the metrics; nothing sensitive is in it. Failures
become PlaidUnavailable (network, timeout, 429, 5xx, an institution not responding or down: may pass;
`outcome_unknown` unless Plaid certainly did not act: no connection made, 429, an institution code) or
PlaidRequestFailed (Plaid's 4xx with
its error code). No message built here contains a token or the client secret.
"""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import plaid
import structlog
import urllib3
from plaid.api import plaid_api
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.item_remove_request import ItemRemoveRequest
from plaid.model.link_token_create_request import LinkTokenCreateRequest
from plaid.model.webhook_verification_key_get_request import WebhookVerificationKeyGetRequest

from ..domain.errors import TRANSIENT_CODES, PlaidRequestFailed, PlaidUnavailable
from ..domain.events import Account

log = structlog.get_logger(__name__)

REQUESTS: dict[str, Any] = {
    "link_token_create": LinkTokenCreateRequest,
    "item_public_token_exchange": ItemPublicTokenExchangeRequest,
    "accounts_get": AccountsGetRequest,
    "item_remove": ItemRemoveRequest,
    "webhook_verification_key_get": WebhookVerificationKeyGetRequest,
}
HOSTS = {"sandbox": plaid.Environment.Sandbox, "production": plaid.Environment.Production}
PLAID_VERSION = "2020-09-14"


@dataclass(frozen=True)
class PlaidCall:
    endpoint: str
    request_id: str | None
    item_id: str | None
    http_status: int | None
    error_type: str | None
    error_code: str | None
    latency_s: float


AuditSink = Callable[[PlaidCall], Awaitable[None]]


@dataclass(frozen=True)
class LinkTokenRequest:
    user_id: str
    client_name: str
    country_codes: list[str]
    language: str = "en"
    products: list[str] = field(default_factory=list)
    days_requested: int | None = None
    webhook: str | None = None
    redirect_uri: str | None = None
    account_filters: dict[str, Any] | None = None
    access_token: str | None = None  # update mode
    account_selection: bool = False  # update mode for new accounts


@dataclass(frozen=True)
class LinkToken:
    link_token: str
    expiration: str
    request_id: str

    def __repr__(self) -> str:
        return f"LinkToken(expiration={self.expiration!r}, request_id={self.request_id!r})"


@dataclass(frozen=True)
class Exchange:
    item_id: str
    access_token: str

    def __repr__(self) -> str:
        return f"Exchange(item_id={self.item_id!r})"


@dataclass(frozen=True)
class ItemInfo:
    item_id: str
    institution_id: str | None
    institution_name: str | None
    products: list[str]
    accounts: list[Account]


def build_api(env: str, *, client_id: str, secret: str, emulator_url: str | None) -> plaid_api.PlaidApi:
    host = emulator_url if env == "emulator" else HOSTS[env]
    if not host:
        raise ValueError("PLAID_ENV=emulator needs the emulator URL")
    config = plaid.Configuration(
        host=host, api_key={"clientId": client_id, "secret": secret, "plaidVersion": PLAID_VERSION}
    )
    return plaid_api.PlaidApi(plaid.ApiClient(config))


class PlaidClient:
    def __init__(
        self, api: plaid_api.PlaidApi, *, audit: AuditSink, max_workers: int = 16, timeout: float = 30.0
    ) -> None:
        self._api = api
        self._audit = audit
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="plaid")
        self._timeout = (5.0, timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- operations ---------------------------------------------------------------------------------------

    async def create_link_token(self, req: LinkTokenRequest, *, item_id: str | None = None) -> LinkToken:
        # copies: the SDK's models convert the lists they are given in place (a settings list would change)
        body: dict[str, Any] = {
            "client_name": req.client_name,
            "language": req.language,
            "country_codes": list(req.country_codes),
            "user": {"client_user_id": req.user_id},
        }
        if req.access_token:
            body["access_token"] = req.access_token
            if req.account_selection:
                body["update"] = {"account_selection_enabled": True}
        else:
            body["products"] = list(req.products)
            if req.days_requested is not None and "transactions" in req.products:
                body["transactions"] = {"days_requested": req.days_requested}
        if req.webhook:
            body["webhook"] = req.webhook
        if req.redirect_uri:
            body["redirect_uri"] = req.redirect_uri
        if req.account_filters:
            body["account_filters"] = req.account_filters
        r = await self._call("/link/token/create", "link_token_create", body, item_id)
        return LinkToken(r["link_token"], str(r["expiration"]), r["request_id"])

    async def exchange_public_token(self, public_token: str) -> Exchange:
        r = await self._call(
            "/item/public_token/exchange",
            "item_public_token_exchange",
            {"public_token": public_token},
            None,
        )
        return Exchange(r["item_id"], r["access_token"])

    async def get_item(self, access_token: str, item_id: str) -> ItemInfo:
        """The Item and its accounts (one `/accounts/get` call carries both)."""
        r = await self._call("/accounts/get", "accounts_get", {"access_token": access_token}, item_id)
        item = r["item"]
        accounts = [
            Account(
                account_id=a["account_id"],
                name=a.get("name") or "",
                official_name=a.get("official_name"),
                mask=a.get("mask"),
                type=str(a.get("type")),
                subtype=str(a["subtype"]) if a.get("subtype") is not None else None,
            )
            for a in r["accounts"]
        ]
        return ItemInfo(
            item_id=item["item_id"],
            institution_id=item.get("institution_id"),
            institution_name=item.get("institution_name"),
            products=[str(p) for p in item.get("products") or item.get("billed_products") or []],
            accounts=accounts,
        )

    async def remove_item(self, access_token: str, item_id: str) -> None:
        await self._call("/item/remove", "item_remove", {"access_token": access_token}, item_id)

    async def get_webhook_key(self, kid: str) -> dict[str, Any]:
        r = await self._call(
            "/webhook_verification_key/get",
            "webhook_verification_key_get",
            {"key_id": kid},
            None,
        )
        return dict(r["key"])

    # -- plumbing -----------------------------------------------------------------------------------------

    async def _call(
        self, endpoint: str, method: str, body: dict[str, Any], item_id: str | None
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            result = await loop.run_in_executor(self._pool, self._invoke, method, body)
        except plaid.ApiException as exc:
            err = _plaid_error(exc)
            await self._record(endpoint, item_id, exc.status, err, started)
            transient = (
                exc.status == 429 or (exc.status or 500) >= 500 or err.get("error_code") in TRANSIENT_CODES
            )
            fields: dict[str, Any] = (
                {"outcome_unknown": not exc.status or exc.status >= 500} if transient else {}
            )
            kind = PlaidUnavailable if transient else PlaidRequestFailed
            raise kind(
                f"Plaid {endpoint} failed: HTTP {exc.status} {err.get('error_type')}/{err.get('error_code')}",
                **fields,
                endpoint=endpoint,
                status=exc.status,
                error_type=err.get("error_type"),
                error_code=err.get("error_code"),
                request_id=err.get("request_id"),
                display_message=err.get("display_message"),
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            await self._record(
                endpoint, item_id, None, {"error_type": "NETWORK", "error_code": type(exc).__name__}, started
            )
            raise PlaidUnavailable(
                f"Plaid {endpoint} unreachable: {type(exc).__name__}",
                endpoint=endpoint,
                outcome_unknown=not _never_sent(exc),
            ) from None
        except (plaid.ApiTypeError, plaid.ApiValueError, plaid.ApiAttributeError, plaid.ApiKeyError) as exc:
            await self._record(
                endpoint, item_id, None, {"error_type": "SDK", "error_code": type(exc).__name__}, started
            )
            raise PlaidRequestFailed(
                f"Plaid {endpoint}: the SDK refused the request or the response ({type(exc).__name__})",
                endpoint=endpoint,
            ) from None
        await self._record(endpoint, item_id, 200, {"request_id": result.get("request_id")}, started)
        return result

    def _invoke(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        request = REQUESTS[method](**body, _configuration=self._api.api_client.configuration)
        response = getattr(self._api, method)(request, _request_timeout=self._timeout)
        return response.to_dict()  # type: ignore[no-any-return]

    async def _record(
        self, endpoint: str, item_id: str | None, status: int | None, err: dict[str, Any], started: float
    ) -> None:
        call = PlaidCall(
            endpoint=endpoint,
            request_id=err.get("request_id"),
            item_id=item_id,
            http_status=status,
            error_type=err.get("error_type"),
            error_code=err.get("error_code"),
            latency_s=time.perf_counter() - started,
        )
        try:
            await self._audit(call)
        except Exception as exc:  # noqa: BLE001 - the audit must never hide the call's own outcome
            log.warning("plaid call audit failed", endpoint=endpoint, error=type(exc).__name__)


def _never_sent(exc: BaseException) -> bool:
    """True only when no connection to Plaid was made (refused, unresolvable, connect timeout): the request
    certainly never reached it. A read timeout or a connection lost after sending may have been acted on."""
    reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    return isinstance(reason, urllib3.exceptions.ConnectTimeoutError | ConnectionRefusedError)


def _plaid_error(exc: plaid.ApiException) -> dict[str, Any]:
    try:
        body = json.loads(exc.body or "{}")
    except (ValueError, TypeError):
        return {}
    if not isinstance(body, dict):
        return {}
    return {k: body.get(k) for k in ("error_type", "error_code", "request_id", "display_message")}
