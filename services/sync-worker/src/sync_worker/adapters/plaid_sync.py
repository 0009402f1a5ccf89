"""Plaid's /transactions/sync and /transactions/refresh through plaid-python, off the event loop.

plaid-python builds and authenticates the request; the response is taken raw (`_preload_content=False`)
and parsed into our own `SyncPage` models, because the SDK's response-model construction costs several
times more per 500-transaction page than the HTTP round trip (measured in bench/bench_sync_backfill.py,
which holds the SDK-parsing side of that comparison; the numbers are in docs/sync-worker.md).

Every failure leaves this module as a `domain.errors.SyncError` (see `classify`): `plaid.ApiException`
by its status and PlaidError body, urllib3 timeouts and connection errors as `PlaidUnavailable`.
Access tokens are passed in per call and never logged; error messages never contain them.
"""

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import plaid
import urllib3
from plaid.api import plaid_api
from plaid.model.personal_finance_category_version import PersonalFinanceCategoryVersion
from plaid.model.transactions_refresh_request import TransactionsRefreshRequest
from plaid.model.transactions_sync_request import TransactionsSyncRequest
from plaid.model.transactions_sync_request_options import TransactionsSyncRequestOptions

from ..domain.errors import PlaidUnavailable, SyncError, classify

PLAID_HOSTS = {"sandbox": plaid.Environment.Sandbox, "production": plaid.Environment.Production}
PAGE_SIZE = 500  # Plaid's maximum

T = TypeVar("T")


def translate(exc: BaseException) -> SyncError:
    """A plaid-python or urllib3 failure as our error; the message never carries the request body."""
    if isinstance(exc, plaid.ApiException):
        error_type = error_code = message = ""
        try:
            body = json.loads(exc.body or b"{}")
            error_type = str(body.get("error_type") or "")
            error_code = str(body.get("error_code") or "")
            message = str(body.get("error_message") or "")[:300]
        except (ValueError, AttributeError):
            pass
        status = int(exc.status or 0)
        if status == 0:
            return PlaidUnavailable("CONNECTION_ERROR", "NETWORK", str(exc.reason)[:200])
        return classify(status, error_type, error_code, message)
    if isinstance(exc, urllib3.exceptions.TimeoutError | urllib3.exceptions.ReadTimeoutError):
        return PlaidUnavailable("TIMEOUT", "NETWORK", type(exc).__name__)
    return PlaidUnavailable("CONNECTION_ERROR", "NETWORK", type(exc).__name__)


class PlaidSyncClient:
    def __init__(
        self,
        *,
        host: str,
        client_id: str,
        secret: str,
        timeout_seconds: float = 30.0,
        max_threads: int = 8,
        initial_days_requested: int = 730,
    ) -> None:
        config = plaid.Configuration(host=host, api_key={"clientId": client_id, "secret": secret})
        config.connection_pool_maxsize = max_threads
        self._api = plaid_api.PlaidApi(plaid.ApiClient(config))
        self._timeout = timeout_seconds
        self._executor = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="plaid")
        common: dict[str, Any] = {
            "include_original_description": True,
            "personal_finance_category_version": PersonalFinanceCategoryVersion("v2"),
        }
        self.options = TransactionsSyncRequestOptions(**common)
        # the first call (no cursor) asks for the whole history window; Plaid ignores it once the
        # Item's transactions are initialised (Link's transactions.days_requested then decides)
        self.first_options = TransactionsSyncRequestOptions(**common, days_requested=initial_days_requested)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._api.api_client.close()

    async def sync_page_raw(self, access_token: str, cursor: str, count: int = PAGE_SIZE) -> bytes:
        """One /transactions/sync call from `cursor` ('' = from the beginning), its body unparsed (see
        domain.plaid_page.parse_page)."""
        return await self._call(lambda: self.sync_raw(access_token, cursor, count))

    async def refresh(self, access_token: str) -> None:
        """Ask Plaid to look for new transactions now (the answer arrives as a webhook)."""
        request = TransactionsRefreshRequest(access_token=access_token)
        await self._call(lambda: self._api.transactions_refresh(request, _request_timeout=self._timeout))

    def sync_raw(self, access_token: str, cursor: str, count: int = PAGE_SIZE) -> bytes:
        """The response body as bytes (blocking; the benchmark measures parsing on it)."""
        response = self._api.transactions_sync(
            self._request(access_token, cursor, count),
            _preload_content=False,
            _request_timeout=self._timeout,
        )
        try:
            return bytes(response.data)
        finally:
            response.release_conn()

    def _request(self, access_token: str, cursor: str, count: int) -> TransactionsSyncRequest:
        kwargs: dict[str, Any] = {"access_token": access_token, "count": count, "options": self.first_options}
        if cursor:
            kwargs["cursor"], kwargs["options"] = cursor, self.options
        return TransactionsSyncRequest(**kwargs)

    async def _call(self, blocking: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, blocking)
        except (plaid.ApiException, urllib3.exceptions.HTTPError) as exc:
            raise translate(exc) from exc
