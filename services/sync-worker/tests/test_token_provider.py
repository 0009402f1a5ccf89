"""The TokenProvider contract, run against the HTTP adapter (talking to a stand-in of link-svc's documented
internal API over real HTTP semantics) and against the tests' own provider: same answers, same errors."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Header, HTTPException
from sync_worker.adapters.token_provider import HttpTokenProvider, TokenProvider
from sync_worker.domain.errors import ItemUnknown, TokenProviderUnavailable

from .harness import EmulatorTokens

SERVICE_TOKEN = "svc-token-with-vault-read-5e1f"
TOKENS = {"item-1": "access-sandbox-8c1e2d4f-0000-4000-8000-000000000001"}
REMOVED = {"item-gone"}


def link_svc_stand_in(*, broken: bool = False) -> FastAPI:
    """POST /internal/v1/items/{item_id}/access-token as link-svc documents it (ADR 0001)."""
    app = FastAPI()

    @app.post("/internal/v1/items/{item_id}/access-token")
    async def access_token(item_id: str, authorization: str = Header("")) -> dict[str, str]:
        if broken:
            raise HTTPException(503, "vault sealed")
        if authorization != f"Bearer {SERVICE_TOKEN}":
            raise HTTPException(401, "missing or wrong service token")
        if item_id in REMOVED:
            raise HTTPException(410, "the Item was removed")
        if item_id not in TOKENS:
            raise HTTPException(404, "unknown item")
        return {"access_token": TOKENS[item_id]}

    return app


@pytest.fixture(params=["http", "test"])
async def provider(request: pytest.FixtureRequest) -> AsyncIterator[TokenProvider]:
    if request.param == "http":
        p: TokenProvider = HttpTokenProvider(
            "http://link-svc", SERVICE_TOKEN, transport=httpx.ASGITransport(app=link_svc_stand_in())
        )
    else:
        p = EmulatorTokens(TOKENS)
    yield p
    await p.aclose()


async def test_a_known_item_gets_its_token(provider: TokenProvider) -> None:
    assert await provider.access_token("item-1") == TOKENS["item-1"]


async def test_an_unknown_item_is_item_unknown(provider: TokenProvider) -> None:
    with pytest.raises(ItemUnknown) as caught:
        await provider.access_token("item-404")
    assert caught.value.error_code == "ACCESS_TOKEN_NOT_FOUND"


async def test_a_removed_item_is_item_unknown_not_a_transient_failure() -> None:
    provider = HttpTokenProvider(
        "http://link-svc", SERVICE_TOKEN, transport=httpx.ASGITransport(app=link_svc_stand_in())
    )
    try:
        with pytest.raises(ItemUnknown) as caught:
            await provider.access_token("item-gone")
    finally:
        await provider.aclose()
    assert caught.value.error_code == "ITEM_REMOVED"


@pytest.mark.parametrize(
    ("token", "broken", "code"),
    [("wrong", False, "LINK_SVC_HTTP_401"), (SERVICE_TOKEN, True, "LINK_SVC_HTTP_503")],
)
async def test_link_svc_refusing_or_failing_is_retryable_and_never_shows_a_token(
    token: str, broken: bool, code: str
) -> None:
    provider = HttpTokenProvider(
        "http://link-svc", token, transport=httpx.ASGITransport(app=link_svc_stand_in(broken=broken))
    )
    with pytest.raises(TokenProviderUnavailable) as caught:
        await provider.access_token("item-1")
    assert caught.value.retryable and caught.value.error_code == code
    assert token not in repr(provider) and token not in str(caught.value)
    await provider.aclose()


async def test_link_svc_unreachable_is_retryable() -> None:
    provider = HttpTokenProvider("http://127.0.0.1:9", SERVICE_TOKEN, timeout_seconds=1)
    with pytest.raises(TokenProviderUnavailable) as caught:
        await provider.access_token("item-1")
    assert caught.value.error_code == "LINK_SVC_UNREACHABLE"
    await provider.aclose()
