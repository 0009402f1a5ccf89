"""Where an Item's access token comes from: link-svc's vault, asked over authenticated internal HTTP.

Access tokens never cross Kafka. `TokenProvider` is the port; `HttpTokenProvider` asks

    POST {link_svc_url}/internal/v1/items/{item_id}/access-token
    Authorization: Bearer <service token with scope vault:read>
    -> 200 {"access_token": "..."}  |  404 (unknown Item)  |  410 (removed Item)

A 404 or 410 becomes `ItemUnknown` (the Item stops syncing); anything else that fails (connection,
timeout, 5xx, 401/403) becomes `TokenProviderUnavailable`, retried like any transient error. The token
is held only for the run and is never logged; `repr` of a provider shows no secret.
"""

from typing import Protocol
from urllib.parse import quote

import httpx

from ..domain.errors import ItemUnknown, TokenProviderUnavailable


class TokenProvider(Protocol):
    async def access_token(self, item_id: str) -> str:
        """The Item's Plaid access token; raises ItemUnknown or TokenProviderUnavailable."""
        ...

    async def aclose(self) -> None: ...


class HttpTokenProvider:
    def __init__(
        self,
        base_url: str,
        service_token: str,
        *,
        timeout_seconds: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {service_token}"},
            timeout=timeout_seconds,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"HttpTokenProvider(base_url={str(self._client.base_url)!r})"

    async def access_token(self, item_id: str) -> str:
        try:
            response = await self._client.post(f"/internal/v1/items/{quote(item_id, safe='')}/access-token")
        except httpx.HTTPError as exc:
            raise TokenProviderUnavailable(
                "LINK_SVC_UNREACHABLE", "TOKEN_PROVIDER", type(exc).__name__
            ) from None
        if response.status_code == 404:
            raise ItemUnknown(
                "ACCESS_TOKEN_NOT_FOUND", "TOKEN_PROVIDER", "link-svc has no token for the Item"
            )
        if response.status_code == 410:
            raise ItemUnknown("ITEM_REMOVED", "TOKEN_PROVIDER", "link-svc says the Item was removed")
        if response.status_code != 200:
            raise TokenProviderUnavailable(
                f"LINK_SVC_HTTP_{response.status_code}", "TOKEN_PROVIDER", "link-svc refused or failed"
            )
        try:
            token = response.json()["access_token"]
        except (ValueError, KeyError, TypeError):
            raise TokenProviderUnavailable(
                "LINK_SVC_BAD_ANSWER", "TOKEN_PROVIDER", "no access_token"
            ) from None
        if not isinstance(token, str) or not token:
            raise TokenProviderUnavailable("LINK_SVC_BAD_ANSWER", "TOKEN_PROVIDER", "empty access_token")
        return token

    async def aclose(self) -> None:
        await self._client.aclose()
